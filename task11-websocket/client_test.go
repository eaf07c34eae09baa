package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"gracefulshutdown.lab/labtest"
)

// This file holds the tests' WebSocket clients: real gorilla/websocket
// clients over real TCP connections, each behaving like one kind of client
// a server meets in production.

// program is what the tests talk to: a process (*labtest.Program), or run
// called in-process (inProcess). Its transcript goes in failure messages.
type program interface{ Transcript() string }

// inProcess is run called in-process, seen through its log.
type inProcess struct{ log *labtest.EventLog }

func (p inProcess) Transcript() string { return p.log.Text() }

// dialWS opens a WebSocket to the program's /ws at addr. The test fails if
// the upgrade does not succeed; the connection is closed when the test
// ends.
func dialWS(t testing.TB, p program, addr string) *websocket.Conn {
	t.Helper()
	conn, err := tryDialWS(addr, nil)
	if err != nil {
		t.Fatalf("opening a WebSocket to ws://%s/ws failed: %v; want a successful upgrade before any signal.%s\n%s",
			addr, err, trouble(p), p.Transcript())
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// tryDialWS opens a WebSocket to addr's /ws. netDialer, when not nil, is
// the dialer of its TCP connection. A refused upgrade is an error that
// says the HTTP status.
func tryDialWS(addr string, netDialer *net.Dialer) (*websocket.Conn, error) {
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	if netDialer != nil {
		d.NetDialContext = netDialer.DialContext
	}
	conn, resp, err := d.Dial("ws://"+addr+"/ws", nil)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil && resp != nil {
		return nil, &refusedError{status: resp.StatusCode, err: err}
	}
	return conn, err
}

// refusedError is an upgrade the server answered with an HTTP status
// instead of 101 Switching Protocols.
type refusedError struct {
	status int
	err    error
}

func (e *refusedError) Error() string {
	return fmt.Sprintf("%v (HTTP %d %s)", e.err, e.status, http.StatusText(e.status))
}

// dialAll opens n WebSockets at once, as n browsers would, so that the
// program's handlers register them concurrently.
func dialAll(t *testing.T, p program, addr string, n int) []*websocket.Conn {
	t.Helper()
	conns := make([]*websocket.Conn, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { conns[i], errs[i] = tryDialWS(addr, nil) })
	}
	wg.Wait()
	for _, c := range conns {
		if c != nil {
			t.Cleanup(func() { c.Close() })
		}
	}
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("opening %d WebSockets at once failed: %v; want every upgrade to succeed before any signal.%s\n%s",
			n, err, trouble(p), p.Transcript())
	}
	return conns
}

// echo sends msg and waits for the server to echo it back, skipping the
// pushes. It proves the connection is served, end to end.
func echo(conn *websocket.Conn, msg string, within time.Duration) error {
	if err := conn.SetWriteDeadline(time.Now().Add(within)); err != nil {
		return err
	}
	if err := conn.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
		return fmt.Errorf("sending %q: %w", msg, err)
	}
	if err := conn.SetReadDeadline(time.Now().Add(within)); err != nil {
		return err
	}
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			return fmt.Errorf("waiting for the echo of %q: %w", msg, err)
		}
		if string(data) == msg {
			return conn.SetReadDeadline(time.Time{})
		}
	}
}

// never is an answer delay for a client that never answers a close frame.
const never time.Duration = -1

// ending is how one client's connection ended, as the client saw it.
type ending struct {
	code    int       // the server's close frame's status code; 0 if none came
	readErr error     // what ended the reading instead of a close frame
	frameAt time.Time // when the close frame (or readErr) came

	hungUpEarly error     // the server closed the TCP connection before the client answered
	answeredAt  time.Time // when the client answered the close frame; zero if it never did

	closedAt time.Time // when the server closed the TCP connection (a clean EOF)
	closeErr error     // what the client saw instead of a clean EOF
}

