// Command task11-websocket is a small HTTP service with a WebSocket endpoint,
// /ws, that echoes what a client sends and pushes a message every
// -push-interval. It shuts down gracefully on Ctrl+C or SIGTERM. Each part
// joins a lifecycle.Lifecycle as a phase the moment it has started; at the
// signal the phases run last in, first out, each within a deadline of its
// own and all within -shutdown-timeout: readiness goes off and the load
// balancer is given -drain-delay to notice, then the HTTP server drains, and
// with it the WebSockets, which Shutdown alone cannot see. See README.md.
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

	"gracefulshutdown.lab/task11-websocket/lifecycle"
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

	// Each part is added as a phase right after it starts, so the order of
	// the Add calls is the start-up order and Shutdown, which runs them
	// backwards, needs no other list. (Add fails only once Shutdown has
	// started, which nothing has done yet, so its error is not checked.)
	lc := lifecycle.New(cfg.phaseTimeout, phaseLog{logger})

	var ready readiness
	ws := newWebSockets(cfg.pushInterval, cfg.wsDrainTimeout, &ready, logger)
	mux := http.NewServeMux()
	mux.Handle("/", helloHandler(cfg.delay, logger))
	mux.Handle("/ws", ws)
	mux.Handle("/healthz", healthzHandler())
	mux.Handle("/readyz", ready.handler())

	// Ready once everything the server needs is up, and before it serves:
	// readiness is only seen through the server, so this is "ready from
	// the first request", and a probe (or a WebSocket upgrade) that comes
	// the moment "listening" is logged does not find the flag still off.
	ready.set(true)
	srv, serveErr, err := startServer(cfg.addr, ready.closeWhenDraining(mux), logger)
	if err != nil {
		// Nothing serves, so nothing waits for the signal: stop whatever
		// started before the server, and report the failure.
		logger.Error("server failed", "addr", cfg.addr, "err", err)
		return shutdown(lc, cfg.shutdownTimeout, logger, 1)
	}
	// The WebSockets are served by this server, so they drain with it, in
	// its phase.
	lc.Add("http server", drainServer(srv, ws, logger))

	// Readiness is added last, so that it is the first phase to run at the
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
	return shutdown(lc, cfg.shutdownTimeout, logger, code)
}

// shutdown runs the lifecycle's phases within one budget, counted from now,
// and returns the exit code: code, or 1 if a phase failed.
func shutdown(lc *lifecycle.Lifecycle, budget time.Duration, logger *slog.Logger, code int) int {
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
