package main

import (
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// instrumentationName names the tracer, so that a backend can tell which
// code made the spans.
const instrumentationName = "gracefulshutdown.lab/task19-tracing"

// tracing turns a shutdown into one trace: a root span "shutdown" that
// covers every phase and, as the lifecycle's Observer, a child span for
// each phase.
//
// The lifecycle calls its observers from the goroutine that runs Shutdown,
// one phase after the other.
//
// TODO(task19): keep here what the methods need to share: the context that
// carries the root span (a phase's span is started from it, and so becomes
// its child), and the span of the phase that is running. Add what shutdown
// (in main.go) needs: starting and ending the root span, and flushing the
// provider.
type tracing struct {
	provider *sdktrace.TracerProvider
	tracer   trace.Tracer
}

// newTracing traces with provider's tracer.
func newTracing(provider *sdktrace.TracerProvider) *tracing {
	return &tracing{provider: provider, tracer: provider.Tracer(instrumentationName)}
}

// PhaseStarted is called just before the phase's stop function runs.
//
// TODO(task19): start the phase's span, named after the phase, as a child of
// the root span, with the attribute shutdown.phase.name.
func (t *tracing) PhaseStarted(phase string) {}

// PhaseDone is called when the phase has returned, or when the lifecycle
// stopped waiting for it; err is nil if it succeeded.
//
// TODO(task19): give the phase's span the attribute shutdown.phase.duration
// (seconds, a float64) and, if the phase failed, its error and the status
// Error; then end it.
func (t *tracing) PhaseDone(phase string, took time.Duration, err error) {}
