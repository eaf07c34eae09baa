// Command task12-redis-lock is a small HTTP service of which only one
// instance may run at a time: at start-up it takes a lock in Redis, and it
// exits at once if another instance holds it. While it serves, it extends
// the lock; if it loses it anyway, it shuts down. Each part joins a
// lifecycle.Lifecycle as a phase the moment it has started, and at Ctrl+C or
// SIGTERM the phases run last in, first out: readiness goes off, the HTTP
// server drains, and only then is the lock released, before the Redis
// client closes. See README.md.
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

	"gracefulshutdown.lab/task12-redis-lock/lifecycle"
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

	rdb, addr, err := openRedis(cfg, lc, logger)
	if err != nil {
		logger.Error("redis unavailable", "err", err)
		return shutdown(lc, cfg.shutdownTimeout, logger, 1)
	}

	// The lock comes before anything that serves: an instance that cannot
	// have it must not take a single request.
	lock, err := acquireLock(ctx, rdb, cfg.lockKey, cfg.lockTTL, cfg.redisTimeout, logger)
	switch {
	case errors.Is(err, errLockHeld):
		logger.Error("lock held elsewhere", "key", cfg.lockKey)
		return shutdown(lc, cfg.shutdownTimeout, logger, 1)
	case err != nil:
		// Without Redis there is no lock, and without the lock no service.
		logger.Error("redis unavailable", "addr", addr, "err", err)
		return shutdown(lc, cfg.shutdownTimeout, logger, 1)
	}
	logger.Info("lock acquired", "key", lock.key, "ttl", cfg.lockTTL.String())
	// Added after the Redis client, so it runs before the client closes;
	// added before the server, so it runs after the server has drained.
	lc.Add("redis lock", lock.release)

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
	case <-lock.lost:
		// Serving on without the lock is what the lock exists to prevent.
		// ("lock lost" has been logged.)
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
