package main

import (
	"context"
	"errors"
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
	spans []span      // every span the provider recorded
	probe *flushProbe // when the provider was flushed and shut down
	code  int         // what shutdown returned
	log   *labtest.EventLog
	start time.Time // just before shutdown was called
}

// traceShutdown builds the program's tracing on a provider that records in
// memory, adds phases to a lifecycle in the order given (the start-up
// order), and runs the program's shutdown with budget and flushTimeout.
func traceShutdown(t *testing.T, budget, flushTimeout time.Duration, phases ...testPhase) traced {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	probe := &flushProbe{}
	provider := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec), sdktrace.WithSpanProcessor(probe))
	tr := newTracing(provider)

	log := labtest.NewEventLog()
	logger := newLogger("json", log)
	lc := lifecycle.New(10*time.Second, phaseLog{logger}, tr)
	for _, p := range phases {
		if err := lc.Add(p.name, p.stop, p.opts...); err != nil {
			t.Fatalf("adding phase %q: %v", p.name, err)
		}
	}
	start := time.Now()
	code := shutdown(lc, tr, budget, flushTimeout, logger, 0)
	// Whatever shutdown did with the provider, this test is done with it;
	// the probe is done noting what the program did.
	probe.stop()
	_ = provider.Shutdown(context.Background())
	return traced{spans: spansFromSDK(rec.Ended()), probe: probe, code: code, log: log, start: start}
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
	if problems := traceProblems(tr.spans, want); len(problems) > 0 {
		t.Fatalf("the trace of the shutdown is not right:\n- %s\nThe spans recorded:\n%s\nWhat the provider saw, in order: %s\n%s",
			strings.Join(problems, "\n- "), describeSpans(tr.spans), tr.probe, tr.log.Text())
	}
}

// TestOneRootSpanAndOneChildPerPhase: a shutdown of three phases is one
// trace: a root span "shutdown" and, as its children, one span per phase,
// named after it, in the order the phases ran (the reverse of the order
// they were added), each carrying its name and duration.
func TestOneRootSpanAndOneChildPerPhase(t *testing.T) {
	t.Parallel()
	tr := traceShutdown(t, 5*time.Second, time.Second, quick("database"), quick("worker"), quick("http server"))
	failTrace(t, tr, []wantPhase{{name: "http server"}, {name: "worker"}, {name: "database"}})
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

// TestTraceKeepsItsShareOfTheBudget: when a phase uses up all the time it
// may, the trace of that shutdown (the one most worth reading) is still
// flushed: the phases get the budget less the flush's share, so the flush
// starts with its share still ahead of it.
func TestTraceKeepsItsShareOfTheBudget(t *testing.T) {
	t.Parallel()
	const budget, flushTimeout = 600 * time.Millisecond, 300 * time.Millisecond
	// Added in start-up order: readiness runs first, then the drain.
	tr := traceShutdown(t, budget, flushTimeout, untilDeadline("http server"), quick("readiness"))

	flush, _, ok := tr.probe.flushed()
	if !ok {
		t.Fatalf("the provider was never flushed nor shut down (it saw: %s), after a drain that held on until its deadline.\n"+
			"If shutdown does flush it: the phases used up the whole budget, so the flush came with a context already done, "+
			"and the provider does nothing then. Give the phases the budget less -trace-flush-timeout (a context.WithTimeout of their own), "+
			"so that the flush keeps its share.\n%s", tr.probe, tr.log.Text())
	}
	if flush.deadline.IsZero() {
		t.Fatalf("the provider's %s got a context without a deadline; want the flush bounded by -trace-flush-timeout, within the budget.\n%s",
			flush.what, tr.log.Text())
	}
	if end := tr.start.Add(budget + 20*time.Millisecond); flush.deadline.After(end) {
		t.Fatalf("the provider's %s got a deadline %v after shutdown was called, past the budget, %v: "+
			"the phases used up the whole budget, and the flush came after it.\n"+
			"Give the phases the budget less -trace-flush-timeout, so that the flush keeps its share within it.\n%s",
			flush.what, flush.deadline.Sub(tr.start).Round(time.Millisecond), budget, tr.log.Text())
	}
	if left := flush.deadline.Sub(flush.at); left < flushTimeout/4 {
		t.Fatalf("the provider's %s came with %v left on its context; want most of its share, -trace-flush-timeout %v.\n"+
			"Give the phases the budget less the flush's share, so that the flush keeps it however long the phases take.\n%s",
			flush.what, left.Round(time.Millisecond), flushTimeout, tr.log.Text())
	}
	if phasesTook := flush.at.Sub(tr.start); phasesTook < budget-flushTimeout-50*time.Millisecond {
		t.Fatalf("the flush began %v after the shutdown started, while the drain held on until its deadline; "+
			"want the phases to get the budget less the flush's share, %v.\n%s", phasesTook.Round(time.Millisecond), budget-flushTimeout, tr.log.Text())
	}
	failTrace(t, tr, []wantPhase{{name: "readiness"}, {name: "http server", failed: true}})
	if tr.code != 1 {
		t.Errorf("shutdown returned %d after the drain ran out of time; want 1.\n%s", tr.code, tr.log.Text())
	}
}
