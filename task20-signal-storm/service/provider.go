package service

import (
	"context"
	"io"
	"os"
	"strings"

	"gracefulshutdown.lab/task20-signal-storm/config"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// newTracerProvider builds the TracerProvider the shutdown is traced with,
// and says which exporters it sends the spans to ("otlp/http", "stdout",
// both joined with "+", or "none").
//
// OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) selects
// the OTLP/HTTP exporter, which reads them itself, as it reads the other
// standard OTEL_EXPORTER_OTLP_* variables (headers, timeout, compression).
// stdout prints each span to w as one line of JSON, for demos. Without
// either the provider still makes spans, and nobody receives them.
//
// Each exporter sits behind a batch span processor: an ended span waits in
// a queue, and a goroutine sends the queue every few seconds
// (OTEL_BSP_SCHEDULE_DELAY, 5 s by default) or when the provider is
// flushed. Ending a span costs no network round trip, so no phase waits on
// the collector; the price is that whatever is still queued at exit is lost
// unless the provider is flushed.
func newTracerProvider(ctx context.Context, stdout bool, w io.Writer) (*sdktrace.TracerProvider, string, error) {
	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName(config.ProgramName)),
		// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, when set, win
		// over the name above: detectors added later take precedence.
		resource.WithFromEnv(),
		resource.WithTelemetrySDK(),
	)
	if err != nil {
		return nil, "", err
	}
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	var names []string
	if os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "" {
		// New connects to nothing yet: the first export does.
		exp, err := otlptracehttp.New(ctx)
		if err != nil {
			return nil, "", err
		}
		opts = append(opts, sdktrace.WithBatcher(exp))
		names = append(names, "otlp/http")
	}
	if stdout {
		exp, err := stdouttrace.New(stdouttrace.WithWriter(w))
		if err != nil {
			return nil, "", err
		}
		opts = append(opts, sdktrace.WithBatcher(exp))
		names = append(names, "stdout")
	}
	if len(names) == 0 {
		names = []string{"none"}
	}
	return sdktrace.NewTracerProvider(opts...), strings.Join(names, "+"), nil
}
