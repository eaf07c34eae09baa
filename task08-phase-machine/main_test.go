package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"gracefulshutdown.lab/labtest"
)

// TestMain lets each test start this very program as a real process (see
// labtest.Start) and checks that no test leaves a goroutine behind.
//
// The program uses the database that DATABASE_URL names, or an embedded
// SQLite without it, and the tests pass the test process's environment on:
// run them with DATABASE_URL set to try your answer against a real Postgres.
//
// The Lifecycle itself has tests of its own, in lifecycle/lifecycle_test.go.
func TestMain(m *testing.M) { labtest.Main(m, main) }

// greeting is what the handler's query returns, as the client gets it.
const greeting = "hello from the database\n"

// shutdownOrder is the order in which the phases must run: the reverse of
// the order in which run starts the parts.
var shutdownOrder = []string{"http server", "worker", "database"}

// start runs the program on a free port with the given flags (on top of
// the ones every test needs) and returns it with the address it bound.
func start(t *testing.T, flags ...string) (*labtest.Program, string) {
	t.Helper()
	args := append([]string{"-addr", "127.0.0.1:0", "-tick", "20ms", "-log-format", "json"}, flags...)
	p := labtest.Start(t, args...)
	return p, p.Listening()
}

// TestInFlightRequestGetsItsQueryResult: a request that is waiting out its
// delay when SIGTERM arrives still makes its query and gets the row: the
// database is closed only after the server has drained. Then the process
// exits 0 without logging anything at ERROR.
func TestInFlightRequestGetsItsQueryResult(t *testing.T) {
	t.Parallel()
	const delay = 300 * time.Millisecond
	p, addr := start(t, "-delay", delay.String())

	resp := labtest.Get("http://"+addr+"/", delay+10*time.Second)
	p.WaitFor("request started", labtest.StartBound)
	p.Signal(syscall.SIGTERM)

	r := <-resp
	switch {
	case r.Err == nil && strings.Contains(r.Body, "database is closed"):
		t.Fatalf("the request in flight when SIGTERM arrived got %v; want 200 %q.\n"+
			"The \"database\" phase ran before the \"http server\" phase had drained the request. The phases are added in "+
			"start-up order (database, worker, http server); Shutdown must run them last in, first out.\n%s",
			r, greeting, p.Transcript())
	case r.Err != nil || r.Status != 200 || r.Body != greeting:
		t.Fatalf("the request in flight when SIGTERM arrived got %v; want 200 %q.\n"+
			"Did the \"http server\" phase get a context that was already cancelled? Shutdown's ctx is the shutdown's own, "+
			"from context.WithTimeout(context.Background(), ...), not the signal's.\n%s", r, greeting, p.Transcript())
	}
	code := p.ExitWithin(5*time.Second, "after the last phase, run should return so that main can exit")
	if code != 0 {
		t.Fatalf("exit code %d after a clean shutdown; want 0.\n%s", code, p.Transcript())
	}
	if errs := p.Log().AtLevel("ERROR"); len(errs) > 0 {
		t.Errorf("a clean shutdown logged %d event(s) at ERROR, the first %q; want none.\n%s", len(errs), errs[0].Msg(), p.Transcript())
	}
}

// TestPhasesStopInReverseStartUpOrder: after "shutdown started", the log
// shows each phase start and finish, one after the other, in the order
// http server, worker, database, the reverse of the start-up order; the
// worker says "ticker stopped" during its phase; "exited" comes last.
func TestPhasesStopInReverseStartUpOrder(t *testing.T) {
	t.Parallel()
	const delay = 200 * time.Millisecond
	p, addr := start(t, "-delay", delay.String())

	resp := labtest.Get("http://"+addr+"/", delay+10*time.Second)
	p.WaitFor("request started", labtest.StartBound)
	p.Signal(syscall.SIGTERM)
	<-resp
	p.ExitWithin(5*time.Second, "after the last phase, run should return so that main can exit")

	got := phaseLines(p, "shutdown started")
	var want []string
	for _, phase := range shutdownOrder {
		want = append(want, "phase started "+phase, "phase done "+phase)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("after \"shutdown started\" the phases went:\n  %s\nwant:\n  %s\n"+
			"Each phase starts and finishes before the next; they run last in, first out: the server was started last, "+
			"so it stops first, and the database, which everything else uses, stops last.\n%s",
			strings.Join(got, "\n  "), strings.Join(want, "\n  "), p.Transcript())
	}
	events := p.Log().Events()
	stopped := p.Log().Index("ticker stopped")
	if i := indexOf(events, "phase started", "worker"); stopped < i || stopped > indexOf(events, "phase done", "worker") {
		t.Errorf("\"ticker stopped\" was not logged between the worker phase's \"phase started\" and \"phase done\"; "+
			"want the worker stopped, and waited for, by its phase.\n%s", p.Transcript())
	}
	if last := events[len(events)-1].Msg(); last != "exited" {
		t.Errorf("the last event was %q; want \"exited\", after every phase.\n%s", last, p.Transcript())
	}
}

