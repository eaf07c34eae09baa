// Command task19-tracing is a small HTTP service that shuts down gracefully on
// Ctrl+C or SIGTERM, and traces its shutdown with OpenTelemetry. Each part
// joins a lifecycle.Lifecycle as a phase the moment it has started; at the
// signal the phases run last in, first out, each within a deadline of its
// own and all within -shutdown-timeout: readiness goes off and the load
// balancer is given -drain-delay to notice, then the HTTP server drains. The
// whole shutdown is one span, each phase a child span of it, and the trace
// is flushed to the exporter last, within the same budget. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"gracefulshutdown.lab/task19-tracing/lifecycle"
)

func main() {
	// The signal no longer kills the process: it cancels ctx, and run turns
	// that into an orderly shutdown.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole program; it returns the exit code. It starts the parts
// of the service in order, adding each to the lifecycle as it starts, waits
// for the signal (or a server failure), and lets the lifecycle stop them in
// the reverse order.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", programName, err)
		return 2
	}
	logger := newLogger(cfg.logFormat, stderr)

	provider, exporter, err := newTracerProvider(ctx, cfg.traceStdout, stdout)
	if err != nil {
		logger.Error("tracing unavailable", "err", err)
		return 1
	}
	logger.Info("tracer started", "exporter", exporter)
	tr := newTracing(provider)

	// Each part is added as a phase right after it starts, so the order of
	// the Add calls is the start-up order and Shutdown, which runs them
	// backwards, needs no other list. (Add fails only once Shutdown has
	// started, which nothing has done yet, so its error is not checked.)
	lc := lifecycle.New(cfg.phaseTimeout, phaseLog{logger}, tr)

	var ready readiness
	mux := http.NewServeMux()
	mux.Handle("/", helloHandler(cfg.delay, logger))
	mux.Handle("/healthz", healthzHandler())
	mux.Handle("/readyz", ready.handler())

	// Ready as the server starts: the listener is the only way in, so
	// nobody can ask before it listens, and a client that acts on the
	// "listening" event must not find the instance still not ready.
	ready.set(true)
	srv, serveErr, err := startServer(cfg.addr, ready.closeWhenDraining(mux), logger)
	if err != nil {
		// Nothing serves, so nothing waits for the signal: stop whatever
		// started before the server, and report the failure.
		logger.Error("server failed", "addr", cfg.addr, "err", err)
		return shutdown(lc, tr, cfg.shutdownTimeout, cfg.traceFlushTimeout, logger, 1)
	}
	lc.Add("http server", drainServer(srv, logger))

	// The readiness phase is added last, so it is the first to run at the
	// signal, before anything stops serving.
	lc.Add("readiness", ready.drain(cfg.drainDelay, logger))

	code := 0
	select {
	case err := <-serveErr:
		// The server stopped on its own, before any signal: a failure. The
		// other parts were started all the same, so the phases still run.
		logger.Error("server failed", "addr", cfg.addr, "err", err)
		code = 1
	case <-ctx.Done():
	}
	return shutdown(lc, tr, cfg.shutdownTimeout, cfg.traceFlushTimeout, logger, code)
}

// shutdown runs the lifecycle's phases within one budget, counted from now,
// and returns the exit code: code, or 1 if a phase failed.
//
// TODO(task19): trace the shutdown, and send the trace on its way within the
// same budget. A root span "shutdown" covers the phases: pass lc.Shutdown a
// context that carries it. The phases get the budget less flushTimeout, so
// that the trace keeps its share even when they run out of time. Then flush
// the provider, with flushTimeout as its deadline, counted when the flush
// starts and never past the budget: log "tracer flushed", or
// "tracer flush failed" (ERROR, with err) and return 1. Mind the order: the
// provider drops a span that ends after its Shutdown.
func shutdown(lc *lifecycle.Lifecycle, tr *tracing, budget, flushTimeout time.Duration, logger *slog.Logger, code int) int {
	logger.Info("shutdown started")
	// From context.Background, not the signal's ctx: that one is cancelled
	// already, and every phase would start past its deadline.
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()
	// Each failed phase has been logged as it failed; the error joins them.
	if err := lc.Shutdown(ctx); err != nil {
		code = 1
	}
	logger.Info("exited", "code", code)
	return code
}
