package main

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"time"

	"gracefulshutdown.lab/labtest"
)

// TestMain lets each test start this very program as a real process (see
// labtest.Start) and checks that no test leaves a goroutine behind.
func TestMain(m *testing.M) { labtest.Main(m, main) }

// start runs the program on a free port with the given request delay and
// shutdown timeout, and returns it with the address it bound.
func start(t *testing.T, delay, timeout time.Duration) (*labtest.Program, string) {
	t.Helper()
	p := labtest.Start(t, "-addr", "127.0.0.1:0", "-delay", delay.String(),
		"-shutdown-timeout", timeout.String(), "-log-format", "json")
	return p, p.Listening()
}

// margin is how late past a computed moment (a deadline, the end of a
// request) the program may be before a test calls it wrong. It is generous
// because the race detector and a busy machine slow everything down, and
// still far shorter than the delays that tell a right answer from a wrong
// one.
const margin = 2 * time.Second

// TestShortRequestDrainsBeforeTheDeadline: a request that needs less time
// than the shutdown timeout still gets its "hello", and the process exits 0
// as soon as it is done. The timeout is a limit, not a wait.
func TestShortRequestDrainsBeforeTheDeadline(t *testing.T) {
	t.Parallel()
	const delay, timeout = 300 * time.Millisecond, 3 * time.Second
	p, addr := start(t, delay, timeout)

	resp := labtest.Get("http://"+addr+"/", delay+10*time.Second)
	p.WaitFor("request started", labtest.StartBound)
	p.Signal(syscall.SIGTERM)

	r := <-resp
	if r.Err != nil || r.Status != 200 || r.Body != "hello\n" {
		t.Fatalf("a %v request in flight at the signal, with a %v shutdown timeout, got %v; want 200 \"hello\\n\".\n"+
			"A request shorter than the timeout must be allowed to finish: pass srv.Shutdown a new context.WithTimeout(context.Background(), ...) made at the signal. "+
			"(The signal's own ctx is cancelled already, so a Shutdown given it gives up at once.)\n%s",
			delay, timeout, r, p.Transcript())
	}
	// The request has finished, so the drain is over: the process should
	// exit now, well before the timeout runs out.
	code := p.ExitWithin(timeout/2, "the drain was over once the request finished, yet the process waited on; "+
		"exit when Shutdown returns rather than waiting for the timeout (Shutdown returns as soon as the last request is done)")
	if code != 0 {
		t.Fatalf("exit code %d after a drain that finished in time; want 0.\n%s", code, p.Transcript())
	}
	if p.Log().Has("forced close") {
		t.Errorf("logged \"forced close\" although the request finished within the timeout; want it only when the timeout runs out.\n%s", p.Transcript())
	}
	if !p.Log().Has("exited") {
		t.Errorf("the program never logged \"exited\"; log it as the last thing run does after a clean drain.\n%s", p.Transcript())
	}
}

// TestSlowRequestIsCutAtTheDeadline: a request that would outlast the
// shutdown timeout does not hold the shutdown hostage: when the timeout runs
// out, its connection is closed, and the client hears so at once instead of
// after the handler's full delay.
func TestSlowRequestIsCutAtTheDeadline(t *testing.T) {
	t.Parallel()
	const delay, timeout = 10 * time.Second, 300 * time.Millisecond
	p, addr := start(t, delay, timeout)

	// The client gives up on its own after timeout+margin; a server that is
	// still holding the connection by then has missed its deadline.
	resp := labtest.Get("http://"+addr+"/", timeout+margin)
	p.WaitFor("request started", labtest.StartBound)
	p.Signal(syscall.SIGTERM)

	r := <-resp
	var netErr net.Error
	switch {
	case r.Err == nil:
		t.Fatalf("a %v request with a %v shutdown timeout got %v; want its connection closed when the timeout runs out.\n"+
			"Is the delay flag ignored, or does Shutdown wait for the handler?\n%s", delay, timeout, r, p.Transcript())
	case errors.As(r.Err, &netErr) && netErr.Timeout():
		t.Fatalf("the connection of a %v request was still open %v after it started, with a %v shutdown timeout; want it closed soon after the timeout runs out.\n"+
			"srv.Shutdown(context.Background()) waits for the handler however long it takes: give it a context with a deadline of -shutdown-timeout, "+
			"and when Shutdown returns that error, call srv.Close.\n%s", delay, r.Elapsed.Round(time.Millisecond), timeout, p.Transcript())
	}
	p.ExitWithin(margin, "the shutdown timeout has run out and the connections are closed: nothing is left to wait for")
}

