// Command task03-errserverclosed answers "hello" after a delay and shuts down
// on Ctrl+C or SIGTERM within a deadline. Your job: read the error that
// ListenAndServe returns the right way, so that a clean shutdown is not
// treated as a crash. See README.md.
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
	"sync"
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
// cancelled, then drains within the shutdown timeout.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "task03-errserverclosed: %v\n", err)
		return 2
	}
	logger := newLogger(cfg.logFormat, stderr)

	// Like any real service, this one holds something that must be
	// released however run ends: its metrics, counted in memory and
	// flushed on the way out. Deferred at once, the flush runs on every
	// return below, failures included.
	stats := &requestStats{}
	defer stats.flush(logger)

	srv := &http.Server{
		Addr:              cfg.addr,
		Handler:           helloHandler(cfg.delay, logger, stats),
		ReadHeaderTimeout: 5 * time.Second,
	}

	// TODO(task03): this is how the server is often written, and it kills
	// its own drain. Serve returns http.ErrServerClosed the moment Shutdown
	// closes the listener; this goroutine takes that for a crash and exits
	// with code 1 while the requests in flight are still running. Skipping
	// http.ErrServerClosed here is not enough: os.Exit (like log.Fatal) from
	// a goroutine ends the process without running run's deferred calls, so
	// a taken address loses the metrics flush. Let the goroutine only
	// report: send the error on a buffered channel. Then let run decide,
	// with a select on that channel and ctx.Done(): an error before the
	// signal (say, the address is taken) is a real failure: log "server
	// failed" with the address and return 1, which runs the deferred flush.
	go func() {
		if err := listenAndServe(srv, logger); err != nil {
			logger.Error("server failed", "err", err)
			os.Exit(1)
		}
	}()
	<-ctx.Done()

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
	// TODO(task03): once Shutdown has returned, receive what Serve returned.
	// http.ErrServerClosed means "stopped because you asked": success, so no
	// error is logged (use errors.Is). Anything else is a failure: return 1.

	// The deferred flush would come after "exited"; flushing here keeps
	// "exited" the last line, and makes the deferred call a no-op.
	stats.flush(logger)
	logger.Info("exited")
	return 0
}

// helloHandler answers "hello" after delay, like a slow backend call, and
// counts the answer in stats.
func helloHandler(delay time.Duration, logger *slog.Logger, stats *requestStats) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		logger.Info("request started", "path", r.URL.Path)
		time.Sleep(delay)
		fmt.Fprintln(w, "hello")
		stats.served.Add(1)
	})
}

// requestStats stands in for a real service's metrics client: it counts in
// memory and sends the count when flushed, so whatever is not flushed before
// the process ends is lost. Here, sending is logging "metrics flushed".
type requestStats struct {
	served  atomic.Int64
	flushed sync.Once
}

// flush reports the count the first time it is called and does nothing
// after that, so that it can be deferred and also called early.
func (s *requestStats) flush(logger *slog.Logger) {
	s.flushed.Do(func() { logger.Info("metrics flushed", "requests", s.served.Load()) })
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
	fs := flag.NewFlagSet("task03-errserverclosed", flag.ContinueOnError)
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
