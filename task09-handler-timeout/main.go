// Command task09-handler-timeout serves a slow endpoint behind a middleware
// that should cap every handler, and shuts down gracefully on Ctrl+C or
// SIGTERM. Your job: make the cap real, so that a handler that runs too long
// gets its context cancelled and its client a 504 at the cap, even when the
// handler ignores its context. See README.md.
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
		fmt.Fprintf(stderr, "task09-handler-timeout: %v\n", err)
		return 2
	}
	logger := newLogger(cfg.logFormat, stderr)

	mux := http.NewServeMux()
	mux.Handle("/", slowHello(cfg.delay, logger))
	mux.Handle("/ctx", patientHello(cfg.delay, logger))
	mux.Handle("/fast", fastHello(logger))

	srv := &http.Server{
		Addr: cfg.addr,
		// The cap wraps the whole mux, so no route can forget it.
		Handler:           handlerTimeout(cfg.handlerTimeout, logger)(mux),
		ReadHeaderTimeout: 5 * time.Second,
	}

	serveErr := make(chan error, 1)
	go func() { serveErr <- listenAndServe(srv, logger) }()

	select {
	case err := <-serveErr:
		logger.Error("server failed", "addr", cfg.addr, "err", err)
		return 1
	case <-ctx.Done():
	}

	logger.Info("shutdown started")
	// Shutdown waits for every request in flight, so the drain lasts as long
	// as the slowest handler, unless the handler timeout cuts it short.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		logger.Error("forced close", "err", err, "timeout", cfg.shutdownTimeout.String())
		_ = srv.Close()
		return 1
	}
	if err := <-serveErr; !errors.Is(err, http.ErrServerClosed) {
		logger.Error("server failed", "addr", cfg.addr, "err", err)
		return 1
	}
	logger.Info("exited")
	return 0
}

// handlerTimeout is meant to cap each request at limit. For now it passes
// every request straight through, so a handler that takes 15 s keeps its
// client waiting 15 s, and keeps a shutdown waiting just as long.
//
// TODO(task09): make the cap real. Run next on a goroutine of its own, with
// a request whose context has a deadline (context.WithTimeout(r.Context(),
// limit), then r.WithContext). Give it a ResponseWriter of your own that
// keeps the status, headers and body in memory, and wait for whichever
// comes first, the handler or the deadline:
//   - the handler returned in time: copy its headers, status and body to w,
//     untouched;
//   - the deadline passed: log "handler timed out" (attrs "path", "after"),
//     answer 504 Gateway Timeout on w and return at once. Do not wait for the
//     handler: the one on "/" never looks at its context.
//
// The handler keeps writing on its goroutine after the 504 has gone, so your
// writer needs a sync.Mutex, and its Write must return http.ErrHandlerTimeout
// from then on instead of storing anything. Never hand the handler w itself:
// what it writes there goes to the client as 200, before the cap.
func handlerTimeout(limit time.Duration, logger *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return next
	}
}

// slowHello answers "hello, world" in two parts with -delay between them,
// and never looks at its context: like a call to a backend made without
// one. It logs "handler finished" when it returns, with the error of its
// last write if that was refused.
func slowHello(delay time.Duration, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		logger.Info("request started", "path", r.URL.Path)
		_, _ = io.WriteString(w, "hello, ")
		time.Sleep(delay)
		if _, err := io.WriteString(w, "world\n"); err != nil {
			logger.Info("handler finished", "path", r.URL.Path, "err", err)
			return
		}
		logger.Info("handler finished", "path", r.URL.Path)
	})
}

// patientHello answers "hello" after -delay, unless its context ends first:
// then it logs "handler cancelled" with the context's error and gives up,
// leaving the answer to the middleware.
func patientHello(delay time.Duration, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		logger.Info("request started", "path", r.URL.Path)
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
			fmt.Fprintln(w, "hello")
		case <-r.Context().Done():
			logger.Info("handler cancelled", "path", r.URL.Path, "err", r.Context().Err())
		}
	})
}

// fastHello answers at once with a status and a header of its own, which
// the middleware must pass through untouched.
func fastHello(logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		logger.Info("request started", "path", r.URL.Path)
		w.Header().Set("X-Lab", "fast")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintln(w, "fast")
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
	handlerTimeout  time.Duration
	shutdownTimeout time.Duration
	logFormat       string
}

// parseFlags reads the command line. Usage goes to stdout for -h; errors are
// returned for the caller to print as one line.
func parseFlags(args []string, stdout io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("task09-handler-timeout", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&cfg.addr, "addr", ":8080", "address to listen on")
	fs.DurationVar(&cfg.delay, "delay", 15*time.Second, "how long the slow handlers take")
	fs.DurationVar(&cfg.handlerTimeout, "handler-timeout", 10*time.Second, "how long any handler may take before the client gets 504")
	fs.DurationVar(&cfg.shutdownTimeout, "shutdown-timeout", 20*time.Second, "how long the drain may take before the remaining connections are closed")
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
	// A cap of zero would answer every request with 504 before its handler
	// could start.
	if cfg.handlerTimeout <= 0 {
		return cfg, fmt.Errorf("invalid -handler-timeout %v: must be positive", cfg.handlerTimeout)
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
