package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"gracefulshutdown.lab/labtest"
)

// TestMain lets each test start this very program as a real process (see
// labtest.Start) and checks that no test leaves a goroutine behind. Started
// with leakCheck set, the process is the program with one step more (see
// runThenReportBlockedSends).
func TestMain(m *testing.M) {
	if os.Getenv(leakCheck) == "1" {
		os.Exit(runThenReportBlockedSends())
	}
	labtest.Main(m, main)
}

// start runs the program on a free port with the given request delay and
// returns it with the address it bound. The shutdown timeout is far longer
// than any request here, so every shutdown in these tests can be clean.
func start(t *testing.T, delay time.Duration) (*labtest.Program, string) {
	t.Helper()
	p := labtest.Start(t, "-addr", "127.0.0.1:0", "-delay", delay.String(),
		"-shutdown-timeout", "10s", "-log-format", "json")
	return p, p.Listening()
}

// TestCleanShutdownIsNotAnError: a signal is the normal way for this
// program to end, so a shutdown that went to plan exits 0 and logs nothing at
// level ERROR, whether a request was in flight (it still gets its "hello") or
// the server was idle (it exits within a second).
//
// The two cases are subtests of one criterion because the program that fails
// one tends to fail the other only sometimes: with nothing in flight, a
// serving goroutine that calls os.Exit(1) on http.ErrServerClosed races run's
// own return 0.
func TestCleanShutdownIsNotAnError(t *testing.T) {
	t.Parallel()
	t.Run("request_in_flight", func(t *testing.T) {
		t.Parallel()
		const delay = 500 * time.Millisecond
		p, addr := start(t, delay)

		resp := labtest.Get("http://"+addr+"/", delay+10*time.Second)
		p.WaitFor("request started", labtest.StartBound)
		p.Signal(syscall.SIGTERM)

		r := <-resp
		if r.Err != nil || r.Status != 200 || r.Body != "hello\n" {
			t.Fatalf("the request in flight when SIGTERM arrived got %v; want 200 \"hello\\n\".\n"+
				"Serve returns http.ErrServerClosed as soon as Shutdown closes the listener, before the drain. If the serving goroutine "+
				"treats that as fatal (os.Exit, log.Fatal), the process dies in the middle of the drain; if run waits for Serve's error "+
				"instead of for Shutdown (a Shutdown started in a goroutine), it returns then, and the process ends just the same. "+
				"Block on srv.Shutdown, then read Serve's error.\n%s",
				r, p.Transcript())
		}
		code := p.ExitWithin(5*time.Second, "after Shutdown returns, run should return so that main can exit")
		checkClean(t, p, code)
	})
	t.Run("idle_server_exits_promptly", func(t *testing.T) {
		t.Parallel()
		p, _ := start(t, 2*time.Second)

		sent := time.Now()
		p.Signal(syscall.SIGTERM)
		select {
		case <-p.Done():
		case <-time.After(time.Second):
			transcript := p.Transcript() // which lets a dying program finish its last lines
			why := "an idle server has nothing to drain; does run return once Shutdown does?"
			if i := p.Log().Index("shutdown started"); i < 0 || labtest.EventTime(t, p.Log().Events()[i]).Sub(sent) > 500*time.Millisecond {
				why = "the program noticed the signal late (\"shutdown started\" came long after SIGTERM, or never). " +
					"Wait for ctx.Done() in a select with Serve's error, rather than looking at ctx now and then"
			}
			t.Fatalf("the program was still running a second after SIGTERM: %s.\n%s", why, transcript)
		}
		code, _ := p.Exited()
		checkClean(t, p, code)
	})
}

