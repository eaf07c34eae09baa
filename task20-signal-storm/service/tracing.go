package service

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// The attributes of a phase's span. OpenTelemetry's naming rules: lowercase,
// dot-separated namespaces, and no name that is also a namespace (so
// "shutdown.phase.name", not "shutdown.phase"). Durations are in seconds, as
// a float, as the semantic conventions measure every duration.
const (
	attrPhaseName     = attribute.Key("shutdown.phase.name")
	attrPhaseDuration = attribute.Key("shutdown.phase.duration")
)

// instrumentationName names the tracer, so that a backend can tell which
// code made the spans.
const instrumentationName = "gracefulshutdown.lab/task20-signal-storm"

// tracing turns a shutdown into one trace: a root span "shutdown" that
// covers every phase and, as the lifecycle's Observer, a child span for
// each phase. Then flush sends the trace on its way.
//
// The lifecycle calls its observers from the goroutine that runs Shutdown,
// one phase after the other, and shutdown calls startShutdown and
// endShutdown on that same goroutine: so the fields need no lock.
type tracing struct {
	provider *sdktrace.TracerProvider
	tracer   trace.Tracer

	root  context.Context // carries the root span: the parent of every phase's span
	phase trace.Span      // the span of the phase running now
}

// newTracing traces with provider's tracer.
func newTracing(provider *sdktrace.TracerProvider) *tracing {
	return &tracing{provider: provider, tracer: provider.Tracer(instrumentationName)}
}

// startShutdown starts the root span and returns ctx with it: pass that to
// the lifecycle's Shutdown, so that the phases run under the root span too.
func (t *tracing) startShutdown(ctx context.Context) context.Context {
	t.root, _ = t.tracer.Start(ctx, "shutdown")
	return t.root
}

// endShutdown ends the root span; err is what the lifecycle's Shutdown
// returned. A shutdown in which a phase failed is an error as a whole.
func (t *tracing) endShutdown(err error) {
	root := trace.SpanFromContext(t.root)
	if err != nil {
		root.SetStatus(codes.Error, err.Error())
	}
	root.End()
}

// PhaseStarted opens the phase's span as a child of the root span: the
// parent is whatever span the context passed to Start carries.
func (t *tracing) PhaseStarted(phase string) {
	_, t.phase = t.tracer.Start(t.root, phase, trace.WithAttributes(attrPhaseName.String(phase)))
}

// PhaseDone closes the phase's span with its duration and, if it failed,
// its error.
func (t *tracing) PhaseDone(phase string, took time.Duration, err error) {
	t.phase.SetAttributes(attrPhaseDuration.Float64(took.Seconds()))
	if err != nil {
		// RecordError adds the error as an "exception" event; it does not
		// mark the span as failed. SetStatus does, and is what backends
		// show and filter on.
		t.phase.RecordError(err)
		t.phase.SetStatus(codes.Error, err.Error())
	}
	t.phase.End()
}

// flush sends every span the batch processors still hold, within ctx, and
// shuts the provider down. Call it once every span has ended, the root span
// last: a span that ends after the provider's Shutdown is dropped.
//
// ForceFlush comes first because it exports with ctx and returns the
// exporter's error. Shutdown alone would export the last batch with a
// context of its own and report a failed export only to otel's global error
// handler: a nil from it does not mean the spans arrived.
func (t *tracing) flush(ctx context.Context) error {
	err := t.provider.ForceFlush(ctx)
	// With the batch sent, Shutdown only stops the processors' goroutines
	// and the exporters, which is quick. It does nothing at all, though,
	// with a context that is already done (it checks first), and ForceFlush
	// may have used ctx up waiting for a collector that does not answer: so
	// it gets a moment of its own, past ctx if need be, the way the
	// lifecycle gives a phase a leeway past its deadline.
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopLeeway)
	defer cancel()
	return errors.Join(err, t.provider.Shutdown(stopCtx))
}

// stopLeeway is how long the provider's Shutdown may take after the flush.
const stopLeeway = 100 * time.Millisecond
