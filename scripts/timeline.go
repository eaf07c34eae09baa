package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"gracefulshutdown.lab/scripts/internal/events"
	"gracefulshutdown.lab/scripts/internal/timeline"
	"gracefulshutdown.lab/scripts/internal/workspace"
)

// Bounds on a demo, so that a program that never listens or never exits
// ends the demo with a message rather than a hang.
const (
	demoStartBound = 30 * time.Second
	demoExitBound  = 2 * time.Minute
)

// timelineTask plays task n's demo scenario (task.toml's [demo]) against
// its program, or its reference, and draws the shutdown: on the terminal,
// and as SVG in svgPath if one is given.
func timelineTask(ctx context.Context, ws *workspace.Workspace, n int, opts runOptions, svgPath string, w, stderr io.Writer) error {
	t, bin, _, err := buildTask(ctx, ws, n, opts.solution, stderr)
	if err != nil {
		return err
	}
	demo := t.Meta.Demo
	args := append([]string{"-log-format", "json", "-addr", "127.0.0.1:0"}, demo.Flags...)
	args = append(args, opts.flags...)
	fmt.Fprintf(stderr, "lab: playing the demo: %s, then %s %v later SIGTERM\n", bin+" "+strings.Join(args, " "), strings.Join(demo.Requests, " and "), demo.SignalAfter)

	cmd := exec.Command(bin, args...)
	logs, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	var waitErr error
	rec := &recorder{listening: make(chan string, 1)}
	go func() {
		rec.read(logs)
		waitErr = cmd.Wait()
		close(exited)
	}()
	defer func() {
		select {
		case <-exited:
		default:
			_ = cmd.Process.Kill()
			<-exited
		}
	}()

	var addr string
	select {
	case addr = <-rec.listening:
	case <-exited:
		return fmt.Errorf("the program exited before it listened:\n%s", rec.text())
	case <-time.After(demoStartBound):
		return fmt.Errorf("the program did not log \"listening\" within %v", demoStartBound)
	case <-ctx.Done():
		return ctx.Err()
	}

	results := make([]timeline.RequestResult, len(demo.Requests))
	var clients sync.WaitGroup
	signalled := make(chan struct{})
	for i, r := range demo.Requests {
		spec, after, later := strings.Cut(r, " @")
		clients.Go(func() {
			if later {
				// Part of the scenario: this one is sent during the
				// shutdown, that long after the signal.
				d, _ := time.ParseDuration(after)
				<-signalled
				time.Sleep(d)
			}
			results[i] = request(addr, rec.adminAddr, spec)
		})
	}
	// The scenario, not a synchronisation: the requests are in flight
	// for this long when the signal comes.
	time.Sleep(demo.SignalAfter)
	signal := time.Now()
	err = cmd.Process.Signal(syscall.SIGTERM)
	close(signalled)
	if err != nil {
		clients.Wait()
		return fmt.Errorf("the program exited before the signal:\n%s", rec.text())
	}
	select {
	case <-exited:
	case <-time.After(demoExitBound):
		_ = cmd.Process.Kill()
		<-exited
		fmt.Fprintf(stderr, "lab: the program was still running %v after SIGTERM and was killed\n", demoExitBound)
	case <-ctx.Done():
		return ctx.Err()
	}
	exit := time.Now()
	clients.Wait()

	code := exitCode(waitErr)
	title := fmt.Sprintf("Task %d, %s: the shutdown, SIGTERM at 0", t.Number, t.Title)
	pic := timeline.Build(title, rec.events(), results, signal, exit, code)
	sty := styleFor(os.Stdout)
	if f, ok := w.(*os.File); !ok || f != os.Stdout {
		sty = style{}
	}
	fmt.Fprintln(w)
	pic.Text(w, timeline.Colours{Bad: sty.red, Good: sty.green, Dim: sty.dim})
	fmt.Fprintf(w, "\nexit code %d: %s\n", code, exitMeaning(code))
	if svgPath != "" {
		f, err := os.Create(svgPath)
		if err != nil {
			return err
		}
		if err := pic.SVG(f); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		fmt.Fprintf(w, "picture written to %s\n", svgPath)
	}
	return nil
}

// request sends one of the demo's requests ("POST /events", "/",
// "admin:/admin/prestop", "WS /ws") and says what came back. admin gives
// the admin listener's address once the program has logged it.
func request(addr string, admin func() string, spec string) timeline.RequestResult {
	method, path, ok := strings.Cut(spec, " ")
	if !ok {
		method, path = http.MethodGet, spec
	}
	if rest, ok := strings.CutPrefix(path, "admin:"); ok {
		addr, path = admin(), rest
	}
	if method == "WS" {
		return websocketDemo(addr, path)
	}
	r := timeline.RequestResult{Label: method + " " + path, Sent: time.Now()}
	client := &http.Client{Timeout: demoExitBound, Transport: &http.Transport{DisableKeepAlives: true}}
	// A body only where the method carries one: the server watches a
	// connection for the client going away only once the body is read, so
	// a GET with an unread body would not behave like a GET.
	var body io.Reader
	if method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch {
		body = strings.NewReader("demo")
	}
	req, err := http.NewRequest(method, "http://"+addr+path, body)
	var resp *http.Response
	if err == nil {
		resp, err = client.Do(req)
	}
	if err == nil {
		body, rerr := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		err = rerr
		// A one-line answer as it is ("200 hello"); a longer one (a
		// scrape) by its size.
		text := strings.TrimSpace(string(body))
		r.Outcome = strings.TrimSpace(fmt.Sprintf("%d %s", resp.StatusCode, text))
		if n := strings.Count(text, "\n"); n > 0 || len(text) > 60 {
			r.Outcome = fmt.Sprintf("%d, %d lines", resp.StatusCode, n+1)
		}
		r.Failed = resp.StatusCode >= 500
	}
	if err != nil {
		r.Outcome, r.Failed = "cut: "+errorTail(err), true
	}
	r.Done = time.Now()
	return r
}

// errorTail is the part of a client error that says what happened (EOF,
// connection reset), without the URL.
func errorTail(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		return s[i+2:]
	}
	return s
}

// recorder keeps a program's events as they arrive and hands over the
// address of its public listener.
type recorder struct {
	listening chan string
	mu        sync.Mutex
	evs       []events.Event
	lines     []string
}

// adminAddr is the address of the program's admin listener, if it has
// logged one.
func (r *recorder) adminAddr() string {
	for _, ev := range r.events() {
		if ev.Msg == "listening" && ev.Get("server") == "admin" {
			return ev.Get("addr")
		}
	}
	return ""
}

func (r *recorder) read(rd io.Reader) {
	sc := bufio.NewScanner(rd)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	sent := false
	for sc.Scan() {
		ev, ok := events.Parse(sc.Text())
		r.mu.Lock()
		r.lines = append(r.lines, sc.Text())
		if ok {
			r.evs = append(r.evs, ev)
		}
		r.mu.Unlock()
		// The public listener: the one not named admin.
		if ok && ev.Msg == "listening" && ev.Get("server") != "admin" && !sent {
			r.listening <- ev.Get("addr")
			sent = true
		}
	}
}

func (r *recorder) events() []events.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]events.Event(nil), r.evs...)
}

func (r *recorder) text() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.lines, "\n")
}
