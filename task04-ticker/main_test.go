package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"gracefulshutdown.lab/labtest"
)

// TestMain lets each test start this very program as a real process (see
// labtest.Start) and checks that no test leaves a goroutine behind.
func TestMain(m *testing.M) { labtest.Main(m, main) }

// TestTickerStopsOnShutdown: the worker ticks while the program runs; on
// SIGTERM it stops, says so before the program says "exited", never ticks
// again, and the process exits 0.
func TestTickerStopsOnShutdown(t *testing.T) {
	t.Parallel()
	const every = 20 * time.Millisecond
	p := labtest.Start(t, "-addr", "127.0.0.1:0", "-tick", every.String(), "-log-format", "json")
	p.Listening()
	waitForTicks(t, p, 2, labtest.StartBound)

	p.Signal(syscall.SIGTERM)
	code := p.ExitWithin(5*time.Second, "an idle server has nothing to drain; does the worker stop on ctx.Done(), and does run return once it has?")
	if code != 0 {
		t.Fatalf("exit code %d after SIGTERM; want 0.\n%s", code, p.Transcript())
	}

	events := p.Log().Events()
	stopped, exited := p.Log().Index("ticker stopped"), p.Log().Index("exited")
	switch {
	case stopped < 0:
		t.Fatalf("the worker never logged \"ticker stopped\"; want it to stop on shutdown, say so, and only then the program to exit.\n"+
			"Either the worker never stops (a loop over t.C never ends, since Stop does not close the channel: select on ctx.Done() and t.C, "+
			"log \"ticker stopped\" and return), or run returned before the worker got to it (wait for it with a sync.WaitGroup).\n%s", p.Transcript())
	case exited < 0:
		t.Fatalf("the program never logged \"exited\"; log it as the last thing run does.\n%s", p.Transcript())
	case exited < stopped:
		t.Fatalf("\"exited\" was logged before \"ticker stopped\"; want the worker stopped first.\n"+
			"run returned while the worker was still running: wait for it (sync.WaitGroup) before logging \"exited\".\n%s", p.Transcript())
	}
	for _, ev := range events[stopped+1:] {
		if ev.Msg() == "tick" {
			t.Fatalf("the worker ticked again after \"ticker stopped\"; want no tick once it has stopped.\n"+
				"Return from the worker's loop right after logging \"ticker stopped\".\n%s", p.Transcript())
		}
	}
}

// The two in-process tests below call run directly and count goroutines with
// goleak, which sees every goroutine of the test binary. So they do not call
// t.Parallel: Go runs them one after another before any parallel test
// starts, and nothing else is running to blur the count.

// TestNoGoroutineOutlivesRun: run, called in-process the way a test or a
// bigger program would call it, returns once its context is cancelled, its
// worker having said "ticker stopped" first, and leaves the goroutine count
// where it was before run started.
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
		t.Fatalf("%v; want a tick every 20ms.\n%s", err, transcript(log))
	}
	cancel()
	select {
	case <-returned:
	case <-time.After(returnBound):
		t.Fatalf("run had not returned %v after its context was cancelled; want it to return at once.\n"+
			"It waits for a worker that does not stop: in the worker's loop, select on ctx.Done() as well as t.C, and return.\n%s",
			returnBound, transcript(log))
	}

	// A run that does not wait may leave the worker to log its last line
	// after run has returned, if at all; give it the time to.
	if _, err := log.WaitFor("ticker stopped", time.Second, nil); err != nil {
		t.Fatalf("%v; want the worker to log it when ctx is cancelled, then return.\n"+
			"A loop over t.C never ends, even after t.Stop(): select on ctx.Done() as well as t.C.\n%s", err, transcript(log))
	}
	if !log.Has("exited") {
		t.Fatalf("run never logged \"exited\"; log it as the last thing run does.\n%s", transcript(log))
	}
	if log.Index("exited") < log.Index("ticker stopped") {
		t.Fatalf("run logged \"exited\" before its worker logged \"ticker stopped\"; want the worker stopped first.\n"+
			"run did not wait for the worker: start it with a sync.WaitGroup (wg.Go) and call wg.Wait before logging \"exited\".\n%s",
			transcript(log))
	}
	if code != 0 {
		t.Fatalf("run returned %d after a clean shutdown; want 0.\n%s", code, transcript(log))
	}
	if err := goleak.Find(baseline); err != nil {
		t.Fatalf("goroutines that run started were still there after it returned; want none.\n"+
			"Each one must end on shutdown, and run must wait for it.\n%v\n%s", err, transcript(log))
	}
}

