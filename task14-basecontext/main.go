// Command task14-basecontext is a small HTTP service with a slow request
// (/, hello after -delay) and a long poll (/wait, the next event published
// on /publish, or 204 after -poll-timeout). It shuts down gracefully on
// Ctrl+C or SIGTERM: each part joins a lifecycle.Lifecycle as a phase the
// moment it has started, and at the signal the phases run last in, first
// out, each within a deadline of its own and all within -shutdown-timeout:
// readiness goes off and the load balancer is given -drain-delay to notice,
// then the HTTP server drains. What the drain does with the requests in
// flight, a long poll and a slow hello, is task 14's part: see server.go,
// longpoll.go and README.md.
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

	"gracefulshutdown.lab/task14-basecontext/lifecycle"
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
	events := newHub(logger)
	mux := http.NewServeMux()
	mux.Handle("/", helloHandler(cfg.delay, logger))
	mux.Handle("/wait", waitHandler(events, cfg.pollTimeout, logger))
	mux.Handle("/publish", publishHandler(events, logger))
	mux.Handle("/healthz", healthzHandler())
	mux.Handle("/readyz", ready.handler())

	// ctx, the root context, is cancelled at the signal; startServer
	// decides what the requests' contexts make of it.
	// Ready as the server starts: the listener is the only way in, so
	// nobody can ask before it listens, and a client that acts on the
	// "listening" event must not find the instance still not ready.
	ready.set(true)
	handler := withRequestID(withAccessLog(ready.closeWhenDraining(mux), logger))
	srv, serveErr, err := startServer(ctx, cfg.addr, handler, logger)
	if err != nil {
		// Nothing serves, so nothing waits for the signal: stop whatever
		// started before the server, and report the failure.
		logger.Error("server failed", "addr", cfg.addr, "err", err)
		return shutdown(lc, cfg.shutdownTimeout, logger, 1)
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
