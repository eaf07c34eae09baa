// Command task10-integration-test answers "hello" after a delay and shuts down
// gracefully on Ctrl+C or SIGTERM: it stops taking connections, lets the
// requests in flight finish within -shutdown-timeout, and exits 0.
//
// This program is correct and you do not edit it. Your job in task 10 is
// main_test.go: a test that proves it shuts down gracefully, and that would
// catch it if it did not. See README.md.
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

// run is the whole program; it returns the exit code. It serves until ctx is
// cancelled, then drains within the shutdown timeout.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "task10-integration-test: %v\n", err)
		return 2
	}
	logger := newLogger(cfg.logFormat, stderr)

	srv := &http.Server{
		Addr:              cfg.addr,
		Handler:           helloHandler(cfg.delay, logger),
		ReadHeaderTimeout: 5 * time.Second,
	}

	// The serving goroutine only reports how Serve ended; run decides what
	// that means. Whether an error is fatal depends on whether we asked the
	// server to stop, and only run knows that. Exiting from in here (os.Exit,
	// log.Fatal) would also end the process in the middle of a drain and skip
	// every deferred cleanup. The buffer of one lets the goroutine finish even
	// if run has already returned and nobody will read the error.
	serveErr := make(chan error, 1)
	go func() { serveErr <- listenAndServe(srv, logger) }()

	select {
	case err := <-serveErr:
		// Serve never returns nil, and nobody has called Shutdown yet, so
		// this is a real failure: the address is taken, the port needs
		// privileges, the listener broke. Say so, and exit at once instead
		// of waiting for a signal that a broken server should not need.
		logger.Error("server failed", "addr", cfg.addr, "err", err)
		return 1
	case <-ctx.Done():
	}

	logger.Info("shutdown started")
	// Shutdown closes the listener at once, then waits for the requests in
	// flight, but only until the deadline: past it, Close cuts what is left
	// and the exit code says the shutdown was forced.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		logger.Error("forced close", "err", err)
		_ = srv.Close()
		return 1
	}

	// Serve returned as soon as Shutdown closed the listener, with
	// http.ErrServerClosed: the server saying "I stopped because you asked".
	// That is the success case, not an error to log. errors.Is rather than
	// == because it also matches the sentinel inside a wrapped error, which
	// costs nothing today and keeps working if listenAndServe ever adds
	// context with fmt.Errorf("...: %w", err).
	if err := <-serveErr; !errors.Is(err, http.ErrServerClosed) {
		logger.Error("server failed", "addr", cfg.addr, "err", err)
		return 1
	}
	logger.Info("exited")
	return 0
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
	logFormat       string
}

// parseFlags reads the command line. Usage goes to stdout for -h; errors are
// returned for the caller to print as one line.
func parseFlags(args []string, stdout io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("task10-integration-test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&cfg.addr, "addr", ":8080", "address to listen on")
	fs.DurationVar(&cfg.delay, "delay", 2*time.Second, "how long each request takes")
	fs.DurationVar(&cfg.shutdownTimeout, "shutdown-timeout", 5*time.Second, "how long the drain may take before the remaining connections are closed")
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
