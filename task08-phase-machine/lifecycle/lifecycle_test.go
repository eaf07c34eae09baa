package lifecycle_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"gracefulshutdown.lab/task08-phase-machine/lifecycle"
)

// TestMain checks that no test leaves a goroutine behind. In a process that
// TestPanickingPhaseIsReported starts, it runs that test's scenario instead.
func TestMain(m *testing.M) {
	if os.Getenv(panicChildEnv) == "1" {
		panicScenario()
		return
	}
	goleak.VerifyTestMain(m)
}

// The phases of these tests are named after the program's: added in
// start-up order, database first.
var startUpOrder = []string{"database", "worker", "http server"}

// errBroken is what a failing phase returns.
var errBroken = errors.New("broken pipe to the database")

// TestPhasesRunInReverseOrder: three phases, added in start-up order, run
// last in, first out, each exactly once, and a shutdown in which every phase
// succeeded returns nil.
func TestPhasesRunInReverseOrder(t *testing.T) {
	t.Parallel()
	lc := lifecycle.New(time.Second)
	var j journal
	for _, name := range startUpOrder {
		add(t, lc, name, j.phase(name, nil))
	}

	err := shutdown(t, lc, context.Background())

	want := []string{"http server", "worker", "database"}
	if got := j.ran(); !slices.Equal(got, want) {
		t.Fatalf("the phases ran in the order %q; want %q, the reverse of the order they were added in.\n"+
			"The last phase added stops first, like deferred calls: walk the phases from the end (slices.Backward).", got, want)
	}
	if err != nil {
		t.Fatalf("Shutdown returned %q when every phase succeeded; want nil.", err)
	}
}

// TestEachPhaseGetsTheDefaultTimeout: every phase gets a deadline of its
// own, the default timeout from the moment it starts, not one deadline
// shared by all: a phase that used up its time leaves the next one its
// full share.
func TestEachPhaseGetsTheDefaultTimeout(t *testing.T) {
	t.Parallel()
	const timeout = 200 * time.Millisecond
	lc := lifecycle.New(timeout)
	first, second := newProbe(t, timeout), newProbe(t, timeout)
	add(t, lc, "database", second.phase)
	add(t, lc, "worker", first.phase)

	err := shutdown(t, lc, context.Background())

	for _, p := range []struct {
		name string
		*probe
	}{{"worker", first}, {"database", second}} {
		p.expectDeadline(t, p.name, timeout)
	}
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(fmt.Sprint(err), "worker") || !strings.Contains(fmt.Sprint(err), "database") {
		t.Fatalf("both phases ran out of time, and Shutdown returned %v; want an error that names both and wraps context.DeadlineExceeded.", err)
	}
}

// TestTimeoutOptionOverridesTheDefault: a phase added with Timeout(d) gets d
// instead of the default, shorter or longer, and Timeout(0) means no
// deadline of its own.
func TestTimeoutOptionOverridesTheDefault(t *testing.T) {
	t.Parallel()
	const (
		defaultTimeout = time.Minute
		shorter        = 200 * time.Millisecond
		longer         = time.Hour
	)
	lc := lifecycle.New(defaultTimeout)
	byDefault, short, long, none := newProbe(t, 0), newProbe(t, shorter), newProbe(t, 0), newProbe(t, 0)
	add(t, lc, "database", byDefault.phase)
	add(t, lc, "worker", short.phase, lifecycle.Timeout(shorter))
	add(t, lc, "cache", long.phase, lifecycle.Timeout(longer))
	add(t, lc, "tracer", none.phase, lifecycle.Timeout(0))

	shutdown(t, lc, context.Background())

	none.expectNoDeadline(t, "tracer")
	long.expectDeadline(t, "cache", longer)
	short.expectDeadline(t, "worker", shorter)
	byDefault.expectDeadline(t, "database", defaultTimeout)
}