// TestForcedDrainStillStopsTheRest: when the request outlives
// -phase-timeout, the http server phase is cut off at its deadline: the
// program logs "forced close" and "phase failed" for it, then still stops
// the worker and closes the database, and exits 1.
func TestForcedDrainStillStopsTheRest(t *testing.T) {
	t.Parallel()
	// The request takes far longer than a phase may: the drain must be cut.
	const delay, phaseTimeout = 5 * time.Second, 200 * time.Millisecond
	p, addr := start(t, "-delay", delay.String(), "-phase-timeout", phaseTimeout.String(), "-shutdown-timeout", "30s")

	resp := labtest.Get("http://"+addr+"/", delay+10*time.Second)
	p.WaitFor("request started", labtest.StartBound)
	p.Signal(syscall.SIGTERM)
	code := p.ExitWithin(phaseTimeout+3*time.Second, fmt.Sprintf(
		"the http server phase should be cut off at -phase-timeout (%v) and the other phases run at once. "+
			"Does each phase get a context with its own deadline, context.WithTimeout(ctx, timeout)?", phaseTimeout))
	<-resp

	got := phaseLines(p, "shutdown started")
	want := []string{"phase started http server", "phase failed http server", "phase started worker", "phase done worker",
		"phase started database", "phase done database"}
	if !slices.Equal(got, want) {
		t.Fatalf("after \"shutdown started\" the phases went:\n  %s\nwant:\n  %s\n"+
			"A failed phase must not end the shutdown: the worker and the database still need stopping.\n%s",
			strings.Join(got, "\n  "), strings.Join(want, "\n  "), p.Transcript())
	}
	if !p.Log().Has("forced close") {
		t.Errorf("the program never logged \"forced close\"; the http server phase should Close the server when Shutdown fails.\n%s", p.Transcript())
	}
	checkForcedCloseWithinItsPhase(t, p)
	checkForcedCloseIsError(t, p)
	if code != 1 {
		t.Fatalf("exit code %d after a shutdown in which a phase failed; want 1.\n"+
			"lc.Shutdown returns an error when any phase failed: return 1 then.\n%s", code, p.Transcript())
	}
	checkExitedLast(t, p)
}

// TestShutdownTimeoutBoundsEveryPhase: -shutdown-timeout is the budget of
// the whole shutdown. When it is shorter than -phase-timeout, the drain is
// cut off when the budget runs out, not at the phase's own deadline, and
// the program exits 1.
func TestShutdownTimeoutBoundsEveryPhase(t *testing.T) {
	t.Parallel()
	const delay, shutdownTimeout = 5 * time.Second, 200 * time.Millisecond
	p, addr := start(t, "-delay", delay.String(), "-phase-timeout", "10s", "-shutdown-timeout", shutdownTimeout.String())

	resp := labtest.Get("http://"+addr+"/", delay+10*time.Second)
	p.WaitFor("request started", labtest.StartBound)
	p.Signal(syscall.SIGTERM)
	code := p.ExitWithin(shutdownTimeout+3*time.Second, fmt.Sprintf(
		"the drain should be cut off when -shutdown-timeout (%v) runs out, although -phase-timeout is 10s. "+
			"Pass lc.Shutdown a context with that deadline, and derive each phase's context from it.", shutdownTimeout))
	<-resp

	if !p.Log().Has("forced close") {
		t.Errorf("the program never logged \"forced close\"; want the drain cut off when the shutdown's budget ran out.\n%s", p.Transcript())
	}
	checkForcedCloseWithinItsPhase(t, p)
	checkForcedCloseIsError(t, p)
	// The budget is spent, and the worker and the database still hold
	// things to release: their phases are called all the same.
	events := p.Log().Events()
	for _, phase := range shutdownOrder[1:] {
		if indexOf(events, "phase started", phase) < 0 {
			t.Fatalf("the %q phase never started after the shutdown's budget (%v) ran out during the drain; want every phase "+
				"called, with a context that is already done.\nA phase that is skipped releases nothing: the worker runs on "+
				"and the database's sessions linger. Do not skip the phases once Shutdown's ctx is done.\n%s",
				phase, shutdownTimeout, p.Transcript())
		}
	}
	if code != 1 {
		t.Fatalf("exit code %d after a shutdown that ran out of time; want 1.\n"+
			"lc.Shutdown returns an error when any phase failed: return 1 then.\n%s", code, p.Transcript())
	}
	checkExitedLast(t, p)
}