// TestShutdownDoesNotWaitForNextTick: a worker that ticks rarely (-tick 1h,
// like an hourly cache refresh) still stops as soon as shutdown starts, not
// at its next tick. An orchestrator does not wait an hour: it kills the
// process when the grace period ends.
func TestShutdownDoesNotWaitForNextTick(t *testing.T) {
	idle := startIdleRun(t)
	idle.cancel()
	select {
	case <-idle.returned:
	case <-time.After(returnBound):
		t.Fatalf("run had not returned %v after its context was cancelled, with -tick 1h; want it to return at once, not at the next tick.\n"+
			"The worker notices the shutdown only when a tick arrives: a loop over t.C that checks ctx.Err() after each tick sleeps until the next one, an hour here. "+
			"Select on ctx.Done() and t.C together, so that either one wakes the worker.\n%s", returnBound, transcript(idle.log))
	}
	if _, err := idle.log.WaitFor("ticker stopped", time.Second, nil); err != nil {
		t.Fatalf("%v; want the worker to log it as soon as ctx is cancelled, even an hour before its next tick.\n"+
			"A loop over t.C never ends, even after t.Stop(): select on ctx.Done() as well as t.C, and wait for the worker before run returns.\n%s", err, transcript(idle.log))
	}
	if idle.log.Index("exited") < idle.log.Index("ticker stopped") {
		t.Fatalf("run logged \"exited\" before its worker logged \"ticker stopped\"; want the worker stopped first.\n%s", transcript(idle.log))
	}
}

// TestWorkerWaitsBetweenTicks: between ticks the worker waits, blocked in
// its select, and uses no CPU. A select with a default case never blocks:
// the loop spins, and one CPU core is gone for as long as the program runs,
// slowing every request it serves. The test looks at the state of run's
// goroutines while the program is idle (-tick 1h, no request): a goroutine
// that waits is parked, one that spins is always running or about to.
func TestWorkerWaitsBetweenTicks(t *testing.T) {
	idle := startIdleRun(t)
	defer idle.stop(t)

	poll := time.NewTicker(10 * time.Millisecond)
	defer poll.Stop()
	deadline := time.After(idleBound)
	for {
		busy := busyGoroutines()
		if len(busy) == 0 {
			return
		}
		select {
		case <-poll.C:
		case <-deadline:
			t.Fatalf("for %v, while the program was idle (-tick 1h, no request), a goroutine of run was never waiting: it was running every time the test looked; want every goroutine blocked until something happens.\n"+
				"A select with a default case never blocks, so the loop around it spins and burns a CPU core for as long as the program lives. "+
				"Drop the default case: select on ctx.Done() and t.C only, and let it wait.\n--- the goroutine ---\n%s\n%s", idleBound, busy[0], transcript(idle.log))
		}
	}
}

// idleRun is run called in-process with a tick that never comes during a
// test (-tick 1h), once it is listening.
type idleRun struct {
	log      *labtest.EventLog
	cancel   context.CancelFunc
	returned chan struct{}
}

func startIdleRun(t *testing.T) *idleRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &idleRun{log: labtest.NewEventLog(), cancel: cancel, returned: make(chan struct{})}
	go func() {
		defer close(r.returned)
		run(ctx, []string{"-addr", "127.0.0.1:0", "-tick", "1h", "-log-format", "json"}, io.Discard, r.log)
	}()
	if _, err := r.log.WaitFor("listening", labtest.StartBound, r.returned); err != nil {
		cancel()
		t.Fatalf("%v; want run to listen on -addr 127.0.0.1:0.\n%s", err, transcript(r.log))
	}
	return r
}

// stop cancels run's context and waits for it to return, so that the test
// leaves nothing behind.
func (r *idleRun) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case <-r.returned:
	case <-time.After(returnBound):
		t.Errorf("run had not returned %v after its context was cancelled; want it to return at once.\n%s", returnBound, transcript(r.log))
	}
}

// busyGoroutines is the stack of every goroutine of this package's code
// (with a frame in this package) that is running or ready to run, other than the
// caller's own. In an idle program there should be none: each waits in a
// select, a channel receive or for network input.
func busyGoroutines() []string {
	pkg := labtest.PackagePath(run)
	var busy []string
	for _, g := range labtest.OtherGoroutines() {
		if (g.State == "running" || g.State == "runnable") && strings.Contains(g.Stack, "\n"+pkg+".") {
			busy = append(busy, g.Stack)
		}
	}
	return busy
}

