package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"gracefulshutdown.lab/labtest"
	"gracefulshutdown.lab/task19-tracing/lifecycle"
)

// The tests in this file call the program's own pieces in-process: newTracing,
// as the lifecycle's Observer, and shutdown, the function run ends with. The
// spans go to the SDK's in-memory recorder instead of an exporter, so the
// tests read the trace's structure directly; a probe, a span processor of
// their own, notes when the provider is flushed and shut down, and with what
// deadline.

// testPhase is a phase the in-process tests add to a lifecycle.
type testPhase struct {
	name string
	stop func(context.Context) error
	opts []lifecycle.Option
	// span, if set, is the name of a span that the stop function starts
	// itself, from the context the lifecycle gives it, with a tracer of the
	// shutdown's provider: what an instrumented database or HTTP client does
	// when the program hands it its TracerProvider.
	span string
}

// instrumented is a quick phase whose stop function starts a span of its own,
// named span, from the context it is given.
func instrumented(name, span string) testPhase {
	p := quick(name)
	p.span = span
	return p
}

// quick is a phase that does a little work and succeeds.
func quick(name string) testPhase {
	return testPhase{name: name, stop: func(context.Context) error {
		time.Sleep(5 * time.Millisecond) // the phase's work, so that it lasts
		return nil
	}}
}

// untilDeadline is a phase that holds on until its deadline, like a drain
// whose requests outlast it, then fails with the context's error.
func untilDeadline(name string, opts ...lifecycle.Option) testPhase {
	return testPhase{name: name, opts: opts, stop: func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	}}
}

// traced is what one traced shutdown left behind.
type traced struct {
	spans   []span      // every span the provider recorded
	probe   *flushProbe // when the provider was flushed and shut down
	code    int         // what shutdown returned
	log     *labtest.EventLog
	created time.Time // just after newTracing returned: the program had started
	start   time.Time // just before shutdown was called: the signal
}

// servedFor is how long the program serves between building its tracing and
// the signal. It is the scenario, not a synchronisation: a root span opened
// at start-up, rather than at the signal, starts at least this long before
// the shutdown, whatever the clock's resolution.
const servedFor = 20 * time.Millisecond

// traceShutdown builds the program's tracing on a provider that records in
// memory, adds phases to a lifecycle in the order given (the start-up
// order), and runs the program's shutdown with budget and flushTimeout.
func traceShutdown(t *testing.T, budget, flushTimeout time.Duration, phases ...testPhase) traced {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	probe := &flushProbe{}
	provider := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec), sdktrace.WithSpanProcessor(probe))
	tr := newTracing(provider)

	created := time.Now()

	log := labtest.NewEventLog()
	logger := newLogger("json", log)
	lc := lifecycle.New(10*time.Second, phaseLog{logger}, tr)
	client := provider.Tracer("gracefulshutdown.lab/task19-tracing/test-client")
	for _, p := range phases {
		stop := p.stop
		if p.span != "" {
			stop = func(ctx context.Context) error {
				ctx, s := client.Start(ctx, p.span)
				defer s.End()
				return p.stop(ctx)
			}
		}
		if err := lc.Add(p.name, stop, p.opts...); err != nil {
			t.Fatalf("adding phase %q: %v", p.name, err)
		}
	}
	time.Sleep(servedFor)
	start := time.Now()
	code := shutdown(lc, tr, budget, flushTimeout, logger, 0)
	// Whatever shutdown did with the provider, this test is done with it;
	// the probe is done noting what the program did.
	probe.stop()
	_ = provider.Shutdown(context.Background())
	return traced{spans: spansFromSDK(rec.Ended()), probe: probe, code: code, log: log, created: created, start: start}
}

// flushProbe is a span processor that notes, in order, each span that
// ended and each call to ForceFlush and Shutdown, with the time its context
// had left. The provider calls neither with a context that is already done.
type flushProbe struct {
	mu      sync.Mutex
	calls   []probeCall
	stopped bool // what comes after is the test's own doing
}

type probeCall struct {
	what     string // "end <span name>", "ForceFlush" or "Shutdown"
	at       time.Time
	deadline time.Time // zero if the context had none
}

func (p *flushProbe) note(what string, deadline time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.stopped {
		p.calls = append(p.calls, probeCall{what: what, at: time.Now(), deadline: deadline})
	}
}

