package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// runProgramEnv tells a copy of this test binary to be the program instead
// of running the tests.
const runProgramEnv = "TASK10_RUN_PROGRAM"

// TestMain decides what this process is. go test compiles main.go and the
// tests into one binary; run plainly, it runs the tests. A test that needs
// the program starts that same binary again with runProgramEnv set, and
// then it is the program: main parses the command line and serves. The
// program under test is therefore exactly the code go test compiled, with
// -race, -cover and -overlay if they were given, and no toolchain runs
// inside a test.
func TestMain(m *testing.M) {
	if os.Getenv(runProgramEnv) == "1" {
		main()
		os.Exit(0) // not reached: main ends the process with its exit code
	}
	// Like os.Exit(m.Run()), and then fails the run if a test left a
	// goroutine behind (a client, a reader of the program's log).
	goleak.VerifyTestMain(m)
}

// The scenario of the task sheet: a 2-second request, SIGTERM 200 ms into
// it, and the process gone within 5 seconds of the signal.
const (
	requestDelay = 2 * time.Second
	signalAfter  = 200 * time.Millisecond
	exitBound    = 5 * time.Second
	// startBound is how long start-up may take. A healthy program logs
	// "listening" within milliseconds; the margin is for -race and a busy
	// machine, and only a broken program ever uses it up.
	startBound = 10 * time.Second
)

// TestGracefulShutdown: a request in flight when SIGTERM arrives still gets
// its 200, and the process then exits 0 within the bound.
func TestGracefulShutdown(t *testing.T) {
	p := startProgram(t, "-addr", "127.0.0.1:0", "-delay", requestDelay.String(), "-log-format", "json")

	// Port 0 lets the kernel pick a free port, so this test never collides
	// with another program or with itself; the program says which one.
	addr := p.waitFor(t, "listening", startBound).Addr
	if addr == "" {
		t.Fatalf("the \"listening\" event has no addr; want the address the program bound.\n%s", p.transcript())
	}

	resp := get("http://"+addr+"/", requestDelay+exitBound)
	p.waitFor(t, "request started", startBound)
	// This sleep is the scenario, not a synchronisation: the sheet sends
	// SIGTERM 200 ms into the request. That the request is in flight is
	// already known from the event above.
	time.Sleep(signalAfter)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("cannot send SIGTERM: %v; the program exited before the signal.\n%s", err, p.transcript())
	}

	// One deadline for the whole shutdown: the response and the exit must
	// both come within exitBound of the signal. Every wait below is a
	// select with it, so a program that hangs fails the test instead of
	// hanging it.
	deadline := time.NewTimer(exitBound)
	defer deadline.Stop()

	select {
	case r := <-resp:
		switch {
		case r.err != nil || r.status != http.StatusOK:
			t.Fatalf("the request in flight when SIGTERM arrived got %v; want 200 \"hello\\n\".\n"+
				"The program must catch SIGTERM and let the request finish before it exits.\n%s", r, p.transcript())
		case r.body != "hello\n":
			// A 200 alone proves little: a handler that gives up when the
			// shutdown starts answers 200 with nothing in it.
			t.Fatalf("the request in flight when SIGTERM arrived got %v; want 200 \"hello\\n\".\n"+
				"The status is right but the body is not: the handler stopped its work when the shutdown started; "+
				"a graceful shutdown lets it finish.\n%s", r, p.transcript())
		}
	case <-deadline.C:
		t.Fatalf("the request in flight got no response within %v of SIGTERM; want 200 \"hello\\n\" after about %v.\n%s",
			exitBound, requestDelay-signalAfter, p.transcript())
	}

	select {
	case <-p.exited:
		if code := exitCode(p.err); code != 0 {
			t.Fatalf("the program ended with %s after answering the request in flight; want exit code 0, "+
				"which is how an orchestrator tells a clean shutdown from a failed one.\n%s", describeExit(p.err), p.transcript())
		}
	case <-deadline.C:
		t.Fatalf("the program was still running %v after SIGTERM, although its last request had finished; want it to exit.\n%s",
			exitBound, p.transcript())
	}
}