// TestNoPhaseOutlastsTheShutdownDeadline: a phase's deadline is
// its own timeout, unless the context passed to Shutdown ends sooner: the
// whole shutdown has a budget, and no phase may outlast it.
func TestNoPhaseOutlastsTheShutdownDeadline(t *testing.T) {
	t.Parallel()
	const budget, shortPhase = time.Minute, 200 * time.Millisecond
	lc := lifecycle.New(time.Hour)
	long, short := newProbe(t, 0), newProbe(t, shortPhase)
	add(t, lc, "database", long.phase)
	add(t, lc, "worker", short.phase, lifecycle.Timeout(shortPhase))

	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()
	shutdownDeadline, _ := ctx.Deadline()
	shutdown(t, lc, ctx)

	short.expectDeadline(t, "worker", shortPhase)
	if deadline, ok := long.seen(); !ok || deadline.After(shutdownDeadline) {
		t.Fatalf("phase \"database\" (timeout 1h) got %s; want the deadline of Shutdown's context, %v from the call, which comes first.\n"+
			"Derive each phase's context from the one Shutdown got: context.WithTimeout(ctx, timeout) keeps the parent's deadline "+
			"when it is the earlier one. A context from context.Background() forgets the budget of the whole shutdown.",
			long.describe(), budget)
	}
}

// TestFailedPhaseDoesNotStopTheRest: phases that return an error do not end
// the shutdown: every other phase still runs, and Shutdown returns one error
// that wraps each failure and names each phase that failed, and only those.
func TestFailedPhaseDoesNotStopTheRest(t *testing.T) {
	t.Parallel()
	errTimeout := errors.New("server drain timed out")
	lc := lifecycle.New(time.Second)
	var j journal
	add(t, lc, "database", j.phase("database", errBroken))
	add(t, lc, "worker", j.phase("worker", nil))
	add(t, lc, "http server", j.phase("http server", errTimeout))

	err := shutdown(t, lc, context.Background())

	if got := j.ran(); len(got) != 3 {
		t.Fatalf("the phases that ran were %q; want all three to run, although two of them failed.\n"+
			"A failed phase must not end the shutdown: the ones after it still hold things to release. "+
			"Note the error and go on to the next phase.", got)
	}
	switch {
	case err == nil:
		t.Fatalf("Shutdown returned nil when two phases failed; want an error.")
	case !errors.Is(err, errTimeout) || !errors.Is(err, errBroken):
		t.Fatalf("Shutdown returned %q; want one error that wraps both failures (errors.Is finds %q and %q).\n"+
			"Wrap each with %%w and combine them with errors.Join.", err, errTimeout, errBroken)
	case !strings.Contains(err.Error(), "http server") || !strings.Contains(err.Error(), "database"):
		t.Fatalf("Shutdown returned %q; want it to name both phases that failed, \"http server\" and \"database\", "+
			"e.g. fmt.Errorf(\"phase %%q: %%w\", name, err).", err)
	case strings.Contains(err.Error(), "worker"):
		t.Fatalf("Shutdown returned %q, which names \"worker\"; that phase succeeded.", err)
	}
}