func (p *flushProbe) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopped = true
}

func (*flushProbe) OnStart(context.Context, sdktrace.ReadWriteSpan) {}

func (p *flushProbe) OnEnd(s sdktrace.ReadOnlySpan) { p.note("end "+s.Name(), time.Time{}) }

func (p *flushProbe) ForceFlush(ctx context.Context) error {
	deadline, _ := ctx.Deadline()
	p.note("ForceFlush", deadline)
	return nil
}

func (p *flushProbe) Shutdown(ctx context.Context) error {
	deadline, _ := ctx.Deadline()
	p.note("Shutdown", deadline)
	return nil
}

func (p *flushProbe) Calls() []probeCall {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]probeCall(nil), p.calls...)
}

// flushed is the first call that sends the batch (ForceFlush, or Shutdown
// without one), and the calls before it.
func (p *flushProbe) flushed() (flush probeCall, before []string, ok bool) {
	for _, c := range p.Calls() {
		if c.what == "ForceFlush" || c.what == "Shutdown" {
			return c, before, true
		}
		before = append(before, c.what)
	}
	return probeCall{}, before, false
}

func (p *flushProbe) String() string {
	var parts []string
	for _, c := range p.Calls() {
		parts = append(parts, c.what)
	}
	if len(parts) == 0 {
		return "(nothing)"
	}
	return strings.Join(parts, ", ")
}

// failTrace fails the test with what is wrong with the trace, if anything.
func failTrace(t *testing.T, tr traced, want []wantPhase) {
	t.Helper()
	problems := traceProblems(tr.spans, want)
	for _, s := range tr.spans {
		if s.Name == "shutdown" && s.ParentID == "" && s.Start.Before(tr.start) {
			problems = append(problems, fmt.Sprintf("the \"shutdown\" span started %v before shutdown was called, %v after the program built its tracing; "+
				"want it started when the shutdown starts, in shutdown: it measures the shutdown, and one opened at start-up "+
				"lasts the process's whole life (days, in production), which makes its duration useless",
				tr.start.Sub(s.Start).Round(time.Millisecond), s.Start.Sub(tr.created).Round(time.Millisecond)))
		}
	}
	if len(problems) > 0 {
		t.Fatalf("the trace of the shutdown is not right:\n- %s\nThe spans recorded:\n%s\nWhat the provider saw, in order: %s\n%s",
			strings.Join(problems, "\n- "), describeSpans(tr.spans), tr.probe, tr.log.Text())
	}
}

// TestOneRootSpanAndOneChildPerPhase: a shutdown of three phases is one
// trace: a root span "shutdown", started when the shutdown starts, and, as
// its children, one span per phase, named after it, in the order the phases
// ran (the reverse of the order they were added), each carrying its name
// and duration. The database's stop function starts a span of its own from
// the context it is given, as an instrumented client does: that span is in
// the trace too, under the root span.
func TestOneRootSpanAndOneChildPerPhase(t *testing.T) {
	t.Parallel()
	tr := traceShutdown(t, 5*time.Second, time.Second,
		instrumented("database", "close database"), quick("worker"), quick("http server"))
	failTrace(t, tr, []wantPhase{{name: "http server"}, {name: "worker"}, {name: "database", span: "close database"}})
	if tr.code != 0 {
		t.Errorf("shutdown returned %d after every phase succeeded and the trace was flushed; want 0.\n%s", tr.code, tr.log.Text())
	}
}

// TestFailedPhasesAreMarkedAsErrors: a phase that returns an error, one that
// panics and one that overruns its deadline each get a span whose status is
// Error, with the error's text, and an "exception" event; the phases that
// succeed do not; and the root span, since the shutdown failed as a whole,
// is an Error too.
func TestFailedPhasesAreMarkedAsErrors(t *testing.T) {
	t.Parallel()
	tr := traceShutdown(t, 5*time.Second, time.Second,
		quick("database"),
		testPhase{name: "producer", stop: func(context.Context) error { return errors.New("3 messages not delivered") }},
		testPhase{name: "lock", stop: func(context.Context) error { panic("release of a lock we do not hold") }},
		untilDeadline("cache", lifecycle.Timeout(50*time.Millisecond)),
		quick("http server"),
	)
	failTrace(t, tr, []wantPhase{
		{name: "http server"}, {name: "cache", failed: true}, {name: "lock", failed: true},
		{name: "producer", failed: true}, {name: "database"},
	})
	if tr.code != 1 {
		t.Errorf("shutdown returned %d after three phases failed; want 1.\n%s", tr.code, tr.log.Text())
	}
}