// TestForcedShutdownExitsOne: a shutdown that had to cut requests off is not
// a clean one. It logs "forced close" as a warning or an error, with the
// reason, and exits 1, so that people and orchestrators can tell.
func TestForcedShutdownExitsOne(t *testing.T) {
	t.Parallel()
	const delay, timeout = 10 * time.Second, 300 * time.Millisecond
	p, addr := start(t, delay, timeout)

	resp := labtest.Get("http://"+addr+"/", delay+10*time.Second)
	p.WaitFor("request started", labtest.StartBound)
	p.Signal(syscall.SIGTERM)

	code := p.ExitWithin(timeout+margin, "the shutdown timeout has run out; the program should close the connections left and exit, "+
		"instead of waiting for the handler (does srv.Shutdown get a context with a deadline?)")
	<-resp // the process is gone, so its connection is closed
	if code != 1 {
		t.Errorf("exit code %d after a shutdown that ran out of time and cut a request off; want 1, so that whoever reads it knows the drain was not clean.\n%s",
			code, p.Transcript())
	}
	i := p.Log().Index("forced close")
	if i < 0 {
		t.Fatalf("the program never logged \"forced close\"; log it when Shutdown returns the deadline's error, before srv.Close.\n%s", p.Transcript())
	}
	ev := p.Log().Events()[i]
	if lvl := ev.Level(); lvl != "WARN" && lvl != "ERROR" {
		t.Errorf("\"forced close\" was logged at level %s; want WARN or ERROR: requests were cut off, which is worth someone's attention.", lvl)
	}
	if ev.Str("err") == "" {
		t.Errorf("\"forced close\" has no err attribute; log the error Shutdown returned (context deadline exceeded), e.g. \"err\", err.\n%s", p.Transcript())
	}
}

// TestDeadlineCountsFromTheSignal: the shutdown timeout is a budget for the
// drain, so its clock starts when the signal arrives. A server that has been
// up for longer than the timeout still lets a short request finish.
func TestDeadlineCountsFromTheSignal(t *testing.T) {
	t.Parallel()
	const delay, timeout = 200 * time.Millisecond, time.Second
	p, addr := start(t, delay, timeout)

	// This sleep is the scenario, not a synchronisation: the server must
	// have been up for longer than the shutdown timeout before the signal.
	const uptime = timeout + 100*time.Millisecond
	time.Sleep(uptime)

	resp := labtest.Get("http://"+addr+"/", delay+10*time.Second)
	p.WaitFor("request started", labtest.StartBound)
	p.Signal(syscall.SIGTERM)

	r := <-resp
	if r.Err != nil || r.Status != 200 || r.Body != "hello\n" {
		t.Fatalf("after more than %v of uptime, a %v request in flight at the signal, with a %v shutdown timeout, got %v; want 200 \"hello\\n\".\n"+
			"If the program logged \"forced close\" at once, the deadline was counted from start-up: "+
			"create it with context.WithTimeout when the signal arrives, just before srv.Shutdown.\n%s",
			uptime, delay, timeout, r, p.Transcript())
	}
	code := p.ExitWithin(margin, "the request finished, so the drain is over")
	if code != 0 {
		t.Fatalf("exit code %d after a drain that finished within its timeout; want 0.\n%s", code, p.Transcript())
	}
}

// TestIdleServerExitsPromptly: with nothing in flight there is nothing to
// wait for, so the process exits 0 within a second of the signal, however
// long the shutdown timeout.
func TestIdleServerExitsPromptly(t *testing.T) {
	t.Parallel()
	p, _ := start(t, 2*time.Second, 5*time.Second)

	sent := time.Now()
	p.Signal(syscall.SIGTERM)
	code := p.ExitWithin(time.Second, "an idle server has nothing to drain; does run return as soon as Shutdown does, without waiting out the timeout?")
	if code != 0 {
		t.Fatalf("exit code %d after SIGTERM on an idle server; want 0.\n%s", code, p.Transcript())
	}
	if !p.Log().Has("exited") {
		t.Errorf("exited after %v without logging \"exited\"; log it as the last thing run does.", time.Since(sent).Round(time.Millisecond))
	}
}

// TestBadFlagsExitTwo: a mistake on the command line is a usage error: one
// line that says what is wrong, and exit code 2, before anything listens.
func TestBadFlagsExitTwo(t *testing.T) {
	t.Parallel()
	labtest.ExpectUsageErrors(t, [][]string{
		{"-shutdown-timeout", "-1s"},
		{"-shutdown-timeout", "later"},
		{"-delay", "-1s"},
		{"-delay", "soon"},
		{"-addr", "8080"},
		{"-log-format", "xml"},
	})
}