// checkForcedCloseWithinItsPhase fails t unless "forced close" was logged
// before the next phase, the worker's, started: the http server phase is
// not over until it has closed the server.
func checkForcedCloseWithinItsPhase(t *testing.T, p *labtest.Program) {
	t.Helper()
	events := p.Log().Events()
	forced, next := p.Log().Index("forced close"), indexOf(events, "phase started", "worker")
	if forced >= 0 && next >= 0 && forced > next {
		t.Errorf("\"forced close\" was logged after the worker's phase had started; want it within the http server phase, "+
			"before the next one starts.\nShutdown stopped waiting for the http server phase at the very moment of its "+
			"deadline, while the phase was still calling Close. Give a phase a short leeway (100ms) past its deadline to "+
			"return, then move on.\n%s", p.Transcript())
	}
}

// checkExitedLast fails t unless "exited" comes after every phase's event:
// it says every phase has run, on every way out, the failed ones included.
// (A worker whose phase ran out of time may still log "ticker stopped"
// after it: it was left behind, and is not waited for.)
func checkExitedLast(t *testing.T, p *labtest.Program) {
	t.Helper()
	events := p.Log().Events()
	lastPhase := -1
	for i, ev := range events {
		if strings.HasPrefix(ev.Msg(), "phase ") {
			lastPhase = i
		}
	}
	if exited := p.Log().Index("exited"); exited < 0 || exited < lastPhase {
		t.Errorf("\"exited\" was not logged after the last phase; want \"exited\" once every phase has run, also after a "+
			"shutdown in which a phase failed.\nAn early return when lc.Shutdown reports an error skips it: note the exit "+
			"code, log \"exited\", then return.\n%s", p.Transcript())
	}
}

// checkForcedCloseIsError fails t if the program logged "forced close" at
// any level but ERROR.
func checkForcedCloseIsError(t *testing.T, p *labtest.Program) {
	t.Helper()
	for _, ev := range p.Log().Events() {
		if ev.Msg() == "forced close" && ev.Level() != "ERROR" {
			t.Errorf("\"forced close\" was logged at level %s; want ERROR: requests were cut off and the exit code is 1, "+
				"and alerts are built on ERROR.\n%s", ev.Level(), p.Transcript())
			return
		}
	}
}

// TestIdleShutdownIsPrompt: with no request in flight, every phase has
// nothing to wait for: the program exits 0 within a second or two of
// SIGTERM, with every phase done.
func TestIdleShutdownIsPrompt(t *testing.T) {
	t.Parallel()
	p, _ := start(t, "-phase-timeout", "10s")

	p.Signal(syscall.SIGTERM)
	code := p.ExitWithin(2*time.Second, "an idle program has nothing to drain; does Shutdown wait for each phase's deadline instead of its return?")
	if code != 0 {
		t.Fatalf("exit code %d after a clean shutdown; want 0.\n%s", code, p.Transcript())
	}
	for _, phase := range shutdownOrder {
		if indexOf(p.Log().Events(), "phase done", phase) < 0 {
			t.Fatalf("no \"phase done\" for phase %q; want every phase to finish.\n%s", phase, p.Transcript())
		}
	}
}