// TestRunWaitsForTickerWhenServerFails: when the server cannot start (its
// address is taken), run stops its worker, waits for it, and only then
// returns 1. A server failure ends the program as surely as a signal does,
// and the worker must not outlive run on that path either.
//
// The worker's last step is made slow: a slow log holds its last line,
// "ticker stopped", for a while, as a log shipper under load or a real
// worker's last flush would. Two runs go at once, one held for shortHold and
// one for longHold: a run that waits returns just after each hold ends, so
// its return follows its worker's. A run that sleeps a fixed time instead
// returns at the same moment in both, which is either inside the long hold
// or long after the short one has ended.
func TestRunWaitsForTickerWhenServerFails(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("cannot take a port for the test: %v", err)
	}
	defer taken.Close()
	baseline := goleak.IgnoreCurrent()

	runs := []*failingRun{
		startFailingRun(taken.Addr().String(), shortHold),
		startFailingRun(taken.Addr().String(), longHold),
	}
	for _, r := range runs {
		r.check(t)
	}
	if err := goleak.Find(baseline); err != nil {
		t.Fatalf("goroutines that run started were still there after it returned on a server failure; want none.\n%v\n%s", err, transcript(runs[0].sink.log))
	}
}

// failingRun is one call of run whose address is taken, behind a slow sink.
type failingRun struct {
	sink       *slowSink
	returned   chan struct{}
	returnedAt time.Time // valid once returned is closed
	code       int
}

func startFailingRun(addr string, hold time.Duration) *failingRun {
	r := &failingRun{returned: make(chan struct{})}
	r.sink = newSlowSink(r.returned, hold)
	go func() {
		defer close(r.returned)
		r.sink.runner.Store(labtest.GoroutineID())
		// The context is never cancelled: no signal comes, only the failure.
		r.code = run(context.Background(), []string{"-addr", addr, "-tick", "20ms", "-log-format", "json"}, io.Discard, r.sink)
		r.returnedAt = time.Now()
	}()
	return r
}

func (r *failingRun) check(t *testing.T) {
	t.Helper()
	log, hold := r.sink.log, r.sink.hold
	select {
	case <-r.returned:
	case <-time.After(returnBound):
		t.Fatalf("run had not returned %v after the server failed to start; want it to return 1 within about %v.\n"+
			"It is waiting for a worker that does not stop: either nothing cancels the worker's context on this path, or the worker does not watch ctx.Done(). "+
			"Cancel before you wait: deferred calls run last in, first out, so defer wg.Wait() before you defer the cancel. "+
			"(Or run sleeps a fixed time instead of waiting for the worker: wait with wg.Wait, which takes as long as the worker does and no longer.)\n%s", returnBound, hold, transcript(log))
	}

	if _, err := log.WaitFor("ticker stopped", time.Second, nil); err != nil {
		t.Fatalf("%v; want the worker stopped when the server fails, not only on a signal.\n"+
			"Give the worker a context of its own (context.WithCancel) and defer its cancel, so every way out of run stops it.\n%s",
			err, transcript(log))
	}
	if r.sink.writtenByRun.Load() {
		t.Fatalf("\"ticker stopped\" was logged by run itself, from the goroutine that called run, not by the worker; want the worker to log it as it leaves its loop.\n"+
			"Only the worker knows when it has stopped: a run that says so for it, without waiting, reports a stop that may not have happened yet. "+
			"Log \"ticker stopped\" in the worker, and in run wait for it (wg.Wait) on every way out.\n%s", transcript(log))
	}
	if r.sink.returnedWhileHeld.Load() {
		t.Fatalf("run returned while its worker was still writing its last line (\"ticker stopped\", held %v by a slow log); want run to return only after the worker has.\n"+
			"Cancelling the worker's context only asks it to stop, and a fixed time.Sleep guesses how long it takes. Start it with a sync.WaitGroup (wg.Go) and wait for it (wg.Wait) "+
			"on every way out of run: in main, returning ends the process and kills whatever the worker was doing.\n%s", hold, transcript(log))
	}
	if late := r.returnedAt.Sub(r.sink.releasedAt()); late > promptBound {
		t.Fatalf("run returned %v after its worker had written its last line (held %v by a slow log); want it to return as soon as the worker has (within %v).\n"+
			"run waits a fixed time instead of for the worker: a time.Sleep is too short when the worker is slow and too long when it is quick. "+
			"Wait for the worker itself (sync.WaitGroup: wg.Go, then wg.Wait).\n%s", late.Round(time.Millisecond), hold, promptBound, transcript(log))
	}
	if r.code != 1 {
		t.Fatalf("run returned %d when its address was taken; want 1.\n%s", r.code, transcript(log))
	}
}

// TestBadFlagsExitTwo: a mistake on the command line is a usage error: one
// line that says what is wrong, and exit code 2, before anything listens.
func TestBadFlagsExitTwo(t *testing.T) {
	t.Parallel()
	labtest.ExpectUsageErrors(t, [][]string{
		{"-delay", "-1s"},
		{"-delay", "soon"},
		{"-shutdown-timeout", "-1s"},
		// time.NewTicker panics on an interval that is not positive.
		{"-tick", "0s"},
		{"-tick", "-5s"},
		{"-tick", "often"},
		{"-addr", "8080"},
		{"-log-format", "xml"},
	})
}