// TestProviderIsFlushedAfterTheRootSpanEnds: once the phases have run, the
// root span ends, and only then is the provider flushed and shut down, with
// a context that has a deadline within the shutdown's budget. A span that
// ends after the provider's Shutdown is dropped; a flush without a deadline
// can hold the exit for as long as the exporter keeps retrying.
func TestProviderIsFlushedAfterTheRootSpanEnds(t *testing.T) {
	t.Parallel()
	const budget, flushTimeout = 5 * time.Second, time.Second
	tr := traceShutdown(t, budget, flushTimeout, quick("worker"), quick("http server"))

	flush, before, ok := tr.probe.flushed()
	switch {
	case !ok:
		t.Fatalf("the provider was never flushed nor shut down (it saw: %s).\n"+
			"The batch span processor sends the spans it holds only when its timer fires (every 5 s) or when the provider is flushed: "+
			"call the provider's ForceFlush and Shutdown at the end of shutdown, after the root span has ended.\n%s", tr.probe, tr.log.Text())
	case len(before) == 0 || before[len(before)-1] != "end shutdown":
		t.Fatalf("what the provider saw, in order: %s; want the \"shutdown\" span ended just before the provider is flushed and shut down.\n"+
			"The provider drops a span that ends after its Shutdown: end the root span first, flush last.\n%s", tr.probe, tr.log.Text())
	case flush.deadline.IsZero():
		t.Fatalf("the provider's %s got a context without a deadline; want the shutdown's budget to bound it.\n"+
			"Against a collector that does not answer, the exporter retries for up to a minute by default (and the batch processor "+
			"allows each export 30 s): without a deadline, the process would not exit until then.\n%s", flush.what, tr.log.Text())
	case flush.deadline.After(tr.start.Add(budget + 20*time.Millisecond)):
		t.Fatalf("the provider's %s got a deadline %v after shutdown was called; want it within the shutdown's budget, %v.\n%s",
			flush.what, flush.deadline.Sub(tr.start).Round(time.Millisecond), budget, tr.log.Text())
	}
	failTrace(t, tr, []wantPhase{{name: "http server"}, {name: "worker"}})
	if !tr.log.Has("tracer flushed") {
		t.Errorf("the program never logged \"tracer flushed\" after a flush that succeeded.\n%s", tr.log.Text())
	}
}