// await reads conn, skipping echoes and pushes, until the server's close
// frame comes or within passes. Then the client answers with a close frame
// of its own, after answer (never: it stays silent), and reads the TCP
// connection until the server closes it.
func await(conn *websocket.Conn, answer, within time.Duration) ending {
	var e ending
	// gorilla's default close handler answers at once; this client answers
	// when it chooses to, or never.
	conn.SetCloseHandler(func(int, string) error { return nil })
	_ = conn.SetReadDeadline(time.Now().Add(within))
	for {
		_, _, err := conn.ReadMessage()
		if err == nil {
			continue // an echo or a push
		}
		e.frameAt = time.Now()
		// gorilla reports a connection that ended without a close frame as
		// a CloseError too, with code 1006, which never travels on the wire.
		var ce *websocket.CloseError
		if errors.As(err, &ce) && ce.Code != websocket.CloseAbnormalClosure {
			e.code = ce.Code
			break
		}
		e.readErr = err
		return e
	}

	// The close frame is the last thing the server sends: from here on the
	// raw TCP connection is read, for the moment the server closes it.
	raw := conn.NetConn()
	buf := make([]byte, 512)
	if answer != never {
		if answer > 0 {
			// The client is busy for a moment before it answers, as a
			// browser tab can be. The server must wait for the answer.
			_ = raw.SetReadDeadline(time.Now().Add(answer))
			n, err := raw.Read(buf)
			if !isTimeout(err) {
				e.hungUpEarly = describeEnd(n, err)
				return e
			}
		}
		e.answeredAt = time.Now()
		// An answer echoes the status code it answers, as RFC 6455 asks.
		_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(e.code, ""), time.Now().Add(time.Second))
	}
	_ = raw.SetReadDeadline(time.Now().Add(within))
	n, err := raw.Read(buf)
	e.closedAt = time.Now()
	if n > 0 || err != io.EOF {
		e.closeErr = describeEnd(n, err)
	}
	return e
}

// awaitAll runs await on every connection at once and returns the endings
// in the same order.
func awaitAll(conns []*websocket.Conn, answer, within time.Duration) []ending {
	endings := make([]ending, len(conns))
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() { endings[i] = await(c, answer, within) })
	}
	wg.Wait()
	return endings
}

// describeEnd says what a read on the raw connection returned, when that
// was not what the test wanted.
func describeEnd(n int, err error) error {
	switch {
	case n > 0:
		return fmt.Errorf("%d more bytes after the close frame (RFC 6455: nothing may follow it)", n)
	case err == io.EOF:
		return errors.New("EOF (the server closed the TCP connection)")
	case errors.Is(err, syscall.ECONNRESET):
		return fmt.Errorf("%w (the server reset the connection)", err)
	case isTimeout(err):
		return fmt.Errorf("%w (the server neither closed the connection nor sent anything)", err)
	default:
		return err
	}
}

// String describes how the connection ended, for failure messages, with
// times counted from since.
func (e ending) describe(since time.Time) string {
	at := func(t time.Time) string { return t.Sub(since).Round(time.Millisecond).String() }
	if e.code == 0 {
		return fmt.Sprintf("no close frame; reading ended after %s with %v%s", at(e.frameAt), e.readErr, explainReadErr(e.readErr))
	}
	s := fmt.Sprintf("close frame %d after %s", e.code, at(e.frameAt))
	switch {
	case e.hungUpEarly != nil:
		return s + fmt.Sprintf(", then, before the client answered: %v", e.hungUpEarly)
	case !e.answeredAt.IsZero():
		s += fmt.Sprintf(", answered after %s", at(e.answeredAt))
	}
	if e.closeErr != nil {
		return s + fmt.Sprintf(", then after %s: %v", at(e.closedAt), e.closeErr)
	}
	return s + fmt.Sprintf(", TCP closed by the server after %s", at(e.closedAt))
}

// explainReadErr says what a client-side read error means for the server.
func explainReadErr(err error) string {
	var ce *websocket.CloseError
	switch {
	case errors.As(err, &ce) && ce.Code == websocket.CloseAbnormalClosure:
		return " (1006: the connection ended without a close frame; the process exited, or closed it with Close alone)"
	case errors.Is(err, syscall.ECONNRESET):
		return " (the connection was reset: the process exited, or closed it, with data unread)"
	case isTimeout(err):
		return " (the test gave up waiting: no close frame ever came)"
	default:
		return ""
	}
}