// TestOverrunningPhaseIsLeftBehind: phases that ignore their context and
// do not return by their deadline do not hold up the shutdown: Shutdown
// stops waiting for each shortly after its deadline (a leeway of a tenth of
// a second), runs the next phase, and reports each with an error that names
// it and wraps context.DeadlineExceeded. Several of them in a row make a
// leeway that is too long add up to something a test can see.
func TestOverrunningPhaseIsLeftBehind(t *testing.T) {
	t.Parallel()
	const timeout, leeway = 25 * time.Millisecond, 100 * time.Millisecond
	stuck := []string{"worker", "cache", "producer", "tracer", "queue", "scheduler"}
	// Each stuck phase is let go when the test ends, so that its goroutine
	// ends too (goleak checks).
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })

	lc := lifecycle.New(timeout)
	var j journal
	add(t, lc, "database", j.phase("database", nil))
	for _, name := range stuck {
		add(t, lc, name, func(context.Context) error {
			j.record(name)
			<-release // stuck: it never looks at its context
			return nil
		})
	}
	add(t, lc, "http server", j.phase("http server", nil))

	// Each stuck phase may cost its deadline and the leeway; a second
	// more over all of them is room for a busy machine, and far less than
	// a leeway of a second would cost each.
	bound := time.Duration(len(stuck))*(timeout+leeway) + time.Second
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- lc.Shutdown(context.Background()) }()
	var err error
	select {
	case err = <-done:
	case <-time.After(bound):
		t.Fatalf("Shutdown had not returned %v after it was called, with %d phases in a row that ignore their %v deadline; "+
			"want it to stop waiting for each within a short leeway (a tenth of a second) after its deadline, about %v each.\n"+
			"Run each phase in a goroutine and, once its deadline has passed, wait a leeway of 100ms for it, not longer: "+
			"every stuck phase spends that leeway out of the whole shutdown's budget. The phases that ran so far: %q.",
			bound, len(stuck), timeout, timeout+leeway, j.ran())
	}
	took := time.Since(start)

	want := append(append([]string{"http server"}, reversed(stuck)...), "database")
	if got := j.ran(); !slices.Equal(got, want) {
		t.Fatalf("the phases that ran were %q; want %q: each stuck phase left behind once past its %v, and \"database\" run too.", got, want, timeout)
	}
	if took < time.Duration(len(stuck))*timeout {
		t.Fatalf("Shutdown returned after %v; the %d stuck phases should each have been given their full %v first.", took, len(stuck), timeout)
	}
	for _, name := range stuck {
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(fmt.Sprint(err), strconv.Quote(name)) {
			t.Fatalf("Shutdown returned %v; want an error that names %q and wraps context.DeadlineExceeded: "+
				"the phase did not finish in time.", err, name)
		}
	}
}

// TestPhaseThatHonoursItsDeadlineIsWaitedFor: a phase that honours its
// context returns just after its deadline, once it has wound up (a server's
// Shutdown returns at the deadline, and then the phase calls Close).
// Shutdown gives it a moment (the leeway) to do so: it reports the phase's
// own error, and the next phase starts only once this one has returned.
func TestPhaseThatHonoursItsDeadlineIsWaitedFor(t *testing.T) {
	t.Parallel()
	const timeout, phases = 20 * time.Millisecond, 8
	errForced := errors.New("drain cut off: connections closed")
	var obs recordingObserver
	lc := lifecycle.New(timeout, &obs)
	var running atomic.Int32
	var overlapped atomic.Value // the name of a phase that started while another was still running
	for i := range phases {
		name := fmt.Sprintf("server %d", i+1)
		add(t, lc, name, func(ctx context.Context) error {
			if running.Add(1) != 1 {
				overlapped.CompareAndSwap(nil, name)
			}
			<-ctx.Done()
			// Winding up: what a phase does once its deadline has passed.
			running.Add(-1)
			return fmt.Errorf("%w: %w", errForced, ctx.Err())
		})
	}

	shutdown(t, lc, context.Background())

	if name := overlapped.Load(); name != nil {
		t.Fatalf("phase %q started while the phase before it was still winding up after its deadline; want each phase "+
			"to start only once the one before has returned.\nA phase that honours its context returns a moment after its "+
			"deadline: once the deadline has passed, wait a short leeway (100ms) for its result before moving on.", name)
	}
	for _, e := range obs.entries() {
		if e.done && !errors.Is(e.err, errForced) {
			t.Fatalf("phase %q returned %q a moment after its deadline, but Shutdown reported %v; want the phase's own error.\n"+
				"Shutdown stopped waiting at the very moment of the deadline, before the phase could return: wait a short "+
				"leeway (100ms) for its result first.", e.phase, errForced, e.err)
		}
	}
}