// TestTraceKeepsItsShareOfTheBudget: when the drain uses up all the time it
// may, the trace of that shutdown (the one most worth reading) is still
// flushed. The phases get the budget less the flush's share; the flush then
// gets its share, -trace-flush-timeout, and never runs past the budget, even
// when the drain overran its deadline a little (as a server's drain does:
// Shutdown returns at the deadline, then Close cuts what is left, and the
// lifecycle waits for that).
//
// Every bound is read off the deadline the drain itself was given, so none
// depends on how quickly a busy machine runs the test: a correct program
// meets them exactly.
func TestTraceKeepsItsShareOfTheBudget(t *testing.T) {
	t.Parallel()
	const budget, flushTimeout = 1600 * time.Millisecond, 800 * time.Millisecond
	// How long the drain takes past its deadline to close what is left:
	// within the lifecycle's leeway (a tenth of a second), and more than the
	// tolerance below.
	const closeTime = 80 * time.Millisecond
	// How far the flush's deadline may lie past the end of the budget as
	// the drain's deadline shows it: only for a program that makes the
	// phases' context a moment before the budget's.
	const tolerance = 40 * time.Millisecond

	drain := &drainProbe{closeTime: closeTime}
	// Added in start-up order: readiness runs first, then the drain. The
	// drain's own timeout is the whole budget, so that a program that gives
	// the phases no deadline fails here in time, rather than after 10 s.
	tr := traceShutdown(t, budget, flushTimeout,
		testPhase{name: "http server", stop: drain.stop, opts: []lifecycle.Option{lifecycle.Timeout(budget)}},
		quick("readiness"))
	started, deadline, ok := drain.seen()
	if !ok {
		t.Fatalf("the drain's stop function never ran, or its context had no deadline.\n%s", tr.log.Text())
	}

	// The phases' deadline: the budget less the flush's share, counted
	// from the call to shutdown (and so before the drain started).
	if got := deadline.Sub(tr.start); got < budget-flushTimeout || deadline.After(started.Add(budget-flushTimeout)) {
		t.Fatalf("the drain's deadline was %v after shutdown was called; want the budget less the flush's share, %v "+
			"(-shutdown-timeout %v less -trace-flush-timeout %v).\n"+
			"Give the phases their own context.WithTimeout(ctx, budget-flushTimeout), derived from the budget's context, and pass it to lc.Shutdown: "+
			"with the whole budget, the phases can use every second of it, and the flush comes after the budget has ended.\n%s",
			got.Round(time.Millisecond), budget-flushTimeout, budget, flushTimeout, tr.log.Text())
	}
	budgetEnd := deadline.Add(flushTimeout)

	flush, _, ok := tr.probe.flushed()
	switch {
	case !ok:
		t.Fatalf("the provider was never flushed nor shut down (it saw: %s), after a drain that held on until its deadline.\n"+
			"Flush the provider at the end of shutdown, after the root span has ended, with its share of the budget.\n%s", tr.probe, tr.log.Text())
	case flush.what != "ForceFlush":
		t.Fatalf("after a drain that held on until its deadline, the provider's ForceFlush never reached the span processors (what they saw, in order: %s). "+
			"Either ForceFlush was not called, or its context was already done when it was (the provider then returns at once, and sends nothing).\n"+
			"Make the flush's context when the flush starts, from the budget's context: context.WithTimeout(ctx, flushTimeout). "+
			"A context derived from the phases' context ends with theirs, and one made at the signal has spent its %v while the phases ran.\n%s",
			tr.probe, flushTimeout, tr.log.Text())
	case flush.deadline.IsZero():
		t.Fatalf("the provider's ForceFlush got a context without a deadline; want the flush bounded by -trace-flush-timeout, within the budget.\n%s",
			tr.log.Text())
	case flush.deadline.After(budgetEnd.Add(tolerance)):
		t.Fatalf("the provider's ForceFlush got a deadline %v past the end of the budget (the drain's deadline plus -trace-flush-timeout %v), "+
			"after a drain that took %v past its deadline to close what was left.\n"+
			"The phases did get the budget less the flush's share; the flush's own deadline runs past the budget: it counts %v from when the flush starts, "+
			"but is not capped by the budget. Derive it from the budget's context, context.WithTimeout(ctx, flushTimeout) where ctx ends with "+
			"-shutdown-timeout, not from context.Background(): a shutdown that runs past its budget eats into the margin before the orchestrator's SIGKILL.\n%s",
			flush.deadline.Sub(budgetEnd).Round(time.Millisecond), flushTimeout, closeTime, flushTimeout, tr.log.Text())
	case flush.deadline.Before(deadline.Add(flushTimeout / 2)):
		t.Fatalf("the provider's ForceFlush got a deadline only %v after the drain's deadline; want the flush's share, -trace-flush-timeout %v, "+
			"ahead of it once the phases are done.\n%s", flush.deadline.Sub(deadline).Round(time.Millisecond), flushTimeout, tr.log.Text())
	}
	failTrace(t, tr, []wantPhase{{name: "readiness"}, {name: "http server", failed: true}})
	if tr.code != 1 {
		t.Errorf("shutdown returned %d after the drain ran out of time; want 1.\n%s", tr.code, tr.log.Text())
	}
}

// drainProbe is a drain whose requests outlast its deadline: it holds on
// until the deadline, takes closeTime more to close what is left, and fails
// with the context's error. It notes when it started and what deadline it
// was given.
type drainProbe struct {
	closeTime time.Duration

	mu       sync.Mutex
	started  time.Time
	deadline time.Time
	ok       bool
}

func (d *drainProbe) stop(ctx context.Context) error {
	deadline, ok := ctx.Deadline()
	d.mu.Lock()
	d.started, d.deadline, d.ok = time.Now(), deadline, ok
	d.mu.Unlock()
	<-ctx.Done()
	time.Sleep(d.closeTime) // Close, after Shutdown returned at the deadline
	return ctx.Err()
}

func (d *drainProbe) seen() (started, deadline time.Time, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.started, d.deadline, d.ok
}