// isTimeout reports whether err is a deadline that passed. (gorilla copies a
// timeout into an error of its own, which errors.Is does not see through.)
// trouble points at what the program's output says went wrong beyond the
// test's own check: a data race, two writers on one WebSocket, a map used
// without its lock. It is "" when there is nothing of the kind.
func trouble(p program) string {
	out := p.Transcript()
	switch {
	case strings.Contains(out, "concurrent map"):
		return "\nThe program crashed: two goroutines used the registry's map at once (see \"fatal error\" below). " +
			"Every handler adds and removes on a goroutine of its own: guard the map with the mutex, everywhere."
	case strings.Contains(out, "concurrent write to websocket connection"):
		return "\nTwo goroutines wrote to one WebSocket at once (see the panic below). gorilla allows one writer at a " +
			"time; only WriteControl and Close may be called alongside it: send the close frame with WriteControl."
	case strings.Contains(out, "WARNING: DATA RACE"):
		return "\nThe race detector found a data race (see WARNING: DATA RACE below): two goroutines used the same memory " +
			"without a lock. On a WebSocket, only WriteControl and Close may be called alongside its writer; the registry " +
			"needs its mutex for every use."
	}
	return ""
}

// describeDial says how a new TCP connection went.
func describeDial(err error) string {
	if err == nil {
		return "accepted"
	}
	return err.Error()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// stalledClient is a WebSocket whose client has stopped reading (a dead
// network, a frozen tab, a client too slow to keep up) and whose server is
// stuck writing to it.
type stalledClient struct {
	*websocket.Conn
	stop    chan struct{} // closed: send no more messages
	flooded chan struct{} // closed once the flooding goroutine has ended
	why     error         // why the flood ended early; read after flooded is closed
}

// stopFlooding sends no more messages once the one on its way has gone.
// A client that stays stalled calls it at once: flooding on would only
// keep the server busy, if its writes were not stuck after all. One that
// will read again floods until then, so that the server's writes to it
// are stuck for sure, and calls it before it reads.
func (c *stalledClient) stopFlooding() { close(c.stop) }

// stall opens a WebSocket whose client stops reading and floods the server
// with messages to echo, until the server's writes to it block. Its buffers
// and segments are made small, so that the kernel keeps the server's
// buffers small too, and a few hundred kilobytes fill the pipe. It returns
// once the client's own writes have stopped moving, which means the server
// has stopped reading: its echo is stuck writing, and holds the
// connection's writer. The client's writes have no deadline, so that the
// connection stays whole (a write cut off by its deadline would leave half
// a frame on the wire): a client that reads again is served as before, and
// can answer a close frame. The flood goes on until stopFlooding. It may be called from any goroutine; the connection is closed
// when the test ends.
func stall(t *testing.T, addr string) (*stalledClient, error) {
	small := &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var err error
		cerr := c.Control(func(fd uintptr) {
			err = errors.Join(
				syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096),
				syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, 4096),
				// The segment size the server may send: its send buffer
				// grows in proportion to it.
				syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_MAXSEG, 536))
		})
		return errors.Join(cerr, err)
	}}
	conn, err := tryDialWS(addr, small)
	if err != nil {
		return nil, fmt.Errorf("opening a WebSocket to ws://%s/ws failed: %w; want a successful upgrade before any signal", addr, err)
	}
	c := &stalledClient{Conn: conn, stop: make(chan struct{}), flooded: make(chan struct{})}
	moved := make(chan struct{}, 1) // a message has gone out
	go func() {
		defer close(c.flooded)
		msg := make([]byte, 32<<10)
		for sent := 0; ; sent += len(msg) {
			select {
			case <-c.stop:
				return
			default:
			}
			if sent >= 64<<20 {
				c.why = errors.New("the server read 64 MiB from a client that reads nothing; want its echo to block once the client's buffers are full")
				return
			}
			if err := conn.WriteMessage(websocket.BinaryMessage, msg); err != nil {
				c.why = fmt.Errorf("flooding a WebSocket with messages to echo failed after %d bytes: %w", sent, err)
				return
			}
			select {
			case moved <- struct{}{}:
			default:
			}
		}
	}()
	// Closing the connection ends a write that is stuck, and the flood.
	t.Cleanup(func() { conn.Close(); <-c.flooded })

	// Stuck: no message has gone out for a while.
	for {
		select {
		case <-moved:
		case <-c.flooded:
			return nil, c.why
		case <-time.After(300 * time.Millisecond):
			return c, nil
		}
	}
}
