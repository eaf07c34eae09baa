package labtest

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"time"
)

// Response is what a client got back: a status and body, or the error that
// cut the exchange short.
type Response struct {
	Status  int
	Header  http.Header
	Body    string
	Err     error
	Elapsed time.Duration
}

// String describes the response for a failure message.
func (r Response) String() string {
	if r.Err != nil {
		return fmt.Sprintf("no response after %v: %v%s", r.Elapsed.Round(time.Millisecond), r.Err, explainErr(r.Err))
	}
	return fmt.Sprintf("%d %q after %v", r.Status, r.Body, r.Elapsed.Round(time.Millisecond))
}

// explainErr turns a client-side error into what it says about the server.
func explainErr(err error) string {
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET):
		return " (the server closed the connection mid-request: the process exited or the connection was closed before the handler finished)"
	case errors.Is(err, syscall.ECONNREFUSED):
		return " (nothing was listening: the listener was already closed)"
	default:
		return ""
	}
}

// Get sends GET url on a fresh connection and delivers the response on the
// returned channel, so a test can signal the program while it is in flight.
// The client gives up after within, so no test waits forever.
func Get(url string, within time.Duration) <-chan Response {
	return Do(mustRequest(http.MethodGet, url), within)
}

// Do sends req on a fresh connection, like Get.
func Do(req *http.Request, within time.Duration) <-chan Response {
	ch := make(chan Response, 1)
	go func() {
		// A transport of its own with no idle pool: nothing outlives the
		// request, so goleak sees no client goroutines left behind.
		client := &http.Client{Timeout: within, Transport: &http.Transport{DisableKeepAlives: true}}
		start := time.Now()
		resp, err := client.Do(req)
		r := Response{Err: err}
		if err == nil {
			body, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			r = Response{Status: resp.StatusCode, Header: resp.Header, Body: string(body), Err: rerr}
		}
		r.Elapsed = time.Since(start)
		ch <- r
	}()
	return ch
}

func mustRequest(method, url string) *http.Request {
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		panic(err)
	}
	return req
}

// Dial reports the error of a new TCP connection to addr: nil if the
// program accepted it, ECONNREFUSED if nothing was listening.
func Dial(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err == nil {
		c.Close()
	}
	return err
}

// Refused reports whether err is a refused connection.
func Refused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }
