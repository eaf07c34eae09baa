// Command task04-ticker answers "hello" after a delay while a background
// worker logs "tick" at a fixed interval. Your job: make the worker stop on
// shutdown, and make run wait for it before it returns. See README.md.
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

// run is the whole program; it returns the exit code. It serves and ticks
// until ctx is cancelled, then drains.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "task04-ticker: %v\n", err)
		return 2
	}
	logger := newLogger(cfg.logFormat, stderr)

	srv := &http.Server{
		Addr:              cfg.addr,
		Handler:           helloHandler(cfg.delay, logger),
		ReadHeaderTimeout: 5 * time.Second,
	}

	// TODO(task04): nothing ever stops this goroutine, and nothing waits for
	// it: run returns while it is still ticking. Give the worker a context
	// that run cancels when shutdown starts (and when the server fails), start
	// it with a sync.WaitGroup (wg.Go), and make sure every way out of run
	// waits for it (wg.Wait) first.
	go tick(ctx, cfg.tick, logger)

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
	// TODO(task04): tell the worker to stop. Here, at the start of the
	// shutdown, or after the drain? Decide, and say why in a comment.

	// Shutdown closes the listener at once, so new connections are refused,
	// then waits for every request in flight to finish, but only until the
	// deadline: an orchestrator kills the process soon after SIGTERM anyway.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		// The deadline passed with requests still running: cut them off.
		logger.Error("forced close", "err", err)
		_ = srv.Close()
		return 1
	}
	// After Shutdown, Serve returns http.ErrServerClosed: that is success.
	if err := <-serveErr; !errors.Is(err, http.ErrServerClosed) {
		logger.Error("server failed", "err", err)
		return 1
	}
	// TODO(task04): wait for the worker to return before saying "exited":
	// its "ticker stopped" must come first.
	logger.Info("exited")
	return 0
}

// tick logs "tick" every interval, for as long as the process lives.
//
// TODO(task04): this loop never ends: it ignores ctx, and a ticker's channel
// is never closed, not even by Stop. Select on ctx.Done() and t.C instead;
// when ctx is done, log "ticker stopped" and return. Stop the ticker on the
// way out (defer t.Stop()).
func tick(ctx context.Context, every time.Duration, logger *slog.Logger) {
	t := time.NewTicker(every)
	for range t.C {
		logger.Info("tick")
	}
}

// helloHandler answers "hello" after delay, like a slow backend call.
func helloHandler(delay time.Duration, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
	tick            time.Duration
	logFormat       string
}

// parseFlags reads the command line. Usage goes to stdout for -h; errors are
// returned for the caller to print as one line.
func parseFlags(args []string, stdout io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("task04-ticker", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&cfg.addr, "addr", ":8080", "address to listen on")
	fs.DurationVar(&cfg.delay, "delay", 2*time.Second, "how long each request takes")
	fs.DurationVar(&cfg.shutdownTimeout, "shutdown-timeout", 5*time.Second, "how long the drain may take before connections are closed")
	fs.DurationVar(&cfg.tick, "tick", 5*time.Second, "how often the background worker ticks")
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
	// time.NewTicker panics on an interval that is not positive; say so here
	// instead, as a usage error.
	if cfg.tick <= 0 {
		return cfg, fmt.Errorf("invalid -tick %v: must be positive", cfg.tick)
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