// checkClean fails t unless the program, which has exited with code after a
// shutdown that should have been clean, exited 0, flushed its metrics, logged
// "exited" and logged nothing at level ERROR.
func checkClean(t *testing.T, p *labtest.Program, code int) {
	t.Helper()
	var problems []string
	if code != 0 {
		problems = append(problems, fmt.Sprintf("exit code %d after a clean shutdown; want 0.", code))
	}
	if errs := p.Log().AtLevel("ERROR"); len(errs) > 0 {
		problems = append(problems, fmt.Sprintf("a clean shutdown logged %d event(s) at level ERROR; want none:\n%s"+
			"After Shutdown, Serve's http.ErrServerClosed means \"stopped because you asked\": "+
			"check it with errors.Is(err, http.ErrServerClosed) and do not report it as an error.",
			len(errs), describeEvents(errs)))
	}
	if !p.Log().Has(flushed) {
		problems = append(problems, "the program never logged \""+flushed+"\": run's deferred metrics flush did not run. Keep the flush that main.go gives you.")
	}
	if !p.Log().Has("exited") {
		problems = append(problems, "the program never logged \"exited\"; log it as the last thing run does.")
	}
	if len(problems) > 0 {
		t.Errorf("%s\n%s", strings.Join(problems, "\n"), p.Transcript())
	}
}

// flushed is the event of run's deferred cleanup, the metrics flush: every
// way out of run logs it, and only leaving without returning (os.Exit,
// log.Fatal) skips it.
const flushed = "metrics flushed"

// failFastBound is how soon the program must exit when its address is taken,
// counted from the moment it is started. A correct program exits within
// milliseconds of starting and a wrong one waits for a signal for ever, so
// the bound only needs to be finite; it is generous because starting a
// -race binary on a busy machine can take a second or more.
const failFastBound = 5 * time.Second

// TestAddressInUseFailsFast: when the address is taken the server cannot
// start. That is a real error: the program says so, naming the address,
// and exits 1 at once instead of waiting for a signal that nobody will send.
// It leaves the way every other exit does, through run's return, so its
// deferred metrics flush still runs.
func TestAddressInUseFailsFast(t *testing.T) {
	t.Parallel()
	// Hold a port, so that the program's own net.Listen fails on it.
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("cannot hold a port for the test: %v", err)
	}
	defer taken.Close()
	addr := taken.Addr().String()
	_, port, _ := net.SplitHostPort(addr)

	started := time.Now()
	p := labtest.Start(t, "-addr", addr, "-delay", "300ms", "-shutdown-timeout", "10s", "-log-format", "json")
	code := p.ExitWithin(failFastBound, "the address "+addr+" is taken, so the server can never serve. "+
		"Is the error from the serving goroutine ignored, leaving run waiting for a signal? "+
		"Report it back to run (a buffered channel and a select with ctx.Done()) and return 1.")
	took := time.Since(started).Round(time.Millisecond)

	if code != 1 {
		t.Errorf("exit code %d after %v when the address is taken; want 1: the server failed to start.\n%s", code, took, p.Transcript())
	}
	if !p.Log().Has(flushed) {
		t.Errorf("the program exited %d after %v without logging %q: run's deferred metrics flush never ran.\n"+
			"os.Exit ends the process on the spot, from whichever goroutine calls it, and no deferred call runs, in that "+
			"goroutine or any other; log.Fatal calls os.Exit. Exiting skips the flush, from the serving goroutine even when it "+
			"lets http.ErrServerClosed through, and from run itself. Let that goroutine only send its error on a buffered channel, and let run "+
			"receive it in a select with ctx.Done(), log \"server failed\" and return 1: a return runs the deferred calls.\n%s",
			code, took, flushed, p.Transcript())
	}
	if p.Log().Has("listening") {
		t.Errorf("the program logged \"listening\" although %s was taken; log it only once the listener is bound.\n%s", addr, p.Transcript())
	}
	named := false
	for _, ev := range p.Log().AtLevel("ERROR") {
		for key, v := range ev {
			if key != "time" && key != "level" && strings.Contains(fmt.Sprint(v), port) {
				named = true
			}
		}
	}
	if !named {
		why := ""
		if len(p.Log().AtLevel("ERROR")) == 0 {
			why = " A line written by log.Fatal or fmt is not an event: the program's log goes through its slog logger."
		}
		t.Errorf("no event at level ERROR names the address %s; want one such as "+
			"logger.Error(\"server failed\", \"addr\", cfg.addr, \"err\", err), so whoever reads the log knows what failed.%s\n%s",
			addr, why, p.Transcript())
	}
}

