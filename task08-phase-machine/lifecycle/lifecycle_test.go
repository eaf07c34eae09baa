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
	"strings"
	"sync"
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

// TestOverrunningPhaseIsLeftBehind: a phase that ignores its context and
// does not return by its deadline does not hold up the shutdown: Shutdown
// stops waiting for it at its deadline, runs the next phase, and reports it
// with an error that names it and wraps context.DeadlineExceeded.
func TestOverrunningPhaseIsLeftBehind(t *testing.T) {
	t.Parallel()
	const timeout = 200 * time.Millisecond
	// The stuck phase is let go when the test ends, so that its goroutine
	// ends too (goleak checks).
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })

	lc := lifecycle.New(timeout)
	var j journal
	add(t, lc, "database", j.phase("database", nil))
	add(t, lc, "worker", func(context.Context) error {
		j.record("worker")
		<-release // stuck: it never looks at its context
		return nil
	})
	add(t, lc, "http server", j.phase("http server", nil))

	start := time.Now()
	err := shutdown(t, lc, context.Background())
	took := time.Since(start)

	if got := j.ran(); !slices.Equal(got, []string{"http server", "worker", "database"}) {
		t.Fatalf("the phases that ran were %q; want \"database\" to run too, once \"worker\" was past its %v.", got, timeout)
	}
	if took < timeout {
		t.Fatalf("Shutdown returned after %v; the stuck phase should have been given its full %v first.", took, timeout)
	}
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(fmt.Sprint(err), "worker") {
		t.Fatalf("Shutdown returned %v; want an error that names \"worker\" and wraps context.DeadlineExceeded: "+
			"the phase did not finish in time.", err)
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
// start and end, in the order they run, with its error if it failed.
func TestObserversHearEveryPhase(t *testing.T) {
	t.Parallel()
	var a, b recordingObserver
	lc := lifecycle.New(time.Second, &a, &b)
	var j journal
	add(t, lc, "database", j.phase("database", nil))
	add(t, lc, "worker", j.phase("worker", errBroken))

	shutdown(t, lc, context.Background())

	want := []string{"started worker", "done worker: " + errBroken.Error(), "started database", "done database"}
	for _, o := range []*recordingObserver{&a, &b} {
		if got := o.heard(); !slices.Equal(got, want) {
			t.Fatalf("an observer heard %q; want %q.\n"+
				"Call PhaseStarted before each phase and PhaseDone after it, with its error, on every observer.", got, want)
		}
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
	mu    sync.Mutex
	lines []string
}

func (o *recordingObserver) PhaseStarted(phase string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.lines = append(o.lines, "started "+phase)
}

func (o *recordingObserver) PhaseDone(phase string, _ time.Duration, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	line := "done " + phase
	if err != nil {
		line += ": " + err.Error()
	}
	o.lines = append(o.lines, line)
}

func (o *recordingObserver) heard() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.lines)
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
}

// panicScenario runs three phases, the middle one of which panics, and
// prints what happened. It is the whole of the child process.
func panicScenario() {
	lc := lifecycle.New(time.Second)
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

	res := panicResult{Ran: j.ran()}
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

// firstLines is the first n lines of s: a panic's stacks can be long.
func firstLines(s string, n int) string {
	lines := strings.SplitAfter(s, "\n")
	if len(lines) > n {
		lines = append(lines[:n], "...\n")
	}
	return strings.Join(lines, "")
}