// TestSpentBudgetStillCallsTheRest: when the deadline of Shutdown's context
// passes during a phase, the phases after it are still called, with a
// context that is already done: a stop function that closes a pool or
// cancels a worker without waiting still releases what it holds.
func TestSpentBudgetStillCallsTheRest(t *testing.T) {
	t.Parallel()
	const budget = 100 * time.Millisecond
	lc := lifecycle.New(time.Hour)
	var j journal
	for _, name := range startUpOrder[:2] {
		add(t, lc, name, j.phase(name, nil))
	}
	add(t, lc, "http server", func(ctx context.Context) error {
		j.record("http server")
		<-ctx.Done() // a drain that takes the whole budget
		return ctx.Err()
	})

	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()
	err := shutdown(t, lc, ctx)

	if got, want := j.ran(), []string{"http server", "worker", "database"}; !slices.Equal(got, want) {
		t.Fatalf("the shutdown's budget (%v) ran out during the \"http server\" phase, and the phases called were %q; want %q.\n"+
			"Once the budget is spent, the remaining phases are still called, with a context that is already done: "+
			"a stop function that closes or cancels without waiting still releases what it holds, and a phase that is "+
			"skipped releases nothing (the worker runs on, the database's sessions linger).", budget, got, want)
	}
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(fmt.Sprint(err), "http server") {
		t.Fatalf("Shutdown returned %v; want an error that names \"http server\" and wraps context.DeadlineExceeded.", err)
	}
}

// TestPanickingPhaseIsReported: a phase that panics does not crash the
// program: the panic is recovered, the next phase still runs, and Shutdown
// reports it as a *lifecycle.PanicError, with the panic's value and the
// stack where it happened, in an error that names the phase.
//
// A panic that is not recovered ends the whole process, so the scenario
// runs in a process of its own (this test binary, started again), and this
// test reads what it printed.
func TestPanickingPhaseIsReported(t *testing.T) {
	t.Parallel()
	res := runPanicScenario(t)
	switch {
	case !slices.Equal(res.Ran, []string{"http server", "worker", "database"}):
		t.Fatalf("the phases that ran were %q; want \"database\" to run too, after \"worker\" panicked.", res.Ran)
	case res.Err == "":
		t.Fatalf("Shutdown returned nil after the \"worker\" phase panicked; want an error.")
	case !strings.Contains(res.Err, "worker") || !strings.Contains(res.Err, panicValue):
		t.Fatalf("Shutdown returned %q; want it to name the phase, \"worker\", and the panic's value, %q.", res.Err, panicValue)
	case !res.IsPanicError:
		t.Fatalf("Shutdown returned %q, but errors.As finds no *lifecycle.PanicError in it; want the recovered panic "+
			"reported as &lifecycle.PanicError{Value: v, Stack: debug.Stack()}, wrapped with the phase's name.", res.Err)
	case res.Value != panicValue:
		t.Fatalf("the PanicError's Value is %q; want what the phase passed to panic, %q.", res.Value, panicValue)
	case !res.HasStack:
		t.Fatalf("the PanicError's Stack is empty; want the stack where the phase panicked (debug.Stack(), called in the deferred recover): " +
			"without it, nobody can tell which line of the cleanup code failed.")
	}
}

// runPanicScenario runs panicScenario in a process of its own (this test
// binary, started again) and returns what it printed. It fails the test if
// the panic ended that process.
func runPanicScenario(t *testing.T) panicResult {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatalf("cannot find the test binary: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), panicChildEnv+"=1", "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()

	if strings.Contains(stderr.String(), "panic: "+panicValue) || runErr != nil {
		t.Fatalf("the process ended with %v after the \"worker\" phase panicked; want the panic recovered and reported.\n"+
			"A panic that no one recovers ends the whole program, mid-way through the shutdown, and every phase after it "+
			"is skipped. Run each phase in a goroutine with a deferred recover(), and turn what it returns into a "+
			"*lifecycle.PanicError.\n--- what the process printed ---\n%s%s", runErr, stdout.String(), firstLines(stderr.String(), 15))
	}
	var res panicResult
	if err := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), &res); err != nil {
		t.Fatalf("cannot read the scenario's result (%v) from:\n%s%s", err, stdout.String(), stderr.String())
	}
	return res
}

