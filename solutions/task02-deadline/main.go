// Command task02-deadline answers "hello" after a delay and, on Ctrl+C or
// SIGTERM, stops taking new connections and lets the requests in flight
// finish, but for no longer than the shutdown timeout. A drain that finishes
// in time exits 0; one that runs out of time closes the connections still
// open, says so in its log, and exits 1. Either way the program then does its
// last piece of work, sending the request stats it has counted, and exits.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	// The signal no longer kills the process: it cancels ctx, and run turns
	// that into an orderly shutdown.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole program; it returns the exit code. It serves until ctx is
// cancelled, drains, and sends the stats of what it served.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "task02-deadline: %v\n", err)
		return 2
	}
	logger := newLogger(cfg.logFormat, stderr)

	var st stats
	code := serve(ctx, cfg, &st, logger)
	// The server is done with its requests, drained or cut off: the count is
	// final. Send it whatever the outcome; the requests that were served
	// still happened.
	st.flush(cfg.flushTime, logger)
	if code != 0 {
		return code
	}
	logger.Info("exited")
	return 0
}

// serve runs the server until ctx is cancelled, then drains it within
// -shutdown-timeout. It returns the exit code: 0 for a drain that finished in
// time, 1 for one that had to be forced or a server that failed.
func serve(ctx context.Context, cfg config, st *stats, logger *slog.Logger) int {
	srv := &http.Server{
		Addr:              cfg.addr,
		Handler:           helloHandler(cfg.delay, st, logger),
		ReadHeaderTimeout: 5 * time.Second,
	}

	// Serve in the background so that this goroutine is free to wait for
	// the signal.
	serveErr := make(chan error, 1)
	go func() { serveErr <- listenAndServe(srv, logger) }()

	select {
	case err := <-serveErr:
		// The server stopped on its own, before any signal: a failure.
		logger.Error("server failed", "addr", cfg.addr, "err", err)
		return 1
	case <-ctx.Done():
	}

	logger.Info("shutdown started")
	// The budget is for the drain, so its clock starts now, at the signal. A
	// deadline made at start-up would have run out long ago on any server
	// that has been up for longer than the timeout.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer cancel()
	// Shutdown closes the listener at once, so new connections are refused,
	// then waits for every request in flight to finish, or for shutdownCtx
	// to expire, whichever comes first. A drain that ends in time returns
	// nil as soon as it ends: the timeout is a bound, not a wait.
	if err := srv.Shutdown(shutdownCtx); err != nil {
		// Out of time. Shutdown stops waiting but does not stop the
		// stragglers: their connections stay open for as long as this
		// process lives, and it still has the stats to send. Close drops
		// them now, so each client learns at once that no answer is coming.
		// Its error could only come from the listener, which Shutdown has
		// closed already. Exit 1: requests were cut off, and whoever reads
		// the log or the exit code should know.
		logger.Error("forced close", "err", err, "timeout", cfg.shutdownTimeout.String())
		_ = srv.Close()
		return 1
	}
	// After Shutdown, Serve returns http.ErrServerClosed: that is success.
	if err := <-serveErr; !errors.Is(err, http.ErrServerClosed) {
		logger.Error("server failed", "err", err)
		return 1
	}
	return 0
}

// stats counts the requests the server received, for a usage report (what a
// bill or a dashboard is made from). The program keeps the count in memory
// and sends it once, on its way out, after the drain: that is its last piece
// of work.
type stats struct{ requests atomic.Int64 }

// flush sends the report to the stats collector. The round trip is what
// takes the time; -flush-time stands for it, as -delay stands for a slow
// backend. With nothing counted there is nothing to send.
func (s *stats) flush(took time.Duration, logger *slog.Logger) {
	n := s.requests.Load()
	if n == 0 {
		return
	}
	logger.Info("flushing stats", "requests", n)
	time.Sleep(took)
	logger.Info("stats flushed")
}

// helloHandler answers "hello" after delay, like a slow backend call.
func helloHandler(delay time.Duration, st *stats, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st.requests.Add(1)
		logger.Info("request started", "path", r.URL.Path)
		time.Sleep(delay)
		fmt.Fprintln(w, "hello")
	})
}

// listenAndServe is srv.ListenAndServe that logs the address it bound, so
// that -addr :0 reports its real port. Like ListenAndServe it returns a bind
// error at once, and http.ErrServerClosed after Shutdown.
func listenAndServe(srv *http.Server, logger *slog.Logger) error {
	ln, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		return err
	}
	logger.Info("listening", "addr", ln.Addr().String())
	return srv.Serve(ln)
}

type config struct {
	addr            string
	delay           time.Duration
	shutdownTimeout time.Duration
	flushTime       time.Duration
	logFormat       string
}

// parseFlags reads the command line. Usage goes to stdout for -h; errors are
// returned for the caller to print as one line.
func parseFlags(args []string, stdout io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("task02-deadline", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&cfg.addr, "addr", ":8080", "address to listen on")
	fs.DurationVar(&cfg.delay, "delay", 2*time.Second, "how long each request takes")
	fs.DurationVar(&cfg.shutdownTimeout, "shutdown-timeout", 5*time.Second, "how long the drain may take before the remaining connections are closed")
	fs.DurationVar(&cfg.flushTime, "flush-time", time.Second, "how long sending the request stats takes, after the drain")
	fs.StringVar(&cfg.logFormat, "log-format", "text", "log format: text or json")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fs.PrintDefaults()
		}
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if _, _, err := net.SplitHostPort(cfg.addr); err != nil {
		return cfg, fmt.Errorf("invalid -addr %q: %v", cfg.addr, err)
	}
	if cfg.delay < 0 {
		return cfg, fmt.Errorf("invalid -delay %v: must not be negative", cfg.delay)
	}
	if cfg.shutdownTimeout < 0 {
		return cfg, fmt.Errorf("invalid -shutdown-timeout %v: must not be negative", cfg.shutdownTimeout)
	}
	if cfg.flushTime < 0 {
		return cfg, fmt.Errorf("invalid -flush-time %v: must not be negative", cfg.flushTime)
	}
	if cfg.logFormat != "text" && cfg.logFormat != "json" {
		return cfg, fmt.Errorf("invalid -log-format %q: want text or json", cfg.logFormat)
	}
	return cfg, nil
}

func newLogger(format string, w io.Writer) *slog.Logger {
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return slog.New(slog.NewTextHandler(w, nil))
}