// TestServerFailureStillStopsTheRest: when the server cannot start (its
// address is taken), the program says so, still stops the worker and
// closes the database through the same phases, and exits 1.
func TestServerFailureStillStopsTheRest(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("cannot hold a port for the test: %v", err)
	}
	defer taken.Close()

	p := labtest.Start(t, "-addr", taken.Addr().String(), "-tick", "20ms", "-log-format", "json")
	code := p.ExitWithin(5*time.Second, "the address is taken, so the server can never serve: run should stop the rest and return 1")

	if !p.Log().Has("server failed") {
		t.Errorf("the program never logged \"server failed\" although its address was taken.\n%s", p.Transcript())
	}
	for _, phase := range []string{"worker", "database"} {
		if indexOf(p.Log().Events(), "phase done", phase) < 0 {
			t.Fatalf("no \"phase done\" for phase %q after the server failed; want the worker stopped and the database "+
				"closed on this way out too: run lc.Shutdown on every way out of run.\n%s", phase, p.Transcript())
		}
	}
	if code != 1 {
		t.Fatalf("exit code %d when the address was taken; want 1.\n%s", code, p.Transcript())
	}
}

// TestNoGoroutineOutlivesRun: run, called in-process the way a test or a
// bigger program would call it, returns once its context is cancelled and
// its phases are done, and leaves the goroutine count where it was before
// it started: the server, the worker and the database's own goroutines all
// ended.
//
// It counts the goroutines of the whole test binary, so it does not call
// t.Parallel: Go runs it before any parallel test starts.
func TestNoGoroutineOutlivesRun(t *testing.T) {
	baseline := goleak.IgnoreCurrent()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := labtest.NewEventLog()
	returned := make(chan struct{})
	var code int
	go func() {
		defer close(returned)
		code = run(ctx, []string{"-addr", "127.0.0.1:0", "-tick", "20ms", "-log-format", "json"}, io.Discard, log)
	}()

	if _, err := log.WaitFor("tick", labtest.StartBound, returned); err != nil {
		t.Fatalf("%v; want a tick every 20ms.\n%s", err, log.Text())
	}
	cancel()
	select {
	case <-returned:
	case <-time.After(3 * time.Second):
		t.Fatalf("run had not returned 3s after its context was cancelled; want it to return once its phases are done.\n%s", log.Text())
	}
	if code != 0 {
		t.Fatalf("run returned %d after a clean shutdown; want 0.\n%s", code, log.Text())
	}
	if err := goleak.Find(baseline); err != nil {
		t.Fatalf("goroutines that run started were still there after it returned; want none.\n%v\n%s", err, log.Text())
	}
}

// TestBadFlagsExitTwo: a mistake on the command line is a usage error: one
// line that says what is wrong, and exit code 2, before anything listens.
func TestBadFlagsExitTwo(t *testing.T) {
	t.Parallel()
	labtest.ExpectUsageErrors(t, [][]string{
		{"-delay", "-1s"},
		{"-tick", "0s"},
		// A phase with no time at all would fail before it began.
		{"-phase-timeout", "0s"},
		{"-phase-timeout", "-1s"},
		{"-phase-timeout", "soon"},
		{"-shutdown-timeout", "-1s"},
		{"-db-timeout", "0s"},
		{"-addr", "8080"},
		{"-log-format", "xml"},
	})
}

// phaseLines is the phase events logged after the event after, each as
// "<message> <phase>", e.g. "phase started http server".
func phaseLines(p *labtest.Program, after string) []string {
	from := p.Log().Index(after)
	if from < 0 {
		return []string{fmt.Sprintf("(no %q event)", after)}
	}
	var lines []string
	for _, ev := range p.Log().Events()[from:] {
		if strings.HasPrefix(ev.Msg(), "phase ") {
			lines = append(lines, ev.Msg()+" "+ev.Str("phase"))
		}
	}
	return lines
}

// indexOf is the position of the first event with message msg and
// attribute phase, or -1.
func indexOf(events []labtest.Event, msg, phase string) int {
	return slices.IndexFunc(events, func(ev labtest.Event) bool { return ev.Msg() == msg && ev.Str("phase") == phase })
}