// TestSecondShutdownRunsNothing: calling Shutdown again (a second signal, a
// deferred call after an explicit one) runs no phase again and returns the
// same result as the first call.
func TestSecondShutdownRunsNothing(t *testing.T) {
	t.Parallel()
	lc := lifecycle.New(time.Second)
	var j journal
	add(t, lc, "database", j.phase("database", nil))
	add(t, lc, "worker", j.phase("worker", errBroken))

	first := shutdown(t, lc, context.Background())
	second := shutdown(t, lc, context.Background())

	if got := j.ran(); len(got) != 2 {
		t.Fatalf("after two calls to Shutdown, the phases that ran were %q; want each to run once.\n"+
			"Remember, under the mutex, that Shutdown has been called; a later call must not run the phases again "+
			"(few stop functions are safe to call twice: closing a channel twice panics).", got)
	}
	if !errors.Is(second, errBroken) || fmt.Sprint(second) != fmt.Sprint(first) {
		t.Fatalf("the first call to Shutdown returned %v, the second %v; want the second to return the same result.\n"+
			"Keep the first call's error, and return it to every later caller.", first, second)
	}
}

// TestConcurrentShutdownsRunThePhasesOnce: many goroutines call Shutdown at
// once. The phases run once, and every call returns only when they are
// done, with the same result.
func TestConcurrentShutdownsRunThePhasesOnce(t *testing.T) {
	t.Parallel()
	const callers = 20
	release := make(chan struct{})
	started := make(chan struct{})
	var once sync.Once
	lc := lifecycle.New(10 * time.Second)
	var j journal
	add(t, lc, "database", j.phase("database", nil))
	add(t, lc, "worker", func(context.Context) error {
		j.record("worker")
		once.Do(func() { close(started) })
		<-release
		return errBroken
	})

	type result struct {
		err           error
		whileReleased bool // the call returned after release
	}
	results := make(chan result, callers)
	var mu sync.Mutex
	released := false
	call := func() {
		err := lc.Shutdown(context.Background())
		mu.Lock()
		defer mu.Unlock()
		results <- result{err, released}
	}
	go call()
	select {
	case <-started:
	case <-time.After(returnBound):
		t.Fatalf("the \"worker\" phase had not started %v after the first call to Shutdown.", returnBound)
	}
	var calling sync.WaitGroup
	for range callers - 1 {
		calling.Add(1)
		go func() {
			calling.Done()
			call()
		}()
	}
	calling.Wait()
	// The scenario is "calls made while the phases are running". A call that
	// does not wait for the running one comes back at once: keep the phase
	// running for a short window in which such a call shows itself.
	select {
	case r := <-results:
		t.Fatalf("a call to Shutdown returned %v while the first call was still running its phases; "+
			"want every call to wait until the phases are done.", r.err)
	case <-time.After(20 * time.Millisecond):
	}
	mu.Lock()
	released = true
	mu.Unlock()
	close(release)

	for i := range callers {
		select {
		case r := <-results:
			if !r.whileReleased {
				t.Fatalf("a call to Shutdown returned %v while the first call was still running its phases; "+
					"want every call to wait until the phases are done.", r.err)
			}
			if !errors.Is(r.err, errBroken) {
				t.Fatalf("call %d of %d to Shutdown returned %v; want every call to return the first call's result, which wraps %q.\n"+
					"A call made while another is running must wait for it (a channel the first call closes when it is done) "+
					"and then return the same error.", i+1, callers, r.err, errBroken)
			}
		case <-time.After(returnBound):
			t.Fatalf("only %d of %d calls to Shutdown had returned %v after the phases were done; want all of them.", i, callers, returnBound)
		}
	}
	if got := j.ran(); !slices.Equal(got, []string{"worker", "database"}) {
		t.Fatalf("the phases that ran were %q; want each to run once however many goroutines call Shutdown.", got)
	}
}

