// Command task17-prestop is a small HTTP service that leaves a Kubernetes
// Service without dropping a request. It has two listeners: the public API
// (-addr) and the admin listener (-admin-addr) with /metrics, the probes,
// pprof and the preStop hook, GET /admin/prestop. The kubelet calls the
// hook before it sends SIGTERM: readiness goes off, and the hook waits
// -prestop-delay while the load balancers take this instance out of
// rotation. At the signal the phases run last in, first out, all within
// -shutdown-timeout: the readiness phase (which waits only for what is
// left of the drain delay, counted from the hook), the API's drain, and the
// admin listener's linger and drain. See README.md.
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

	"gracefulshutdown.lab/task17-prestop/lifecycle"
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
	reg := newRegistry()
	lc := lifecycle.New(cfg.phaseTimeout, phaseLog{logger})

	// Two ways out of rotation share one readiness flag and one clock: the
	// preStop hook, which the kubelet calls before SIGTERM, and the
	// readiness phase, which runs at the signal.
	var ready readiness
	hook := newPreStop(&ready, cfg.preStopDelay, logger)

	// The admin listener first: its phase, added first, runs last, and it
	// lingers so that a scrape can still collect the final figures. The
	// hook lives here, beside the probes, where the kubelet calls it; never
	// on the public API, where anyone on the internet could take this
	// instance out of rotation.
	adminMux := adminHandler(reg, &ready)
	adminMux.Handle("GET /admin/prestop", hook.handler())
	admin, adminErr, err := startServer("admin", cfg.adminAddr, adminMux, logger)
	if err != nil {
		logger.Error("server failed", "server", "admin", "addr", cfg.adminAddr, "err", err)
		return shutdown(lc, cfg.shutdownTimeout, logger, 1)
	}
	lc.Add("admin server", lingerThenDrain(admin, cfg.metricsLinger, logger), lifecycle.Timeout(cfg.metricsLinger+cfg.phaseTimeout))

	// The public API serves / and nothing else: the probes, the metrics,
	// the profiler and the hook are on the admin listener only.
	mux := http.NewServeMux()
	mux.Handle("/{$}", helloHandler(cfg.delay, logger))
	// Ready as the API starts: a client that acts on its "listening" event
	// must not find the instance still not ready.
	ready.set(true)
	api, apiErr, err := startServer("api", cfg.addr, ready.closeWhenDraining(mux), logger)
	if err != nil {
		// Nothing serves the API, so nothing waits for the signal: stop
		// whatever started before it, and report the failure.
		logger.Error("server failed", "server", "api", "addr", cfg.addr, "err", err)
		return shutdown(lc, cfg.shutdownTimeout, logger, 1)
	}
	lc.Add("api server", drainServer("api", api, logger))

	// The readiness phase is added last, so it is the first to run at the
	// signal, before anything stops serving. After a preStop it waits only
	// for what is left of the drain delay.
	lc.Add("readiness", hook.drain(cfg.drainDelay))

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
