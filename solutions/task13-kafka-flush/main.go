// Command task13-kafka-flush accepts messages on POST /events and produces
// them to a Kafka topic through kafka-go's asynchronous, batching Writer.
// It shuts down gracefully on Ctrl+C or SIGTERM. Each part joins a
// lifecycle.Lifecycle as a phase the moment it has started; at the signal
// the phases run last in, first out, each within a deadline of its own and
// all within -shutdown-timeout: readiness goes off and the load balancer is
// given -drain-delay to notice, the HTTP server drains, and then the
// producer flushes the batches it still holds into Kafka, within
// -flush-timeout, and reports what it delivered and what it could not.
// See README.md.
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

	"gracefulshutdown.lab/task13-kafka-flush/lifecycle"
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

	// Kafka first: the server's handlers need the producer, and the
	// producer needs the cluster.
	brokers, err := connectKafka(ctx, cfg.topic, cfg.kafkaTimeout, lc, logger)
	if err != nil {
		logger.Error("kafka unavailable", "err", err)
		return shutdown(lc, cfg.shutdownTimeout, logger, 1)
	}
	prod := newProducer(brokers, cfg.topic, cfg.batchTimeout, logger)
	// The flush joins the lifecycle now, before the server that feeds the
	// producer exists: last in, first out, it runs after the server has
	// drained, once no request can hand the writer another message. Its
	// deadline is -flush-timeout, inside the whole shutdown's budget.
	lc.Add("kafka flush", prod.flush, lifecycle.Timeout(cfg.flushTimeout))

	var ready readiness
	mux := http.NewServeMux()
	mux.Handle("/", helloHandler(cfg.delay, logger))
	mux.Handle("/events", eventsHandler(prod, logger))
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