// TestAddAfterShutdownStartedIsRefused: once Shutdown has been called, Add
// returns an error that wraps lifecycle.ErrShutdownStarted, whether it is
// called while the phases are running or after, and the phase never runs.
func TestAddAfterShutdownStartedIsRefused(t *testing.T) {
	t.Parallel()
	lc := lifecycle.New(time.Second)
	var j journal
	var during error
	add(t, lc, "database", j.phase("database", nil))
	add(t, lc, "worker", func(context.Context) error {
		j.record("worker")
		// A part that starts while the program is already stopping, say a
		// connection that a request opened during the drain.
		during = lc.Add("late during", j.phase("late during", nil))
		return nil
	})
	shutdown(t, lc, context.Background())
	after := lc.Add("late after", j.phase("late after", nil))
	shutdown(t, lc, context.Background())

	for _, c := range []struct {
		when string
		err  error
	}{{"while Shutdown was running", during}, {"after Shutdown had returned", after}} {
		if !errors.Is(c.err, lifecycle.ErrShutdownStarted) {
			t.Fatalf("Add called %s returned %v; want an error that wraps lifecycle.ErrShutdownStarted.\n"+
				"A phase added then would never run, or run out of order: refuse it, and let the caller stop that part itself.", c.when, c.err)
		}
	}
	if got := j.ran(); !slices.Equal(got, []string{"worker", "database"}) {
		t.Fatalf("the phases that ran were %q; want only the two added before Shutdown.", got)
	}
}

// TestObserversHearEveryPhase: each Observer passed to New hears each phase
// start and end, in the order they run, with its error if it failed: a
// phase that returned an error, one that ran out of time and was left
// behind, and one that panicked (checked in the panic test's child process,
// see TestPanickingPhaseIsReported). Metrics and traces (tasks 15 and 19)
// hang off the observers: a phase they never hear the end of is a phase
// nobody sees fail.
func TestObserversHearEveryPhase(t *testing.T) {
	t.Parallel()
	const timeout = 50 * time.Millisecond
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	var a, b recordingObserver
	lc := lifecycle.New(timeout, &a, &b)
	var j journal
	add(t, lc, "database", j.phase("database", nil))
	add(t, lc, "worker", func(context.Context) error {
		j.record("worker")
		<-release // hung: it never looks at its context
		return nil
	})
	add(t, lc, "http server", j.phase("http server", errBroken))

	shutdown(t, lc, context.Background())

	want := []string{"started http server", "done http server: " + errBroken.Error(), "started worker",
		"done worker: (deadline exceeded)", "started database", "done database"}
	for _, o := range []*recordingObserver{&a, &b} {
		if got := o.heard(); !slices.Equal(got, want) {
			t.Fatalf("an observer heard %q; want %q.\n"+
				"Call PhaseStarted before each phase and PhaseDone after it, with its error, on every observer, from the "+
				"loop in Shutdown, once the phase has returned or Shutdown has stopped waiting for it: a phase that hangs "+
				"past its deadline is reported then, with an error that wraps context.DeadlineExceeded.", got, want)
		}
	}

	res := runPanicScenario(t)
	wantPanic := []string{"started http server", "done http server", "started worker", "done worker: (panic)",
		"started database", "done database"}
	if !slices.Equal(res.Heard, wantPanic) {
		t.Fatalf("with a \"worker\" phase that panics, an observer heard %q; want %q.\n"+
			"The recovered panic is the phase's result: call PhaseDone with it (the *lifecycle.PanicError) like any other "+
			"error, from the loop in Shutdown.", res.Heard, wantPanic)
	}
}

// returnBound is how long Shutdown may take in these tests: the phases
// return in microseconds, or at deadlines of 50ms. The rest is room for a
// busy machine under -race.
const returnBound = 2 * time.Second