// waitForTicks waits until the program has logged n "tick" events. The
// event log only waits for a first event, so this polls its count.
func waitForTicks(t *testing.T, p *labtest.Program, n int, within time.Duration) {
	t.Helper()
	poll := time.NewTicker(5 * time.Millisecond)
	defer poll.Stop()
	deadline := time.After(within)
	for p.Log().Count("tick") < n {
		select {
		case <-poll.C:
		case <-p.Done():
			if p.Log().Count("tick") >= n {
				return
			}
			t.Fatalf("the program exited after %d \"tick\" events; want it to keep ticking until the signal.\n%s", p.Log().Count("tick"), p.Transcript())
		case <-deadline:
			t.Fatalf("the program logged %d \"tick\" events in %v; want at least %d (one every -tick).\n%s", p.Log().Count("tick"), within, n, p.Transcript())
		}
	}
}

const (
	// idleBound is how long TestWorkerWaitsBetweenTicks looks for a moment
	// when every goroutine of run is waiting. A correct worker waits from a
	// few microseconds after it starts; one that spins never does.
	idleBound = time.Second
	// returnBound is how long run may take to return in the in-process
	// tests. A correct run needs milliseconds (longHold when its log is
	// slow); the rest is room for a busy machine under -race.
	returnBound = 3 * time.Second
	// shortHold and longHold are how long the slow sink holds back the
	// worker's last line in the two runs of
	// TestRunWaitsForTickerWhenServerFails.
	shortHold = 200 * time.Millisecond
	longHold  = 1200 * time.Millisecond
	// promptBound is how long after its worker's last line a run may
	// return. A run that waits needs a goroutine switch or two; the rest is
	// room for a busy machine. A run that sleeps a fixed time S returns
	// within it only if S < shortHold+promptBound, and then it returns
	// during longHold: the two windows do not meet, whatever S is, with
	// longHold-shortHold-promptBound to spare.
	promptBound = 500 * time.Millisecond
)

// slowSink is run's standard error in TestRunWaitsForTickerWhenServerFails:
// an event log behind a slow writer, like a log shipper under load. It holds
// the worker's last line, "ticker stopped", until run returns or hold has
// passed. A run that waits for its worker cannot return while the line is
// held, so it returns just after the hold. A run that does not wait returns
// while the worker is on its way to that write or inside it, and the sink
// notices. Without the hold the worker's last write takes microseconds, and
// such a run would be caught only when the scheduler happened to let it win
// the race. The sink also notes which goroutine writes the line: run's own
// (runner) means that run logged it for the worker.
//
// This works on the failure path because run logs nothing after the worker's
// last line there. On the signal path run logs "exited" afterwards, and slog
// writes one line at a time (a lock in the handler), so that line would queue
// behind the held one, and run could not return early even if it did not
// wait.
type slowSink struct {
	log               *labtest.EventLog
	hold              time.Duration
	returned          <-chan struct{}
	runner            atomic.Uint64 // the goroutine that calls run
	writtenByRun      atomic.Bool
	returnedWhileHeld atomic.Bool
	released          atomic.Int64 // when the held line was let through, in Unix nanoseconds
}

func newSlowSink(returned <-chan struct{}, hold time.Duration) *slowSink {
	return &slowSink{log: labtest.NewEventLog(), hold: hold, returned: returned}
}

func (s *slowSink) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte(`"msg":"ticker stopped"`)) {
		if labtest.GoroutineID() == s.runner.Load() {
			s.writtenByRun.Store(true)
		}
		select {
		case <-s.returned:
			s.returnedWhileHeld.Store(true)
		case <-time.After(s.hold):
		}
		s.released.CompareAndSwap(0, time.Now().UnixNano())
	}
	return s.log.Write(p)
}

// releasedAt is when the held line was let through (the zero time if never).
func (s *slowSink) releasedAt() time.Time {
	if ns := s.released.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

// transcript is what run logged, for failure messages. A worker that never
// stops ticks on while the test waits, so each run of "tick" lines is cut
// down to its first line and a count.
func transcript(log *labtest.EventLog) string {
	var b strings.Builder
	b.WriteString("--- what run logged ---\n")
	ticks := 0
	flush := func() {
		if ticks > 1 {
			fmt.Fprintf(&b, "(%d more \"tick\" lines)\n", ticks-1)
		}
		ticks = 0
	}
	for line := range strings.Lines(log.Text()) {
		if strings.Contains(line, `"msg":"tick"`) {
			ticks++
			if ticks > 1 {
				continue
			}
		} else {
			flush()
		}
		b.WriteString(line)
	}
	flush()
	return b.String()
}
