// Command task01-ctrlc answers "hello" after a delay. Your job: make Ctrl+C
// and SIGTERM let the requests in flight finish before the process exits.
// See README.md.
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
	"time"
)

func main() {
	// TODO(task01): Ctrl+C (SIGINT) and SIGTERM kill this process on the spot,
	// cutting off any request in flight. Catch them with signal.NotifyContext
	// and pass that context to run instead of context.Background().
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole program; it returns the exit code. It should serve until
// ctx is cancelled, then drain.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "task01-ctrlc: %v\n", err)
		return 2
	}
	logger := newLogger(cfg.logFormat, stderr)

	srv := &http.Server{
		Addr:              cfg.addr,
		Handler:           helloHandler(cfg.delay, logger),
		ReadHeaderTimeout: 5 * time.Second,
	}

	// TODO(task01): this call blocks until the process dies, so nothing here
	// ever sees ctx. Serve in a goroutine, wait for ctx to be cancelled, log
	// "shutdown started", call srv.Shutdown so that the requests in flight
	// finish, then log "exited" and return 0. A server that fails on its own
	// (say, the address is taken) should still log an error and return 1.
	if err := listenAndServe(srv, logger); err != nil {
		logger.Error("server failed", "addr", cfg.addr, "err", err)
		return 1
	}
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
	addr      string
	delay     time.Duration
	logFormat string
}

// parseFlags reads the command line. Usage goes to stdout for -h; errors are
// returned for the caller to print as one line.
func parseFlags(args []string, stdout io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("task01-ctrlc", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&cfg.addr, "addr", ":8080", "address to listen on")
	fs.DurationVar(&cfg.delay, "delay", 2*time.Second, "how long each request takes")
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