// add adds a phase, failing the test if Add refuses it.
func add(t *testing.T, lc *lifecycle.Lifecycle, name string, stop func(context.Context) error, opts ...lifecycle.Option) {
	t.Helper()
	if err := lc.Add(name, stop, opts...); err != nil {
		t.Fatalf("Add(%q) before any Shutdown returned %v; want nil.", name, err)
	}
}

// shutdown calls lc.Shutdown(ctx) and returns its error, failing the test
// if it has not returned within returnBound.
func shutdown(t *testing.T, lc *lifecycle.Lifecycle, ctx context.Context) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- lc.Shutdown(ctx) }()
	select {
	case err := <-done:
		return err
	case <-time.After(returnBound):
		t.Fatalf("Shutdown had not returned after %v; want it to return once every phase has returned or run out of time.\n"+
			"Is it waiting for a phase that ignores its context? Run each phase in a goroutine and stop waiting at its deadline. "+
			"Or does Add, called from a phase, wait for a mutex that Shutdown holds?", returnBound)
		return nil
	}
}

// journal records which phases ran, in the order they started.
type journal struct {
	mu    sync.Mutex
	names []string
}

func (j *journal) record(name string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.names = append(j.names, name)
}

func (j *journal) ran() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Clone(j.names)
}

// phase is a stop function that records that it ran and returns err.
func (j *journal) phase(name string, err error) func(context.Context) error {
	return func(context.Context) error {
		j.record(name)
		return err
	}
}

// probe is a phase that notes the deadline of the context it gets. If wait
// is not zero, it then waits for that context to end, and returns its
// error; but only if the deadline is about wait away: a probe without a
// deadline, or with one far off, returns at once, so that a wrong answer
// fails the test instead of hanging it.
type probe struct {
	wait    time.Duration
	release chan struct{} // closed when the test ends

	mu          sync.Mutex
	ran         bool
	started     time.Time
	deadline    time.Time
	hasDeadline bool
}

func newProbe(t *testing.T, wait time.Duration) *probe {
	p := &probe{wait: wait, release: make(chan struct{})}
	t.Cleanup(func() { close(p.release) })
	return p
}

func (p *probe) phase(ctx context.Context) error {
	p.mu.Lock()
	p.ran, p.started = true, time.Now()
	p.deadline, p.hasDeadline = ctx.Deadline()
	p.mu.Unlock()
	if p.wait > 0 && p.hasDeadline && time.Until(p.deadline) <= 2*p.wait {
		select {
		case <-ctx.Done():
		case <-p.release:
		}
	}
	return ctx.Err()
}

// seen is the deadline the probe's context had, if any.
func (p *probe) seen() (deadline time.Time, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.deadline, p.ran && p.hasDeadline
}

// describe says what deadline the probe saw, for failure messages.
func (p *probe) describe() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case !p.ran:
		return "no call at all: the phase never ran"
	case !p.hasDeadline:
		return "a context without a deadline"
	default:
		return fmt.Sprintf("a context whose deadline was %v away when it started", p.deadline.Sub(p.started).Round(time.Millisecond))
	}
}

// expectDeadline fails the test unless the probe's context had a deadline
// about timeout after the phase started. A deadline comes from
// context.WithTimeout just before the phase starts, so it is a little less
// than timeout away then, never more; half of timeout leaves ample room for
// a busy machine while telling a deadline of its own from a shared one
// (already spent by the phases before it) or a wrong one.
func (p *probe) expectDeadline(t *testing.T, name string, timeout time.Duration) {
	t.Helper()
	p.mu.Lock()
	left := p.deadline.Sub(p.started)
	ok := p.ran && p.hasDeadline && left > timeout/2 && left <= timeout
	p.mu.Unlock()
	if !ok {
		t.Fatalf("phase %q got %s; want a deadline of its own, %v from when it starts.\n"+
			"Give each phase, just before it runs, a context from context.WithTimeout(ctx, timeout) with its own timeout "+
			"(the default, or the one its Timeout option set), not Shutdown's ctx as it is, nor one deadline shared by every phase.",
			name, p.describe(), timeout)
	}
}