// TestServingGoroutineEndsAfterForcedClose: after a forced close, run
// returns without reading Serve's error. The serving goroutine must still
// be able to finish: in a test that calls run in-process, or in a bigger
// program that runs it, a goroutine blocked for good on its send is a
// leak. The program runs as main runs it, and after run has returned it
// reports the goroutines still blocked sending on a channel.
func TestServingGoroutineEndsAfterForcedClose(t *testing.T) {
	t.Parallel()
	const delay, timeout = 2 * time.Second, 100 * time.Millisecond
	p := labtest.StartEnv(t, []string{leakCheck + "=1"}, "-addr", "127.0.0.1:0", "-delay", delay.String(),
		"-shutdown-timeout", timeout.String(), "-log-format", "json")
	addr := p.Listening()

	resp := labtest.Get("http://"+addr+"/", delay+10*time.Second)
	p.WaitFor("request started", labtest.StartBound)
	p.Signal(syscall.SIGTERM)
	<-resp // cut at the deadline

	ev, err := p.Log().WaitFor(blockedSends, timeout+5*time.Second, p.Done())
	if err != nil {
		t.Fatalf("%v: run never returned after the forced close. Leave through run's return, which runs its deferred calls; "+
			"exiting from a goroutine (os.Exit, log.Fatal) skips them.\n%s", err, p.Transcript())
	}
	if stacks := ev.Str("stacks"); stacks != "" {
		t.Errorf("after a forced close, run returned and left the serving goroutine blocked for good on its send:\n%s\n"+
			"After a forced close nobody reads Serve's error, so give the channel a buffer of one, make(chan error, 1): "+
			"the send then completes and the goroutine ends.\n%s", stacks, p.Transcript())
	}
	p.ExitWithin(5*time.Second, "run has returned; main should exit with its code")
}

// leakCheck, set in a program's environment, makes it report the goroutines
// blocked on a send once run has returned.
const leakCheck = "TASK03_REPORT_BLOCKED_SENDS"

// blockedSends is the event of that report.
const blockedSends = "goroutines blocked on a send"

// runThenReportBlockedSends is main, with one step before the exit: it logs
// the stacks of the goroutines that are still blocked sending on a channel
// (none, for a correct program) once run has returned. One blocked that way
// a second after run returned is blocked for good.
func runThenReportBlockedSends() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	stacks := goroutinesBlockedOnSend()
	for deadline := time.Now().Add(time.Second); stacks != nil && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond) // polling the goroutines' states, not a synchronisation
		stacks = goroutinesBlockedOnSend()
	}
	line, _ := json.Marshal(map[string]string{
		"time": time.Now().Format(time.RFC3339Nano), "level": "INFO", "msg": blockedSends, "stacks": strings.Join(stacks, "\n\n"),
	})
	fmt.Fprintf(os.Stderr, "%s\n", line)
	return code
}

// goroutinesBlockedOnSend is the stack of each goroutine of this process
// that is waiting to send on a channel.
func goroutinesBlockedOnSend() []string {
	var out []string
	for _, g := range labtest.OtherGoroutines() {
		// "chan send", or "chan send (nil chan)"
		if strings.HasPrefix(g.State, "chan send") {
			out = append(out, g.Stack)
		}
	}
	return out
}

// TestBadFlagsExitTwo: a mistake on the command line is a usage error: one
// line that says what is wrong, and exit code 2, before anything listens.
func TestBadFlagsExitTwo(t *testing.T) {
	t.Parallel()
	labtest.ExpectUsageErrors(t, [][]string{
		{"-delay", "-1s"},
		{"-shutdown-timeout", "-1s"},
		{"-shutdown-timeout", "soon"},
		{"-addr", "8080"},
		{"-log-format", "xml"},
	})
}

// describeEvents lists events one per line, for failure messages.
func describeEvents(evs []labtest.Event) string {
	var b strings.Builder
	for _, ev := range evs {
		fmt.Fprintf(&b, "  %s %q", ev.Level(), ev.Msg())
		for key, v := range ev {
			if key != "time" && key != "level" && key != "msg" {
				fmt.Fprintf(&b, " %s=%v", key, v)
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}
