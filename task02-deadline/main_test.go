package main

import (
	"syscall"
	"testing"
	"time"

	"gracefulshutdown.lab/labtest"
)

// TestMain lets each test start this very program as a real process (see
// labtest.Start) and checks that no test leaves a goroutine behind.
func TestMain(m *testing.M) { labtest.Main(m, main) }

// start runs the program on a free port with the given request delay,
// shutdown timeout and stats flush time, and returns it with the address it
// bound.
func start(t *testing.T, delay, timeout, flush time.Duration) (*labtest.Program, string) {
	t.Helper()
	p := labtest.Start(t, "-addr", "127.0.0.1:0", "-delay", delay.String(),
		"-shutdown-timeout", timeout.String(), "-flush-time", flush.String(), "-log-format", "json")
	return p, p.Listening()
}

// shortFlush is the stats flush of the tests that are not about it: long
// enough to be a real step in the log, short enough to cost nothing.
const shortFlush = 100 * time.Millisecond

// shutdownPolls: Shutdown does not see the last request end at once. It
// looks for idle connections 1 ms after it starts, then after 2, 4, ... ms,
// doubling up to every 500 ms (plus up to 10% each): about 0.5 s, 1 s,
// 1.5 s after the signal. A request that ends just after one look is seen
// at the next, and if that comes after the deadline, the drain is forced
// although the request has its answer. So a test whose request must finish
// within the budget ends it well before a look that comes before the
// deadline, not merely before the deadline.

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
	p, addr := start(t, delay, timeout, shortFlush)

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
	// exit once it has sent its stats, well before the timeout runs out.
	code := p.ExitWithin(shortFlush+timeout/2, "the drain was over once the request finished, yet the process waited on; "+
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
// shutdown timeout does not hold the shutdown hostage. When the timeout runs
// out its connection is closed, and the client hears so at once: not after
// the handler's full delay, and not when the process exits either, which is
// later, because the program still has its stats to send. That is what
// srv.Close is for: the program drops the connections left and carries on
// with its own last work.
func TestSlowRequestIsCutAtTheDeadline(t *testing.T) {
	t.Parallel()
	// The flush outlasts the margin: a connection that stays open until the
	// process exits is still open when the margin is up, however fast the
	// machine. Only srv.Close ends it sooner.
	const delay, timeout, flush = 10 * time.Second, 300 * time.Millisecond, margin + 500*time.Millisecond
	p, addr := start(t, delay, timeout, flush)

	resp := labtest.Get("http://"+addr+"/", delay+10*time.Second)
	p.WaitFor("request started", labtest.StartBound)
	sent := time.Now()
	p.Signal(syscall.SIGTERM)

	var r labtest.Response
	closed := false
	select {
	case r = <-resp:
		closed = true
	case <-time.After(timeout + margin):
	}
	open := time.Since(sent)
	if !closed || open > timeout+margin {
		why := "Shutdown's context must expire -shutdown-timeout after the signal (" + timeout.String() + " here): make it with " +
			"context.WithTimeout(context.Background(), cfg.shutdownTimeout). With context.Background() alone, or a duration of your own, " +
			"the flag does nothing. When Shutdown returns the context's error, call srv.Close."
		if p.Log().Has("forced close") {
			why = "The deadline did run out (the log says \"forced close\"), but the connection stayed open while the program went on to send its stats: " +
				"Shutdown stops waiting when its context expires, it does not close anything. Call srv.Close right after logging \"forced close\", " +
				"so that the client learns now, not when the process finally exits."
		}
		t.Fatalf("the connection of a %v request was still open %v after SIGTERM, with a %v shutdown timeout and a %v stats flush after the drain; "+
			"want it closed soon after the timeout runs out, while the program sends its stats.\n%s\n%s",
			delay, open.Round(time.Millisecond), timeout, flush, why, p.Transcript())
	}
	if r.Err == nil {
		t.Fatalf("a %v request with a %v shutdown timeout got %v; want its connection closed when the timeout runs out.\n"+
			"Is the delay flag ignored?\n%s", delay, timeout, r, p.Transcript())
	}

	if open < timeout {
		t.Fatalf("the connection of a %v request was closed %v after SIGTERM, before the %v shutdown timeout had run out; "+
			"want the requests in flight given all of -shutdown-timeout, counted from the signal.\n"+
			"The budget is the drain's: the stats flush comes after it, and whoever runs the program sizes -shutdown-timeout and -flush-time together "+
			"to fit the grace period, so do not take the flush time, or anything else, out of it.\n%s",
			delay, open.Round(time.Millisecond), timeout, p.Transcript())
	}
	// The client knows; the program goes on with its stats, then exits.
	p.ExitWithin(flush+margin, "the connections are closed and the stats take "+flush.String()+" to send: nothing else is left to wait for")
	forced, flushed := p.Log().Index("forced close"), p.Log().Index("stats flushed")
	if forced < 0 {
		t.Fatalf("the program never logged \"forced close\"; log it when Shutdown returns the deadline's error, before srv.Close.\n%s", p.Transcript())
	}
	if flushed < forced {
		t.Fatalf("the program did not send its stats after \"forced close\" (no \"stats flushed\" after it); want the forced close, then the stats flush, then the exit.\n"+
			"The connection was closed because the process ended, not because the program closed it: "+
			"call srv.Close and return 1 from serve, so that run still sends the stats. Ending the process on the spot (os.Exit, log.Fatal) skips them.\n%s",
			p.Transcript())
	}
}

// TestForcedShutdownExitsOne: a shutdown that had to cut requests off is not
// a clean one. It logs "forced close" at level ERROR, with the reason, and
// exits 1, so that people and orchestrators can tell.
func TestForcedShutdownExitsOne(t *testing.T) {
	t.Parallel()
	// Just over a second, so that a drain in steps of a second overshoots
	// it by most of a second (forced at 2 s) and a second budget by all of
	// it (2.2 s), while "forced close" may be late by three quarters of it
	// (1.925 s) on a busy machine.
	const delay, timeout = 10 * time.Second, 1100 * time.Millisecond
	p, addr := start(t, delay, timeout, shortFlush)

	resp := labtest.Get("http://"+addr+"/", delay+10*time.Second)
	p.WaitFor("request started", labtest.StartBound)
	p.Signal(syscall.SIGTERM)

	code := p.ExitWithin(timeout+shortFlush+margin, "the shutdown timeout has run out; the program should close the connections left, send its stats and exit, "+
		"instead of waiting for the handler (does srv.Shutdown get a context that expires -shutdown-timeout, "+timeout.String()+" here, after the signal?)")
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
	if lvl := ev.Level(); lvl != "ERROR" {
		t.Errorf("\"forced close\" was logged at level %s; want ERROR (logger.Error): requests were cut off and their clients got no answer, "+
			"which is a failure someone should look at, not a warning.\n%s", lvl, p.Transcript())
	}
	if ev.Str("err") == "" {
		t.Errorf("\"forced close\" has no err attribute; log the error Shutdown returned (context deadline exceeded), e.g. \"err\", err.\n%s", p.Transcript())
	}
	// By the program's own clock: the budget is spent timeout after
	// "shutdown started", and "forced close" says so then, not a drain
	// step or a second budget later.
	if i := p.Log().Index("shutdown started"); i >= 0 {
		took := labtest.EventTime(t, ev).Sub(labtest.EventTime(t, p.Log().Events()[i]))
		if late := timeout + timeout*3/4; took > late {
			t.Errorf("\"forced close\" came %v after \"shutdown started\", with a %v shutdown timeout; want it when the timeout runs out (before %v).\n"+
				"The budget is one deadline, -shutdown-timeout from the signal: one Shutdown with that context, then Close. "+
				"A second Shutdown, or a drain in steps that checks the clock only between them, overshoots it, and the platform's SIGKILL "+
				"may then land in the middle of the stats flush.\n%s", took.Round(time.Millisecond), timeout, late, p.Transcript())
		}
	}
}

// TestRequestInsideTheBudgetIsAnswered: a request that finishes before
// -shutdown-timeout runs out gets its answer, even when the stats flush
// after the drain takes most of that time again: the budget is the drain's,
// all of it.
func TestRequestInsideTheBudgetIsAnswered(t *testing.T) {
	t.Parallel()
	// The request ends half a second before Shutdown's last look inside the
	// budget (see shutdownPolls); the budget less the flush would be 300 ms.
	const delay, timeout, flush = 500 * time.Millisecond, 1500 * time.Millisecond, 1200 * time.Millisecond
	p, addr := start(t, delay, timeout, flush)

	resp := labtest.Get("http://"+addr+"/", delay+10*time.Second)
	p.WaitFor("request started", labtest.StartBound)
	p.Signal(syscall.SIGTERM)

	if r := <-resp; r.Err != nil || r.Status != 200 || r.Body != "hello\n" {
		t.Fatalf("a %v request in flight at the signal, with a %v shutdown timeout and a %v stats flush, got %v; want 200 \"hello\\n\": it ends inside the budget.\n"+
			"Give Shutdown all of -shutdown-timeout, counted from the signal. The flush comes after the drain, and whoever runs the program sizes "+
			"the two flags together to fit the grace period: taking the flush out of the drain's budget cuts requests that were promised it.\n%s",
			delay, timeout, flush, r, p.Transcript())
	}
	if code := p.ExitWithin(flush+margin, "the request finished, so the drain is over and only the stats are left to send"); code != 0 {
		t.Fatalf("exit code %d after a drain that finished within its timeout; want 0.\n%s", code, p.Transcript())
	}
}

// TestDeadlineCountsFromTheSignal: the shutdown timeout is a budget for the
// drain, so its clock starts when the signal arrives. A server that has been
// up for longer than the timeout still lets a short request finish.
func TestDeadlineCountsFromTheSignal(t *testing.T) {
	t.Parallel()
	// The request is still in flight when the signal is handled, even on a
	// busy machine, so that a deadline that ran out at start-up cuts it;
	// and it ends half a second before Shutdown's last look inside a budget
	// counted from the signal (see shutdownPolls).
	const delay, timeout = 500 * time.Millisecond, 1500 * time.Millisecond
	p, addr := start(t, delay, timeout, shortFlush)

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
	code := p.ExitWithin(shortFlush+margin, "the request finished, so the drain is over and only the stats are left to send")
	if code != 0 {
		t.Fatalf("exit code %d after a drain that finished within its timeout; want 0.\n%s", code, p.Transcript())
	}
}

// TestIdleServerExitsPromptly: with nothing in flight there is nothing to
// wait for, so the process exits 0 within two seconds of the signal (a
// healthy one takes milliseconds; the rest is for a busy machine), however
// long the shutdown timeout: 5 s here.
func TestIdleServerExitsPromptly(t *testing.T) {
	t.Parallel()
	p, _ := start(t, 2*time.Second, 5*time.Second, shortFlush)

	sent := time.Now()
	p.Signal(syscall.SIGTERM)
	code := p.ExitWithin(2*time.Second, "an idle server has nothing to drain; does run return as soon as Shutdown does, without waiting out the timeout?")
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
		{"-flush-time", "-1s"},
		{"-addr", "8080"},
		{"-log-format", "xml"},
	})
}