// expectNoDeadline fails the test unless the probe's context had none.
func (p *probe) expectNoDeadline(t *testing.T, name string) {
	t.Helper()
	p.mu.Lock()
	ok := p.ran && !p.hasDeadline
	p.mu.Unlock()
	if !ok {
		t.Fatalf("phase %q, added with Timeout(0) and shut down with a context without a deadline, got %s; "+
			"want no deadline: a timeout of zero means none of its own.", name, p.describe())
	}
}

// recordingObserver is a lifecycle.Observer that notes what it hears.
type recordingObserver struct {
	mu   sync.Mutex
	seen []heardEntry
}

// heardEntry is one call to an Observer.
type heardEntry struct {
	done  bool // PhaseDone, not PhaseStarted
	phase string
	err   error
}

func (o *recordingObserver) PhaseStarted(phase string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.seen = append(o.seen, heardEntry{phase: phase})
}

func (o *recordingObserver) PhaseDone(phase string, _ time.Duration, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.seen = append(o.seen, heardEntry{done: true, phase: phase, err: err})
}

func (o *recordingObserver) entries() []heardEntry {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.seen)
}

// heard is what the observer heard, one line per call: "started worker",
// "done worker", or "done worker: " and the error. An error that wraps
// context.DeadlineExceeded reads "(deadline exceeded)" and a
// *lifecycle.PanicError "(panic)", whatever its text.
func (o *recordingObserver) heard() []string {
	var lines []string
	for _, e := range o.entries() {
		switch {
		case !e.done:
			lines = append(lines, "started "+e.phase)
		case e.err == nil:
			lines = append(lines, "done "+e.phase)
		case errors.Is(e.err, context.DeadlineExceeded):
			lines = append(lines, "done "+e.phase+": (deadline exceeded)")
		default:
			if _, ok := errors.AsType[*lifecycle.PanicError](e.err); ok {
				lines = append(lines, "done "+e.phase+": (panic)")
				continue
			}
			lines = append(lines, "done "+e.phase+": "+e.err.Error())
		}
	}
	return lines
}

// panicChildEnv marks the process that TestPanickingPhaseIsReported starts.
const panicChildEnv = "LIFECYCLE_PANIC_SCENARIO"

// panicValue is what the "worker" phase panics with.
const panicValue = "worker: unlock of unlocked mutex"

// panicResult is what the panic scenario prints, as JSON, for the test.
type panicResult struct {
	Ran          []string
	Err          string
	IsPanicError bool
	Value        string
	HasStack     bool
	Heard        []string // what an observer heard
}

// panicScenario runs three phases, the middle one of which panics, and
// prints what happened. It is the whole of the child process.
func panicScenario() {
	var obs recordingObserver
	lc := lifecycle.New(time.Second, &obs)
	var j journal
	for _, name := range startUpOrder {
		stop := j.phase(name, nil)
		if name == "worker" {
			stop = func(context.Context) error {
				j.record(name)
				panic(panicValue)
			}
		}
		if err := lc.Add(name, stop); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	err := lc.Shutdown(context.Background())

	res := panicResult{Ran: j.ran(), Heard: obs.heard()}
	if err != nil {
		res.Err = err.Error()
	}
	if pe, ok := errors.AsType[*lifecycle.PanicError](err); ok {
		res.IsPanicError = true
		res.Value = fmt.Sprint(pe.Value)
		res.HasStack = len(pe.Stack) > 0
	}
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
}

// reversed is a reversed copy of names.
func reversed(names []string) []string {
	r := slices.Clone(names)
	slices.Reverse(r)
	return r
}

// firstLines is the first n lines of s: a panic's stacks can be long.
func firstLines(s string, n int) string {
	lines := strings.SplitAfter(s, "\n")
	if len(lines) > n {
		lines = append(lines[:n], "...\n")
	}
	return strings.Join(lines, "")
}
