// Package service is a small HTTP service that answers GET / with a quote
// from a downstream quote service, logs its counters every -stats-every,
// switches to DEBUG logging and back on SIGUSR1, and shuts down gracefully
// when its context ends. Each part joins a lifecycle.Lifecycle as a phase
// the moment it has started; at shutdown the phases run last in, first out,
// each within a deadline of its own and all within -shutdown-timeout.
//
// TODO(task18): when Run returns, nothing it started should be left: no
// goroutine, no open connection, no signal registration. Today several are
// (see downstream.go, stats.go and loglevel.go). First make leak_test.go
// catch them with goleak, then fix them until it passes.
package service

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"gracefulshutdown.lab/task18-goleak/lifecycle"
)

// Run is the whole program; it returns the exit code. It starts the parts
// of the service in order, adding each to the lifecycle as it starts, waits
// for ctx to end (the signal, in main) or the server to fail, and lets the
// lifecycle stop them in the reverse order.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", programName, err)
		return 2
	}
	level := new(slog.LevelVar)
	logger := newLogger(cfg.logFormat, stderr, level)

	// Each part is added as a phase right after it starts, so the order of
	// the Add calls is the start-up order and Shutdown, which runs them
	// backwards, needs no other list. (Add fails only once Shutdown has
	// started, which nothing has done yet, so its error is not checked.)
	lc := lifecycle.New(cfg.phaseTimeout, phaseLog{logger})

	downstream := cfg.downstream
	if downstream == "" {
		qs, err := startQuoteService(cfg.downstreamDelay, logger)
		if err != nil {
			logger.Error("quote service failed", "err", err)
			return shutdown(lc, cfg.shutdownTimeout, logger, 1)
		}
		lc.Add("quote service", qs.stop)
		downstream = qs.url
	}
	client := newQuoteClient(downstream, cfg.downstreamTimeout, logger)

	// TODO(task18): three parts start here, and none of them has a phase,
	// so none of them is ever stopped: the client's idle connections, the
	// stats reporter and the SIGUSR1 watcher. Add a phase for each, right
	// after it starts, as the quote service has one above. In a program
	// that exits once Run returns, nobody notices; in a test that calls
	// Run, or a bigger program that runs it more than once, each call
	// leaves them all behind.
	var counts counters
	startStats(cfg.statsEvery, &counts, logger)
	watchLogLevel(level, logger)

	var ready readiness
	mux := http.NewServeMux()
	mux.Handle("/", quoteHandler(client, &counts, logger))
	mux.Handle("/healthz", healthzHandler())
	mux.Handle("/readyz", ready.handler())

	srv, serveErr, err := startServer(cfg.addr, ready.closeWhenDraining(mux), logger)
	if err != nil {
		// Nothing serves, so nothing waits for the signal: stop whatever
		// started before the server, and report the failure.
		logger.Error("server failed", "addr", cfg.addr, "err", err)
		return shutdown(lc, cfg.shutdownTimeout, logger, 1)
	}
	lc.Add("http server", drainServer(srv, logger))

	// Ready last, once everything it needs is up; so readiness is the
	// first phase to run at the signal, before anything stops serving.
	ready.set(true)
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