// program is the task's program, running as a child process.
type program struct {
	cmd    *exec.Cmd
	events chan event    // what it logs, in order; closed when its stderr ends
	exited chan struct{} // closed once it has exited; err is then set
	err    error         // from cmd.Wait

	mu  sync.Mutex
	log strings.Builder // every line of its stderr, for failure messages
}

// event is the part of a JSON log line that this test reads.
type event struct {
	Msg  string `json:"msg"`
	Addr string `json:"addr"`
}

// startProgram starts this test binary again as the program, with args as
// its command line, and kills it when the test ends if it is still running.
func startProgram(t *testing.T, args ...string) *program {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatalf("cannot find the test binary: %v", err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), runProgramEnv+"=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatalf("stderr pipe: %v", err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("cannot start the program: %v", err)
	}
	p := &program{cmd: cmd, events: make(chan event, 64), exited: make(chan struct{})}
	go func() {
		p.read(stderr)
		// Wait closes the pipe, so it must come after the last read.
		p.err = cmd.Wait()
		close(p.exited)
	}()
	// Whatever happens to the test, pass or fail, nothing is left running.
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // an error only means it has exited already
		for range p.events {
			// Unread events would hold up the reader, and so the exit.
		}
		<-p.exited
	})
	return p
}

// read collects the program's stderr until it closes, and passes each JSON
// event on. Other lines (a panic, a race report) only go to the transcript.
func (p *program) read(r io.Reader) {
	defer close(p.events)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		p.mu.Lock()
		p.log.WriteString(line + "\n")
		p.mu.Unlock()
		var ev event
		if json.Unmarshal([]byte(line), &ev) != nil || ev.Msg == "" {
			continue
		}
		p.events <- ev
	}
}

// waitFor returns the next event with message msg, and fails the test if
// the program exits or within passes first.
func (p *program) waitFor(t *testing.T, msg string, within time.Duration) event {
	t.Helper()
	timeout := time.After(within)
	for {
		select {
		case ev, ok := <-p.events:
			if !ok {
				t.Fatalf("the program exited without logging %q.\n%s", msg, p.transcript())
			}
			if ev.Msg == msg {
				return ev
			}
		case <-timeout:
			t.Fatalf("the program did not log %q within %v.\n%s", msg, within, p.transcript())
		}
	}
}

// transcript is what the program logged and how it ended, for a failure
// message.
func (p *program) transcript() string {
	// A program that is dying (killed by the signal, say) is reaped a
	// moment after its connections close; give it that moment, so that the
	// transcript can say how it ended.
	status := "still running"
	select {
	case <-p.exited:
		status = "exited with " + describeExit(p.err)
	case <-time.After(500 * time.Millisecond):
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return fmt.Sprintf("--- the program's log ---\n%s--- %s ---", p.log.String(), status)
}

// exitCode is the program's exit code, or -1 if a signal killed it.
func exitCode(err error) int {
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exitErr):
		return exitErr.ExitCode()
	default:
		return -1
	}
}

// describeExit says how the program ended, in words.
func describeExit(err error) string {
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return fmt.Sprintf("no exit code: killed by a signal (%v)", ws.Signal())
		}
	}
	return fmt.Sprintf("exit code %d", exitCode(err))
}

// response is what the client got: a status and body, or the error that cut
// the exchange short.
type response struct {
	status int
	body   string
	err    error
}

func (r response) String() string {
	if r.err != nil {
		return "no response: " + r.err.Error()
	}
	return fmt.Sprintf("%d %q", r.status, r.body)
}

// get sends GET url in the background and delivers the response on the
// returned channel, so that the test can signal the program meanwhile. The
// client gives up after within, so even this goroutine never waits forever.
func get(url string, within time.Duration) <-chan response {
	ch := make(chan response, 1) // buffered: the sender never waits for a reader
	go func() {
		// A transport of its own without keep-alive: the connection closes
		// with the response, and no idle connection outlives the test.
		client := &http.Client{Timeout: within, Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := client.Get(url)
		if err != nil {
			ch <- response{err: err}
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		ch <- response{status: resp.StatusCode, body: string(body), err: err}
	}()
	return ch
}
