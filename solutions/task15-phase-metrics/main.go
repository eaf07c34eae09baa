// Command task15-phase-metrics is a small HTTP service that shuts down
// gracefully on Ctrl+C or SIGTERM, and records how its shutdown went in
// Prometheus metrics. It has two listeners: the public API (-addr) and the
// admin listener (-admin-addr) with /metrics, the probes and pprof. Each
// part joins a lifecycle.Lifecycle as a phase the moment it has started; at
// the signal the phases run last in, first out, all within
// -shutdown-timeout: readiness goes off, the API drains, and the admin
// listener, which started first, stops last, after lingering long enough
// for a last scrape. See README.md.
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

	"gracefulshutdown.lab/task15-phase-metrics/lifecycle"
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

	// The lifecycle tells every Observer passed to New about each phase:
	// phaseLog logs it, and the phase metrics record it on the program's
	// own registry, the one /metrics serves.
	reg := newRegistry()
	lc := lifecycle.New(cfg.phaseTimeout, phaseLog{logger}, newPhaseMetrics(reg))

	// Each part is added as a phase right after it starts, so the order of
	// the Add calls is the start-up order and Shutdown, which runs them
	// backwards, needs no other list. (Add fails only once Shutdown has
	// started, which nothing has done yet, so its error is not checked.)

	// The admin listener first: its phase, added first, runs last, once
	// every other phase has recorded its figures, and it lingers so that a
	// scrape can still collect them. Its deadline covers the linger and
	// then a drain like any other.
	var ready readiness
	admin, adminErr, err := startServer("admin", cfg.adminAddr, adminHandler(reg, &ready), logger)
	if err != nil {
		logger.Error("server failed", "server", "admin", "addr", cfg.adminAddr, "err", err)
		return shutdown(lc, cfg.shutdownTimeout, logger, 1)
	}
	lc.Add("admin server", lingerThenDrain(admin, cfg.metricsLinger, logger), lifecycle.Timeout(cfg.metricsLinger+cfg.phaseTimeout))

	if cfg.injectFault != "" {
		lc.Add("injected fault", faultPhase(cfg.injectFault))
	}

	// The public API serves / and nothing else: the probes, the metrics and
	// the profiler are on the admin listener only.
	mux := http.NewServeMux()
	mux.Handle("/{$}", helloHandler(cfg.delay, logger))
	// Ready as the API starts: a client that acts on its "listening" event
	// must not find /readyz still saying no.
	ready.set(true)
	api, apiErr, err := startServer("api", cfg.addr, ready.closeWhenDraining(mux), logger)
	if err != nil {
		// Nothing serves the API, so nothing waits for the signal: stop
		// whatever started before it, and report the failure. The admin
		// listener lingers on the way out; its /readyz must not say yes.
		ready.set(false)
		logger.Error("server failed", "server", "api", "addr", cfg.addr, "err", err)
		return shutdown(lc, cfg.shutdownTimeout, logger, 1)
	}
	lc.Add("api server", drainServer("api", api, logger))

	// The readiness phase is added last, so it is the first to run at the
	// signal, before anything stops serving.
	lc.Add("readiness", ready.drain(cfg.drainDelay, logger))

	code := 0
	select {
	case err := <-apiErr:
		// A server stopped on its own, before any signal: a failure. The
		// other parts were started all the same, so the phases still run.
		logger.Error("server failed", "server", "api", "addr", cfg.addr, "err", err)
		code = 1
	case err := <-adminErr:
		logger.Error("server failed", "server", "admin", "addr", cfg.adminAddr, "err", err)
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
