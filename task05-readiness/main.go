// Command task05-readiness answers "hello" after a delay and has a liveness
// probe (/healthz) and a readiness probe (/readyz). Your job: at the signal,
// report "not ready" first and keep serving for a drain delay while the load
// balancer takes this instance out of rotation, and only then shut down.
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
// cancelled, then drains.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "task05-readiness: %v\n", err)
		return 2
	}
	logger := newLogger(cfg.logFormat, stderr)

	// TODO(task05): keep the readiness state in a sync/atomic.Bool: every
	// request reads it while the shutdown writes it. Set it to true here and
	// give /readyz a pointer to it.
	mux := http.NewServeMux()
	mux.Handle("/", helloHandler(cfg.delay, logger))
	mux.Handle("/healthz", healthzHandler())
	mux.Handle("/readyz", readyzHandler())

	// TODO(task05): once readiness is off, every response should carry the
	// header "Connection: close", so that keep-alive clients reconnect
	// through the load balancer. Wrap mux in a small middleware that sets it.
	srv := &http.Server{
		Addr:              cfg.addr,
		Handler:           mux,
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
	// One deadline for the whole shutdown, counted from the signal. It is
	// measured from context.Background, not ctx: ctx is already cancelled.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer cancel()

	// TODO(task05): Shutdown closes the listener at once, while the load
	// balancer still sends traffic here. First flip readiness off (log
	// "readiness off"), so /readyz answers 503; then keep serving for
	// cfg.drainDelay, the time the load balancer needs to notice; then log
	// "draining server" and shut down. The deadline above is already running:
	// the drain delay spends part of it, and Shutdown gets the rest.

	// Shutdown closes the listener, then waits for the requests in flight,
	// until the deadline. Past it, Close cuts the stragglers off.
	if err := srv.Shutdown(shutdownCtx); err != nil {
		logger.Error("forced close", "err", err)
		srv.Close()
		return 1
	}
	// After Shutdown, Serve returns http.ErrServerClosed: that is success.
	// Anything else means the server had failed on its own.
	if err := <-serveErr; !errors.Is(err, http.ErrServerClosed) {
		logger.Error("server failed", "err", err)
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

// healthzHandler is the liveness probe: it says the process is alive and
// not stuck, so it stays 200 through the drain. Were it to fail, the kubelet
// would restart the container in the middle of its graceful shutdown.
func healthzHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
}

// readyzHandler is the readiness probe: 200 while this instance wants
// traffic.
//
// TODO(task05): answer 503 Service Unavailable once readiness is off.
func readyzHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ready")
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
	drainDelay      time.Duration
	logFormat       string
}

// parseFlags reads the command line. Usage goes to stdout for -h; errors are
// returned for the caller to print as one line.
func parseFlags(args []string, stdout io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("task05-readiness", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&cfg.addr, "addr", ":8080", "address to listen on")
	fs.DurationVar(&cfg.delay, "delay", 2*time.Second, "how long each request takes")
	fs.DurationVar(&cfg.shutdownTimeout, "shutdown-timeout", 5*time.Second, "the whole shutdown's budget, from the signal, drain delay included")
	fs.DurationVar(&cfg.drainDelay, "drain-delay", 3*time.Second, "how long to keep serving after readiness goes off, before Shutdown")
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
	for _, d := range []struct {
		name  string
		value time.Duration
	}{{"delay", cfg.delay}, {"shutdown-timeout", cfg.shutdownTimeout}, {"drain-delay", cfg.drainDelay}} {
		if d.value < 0 {
			return cfg, fmt.Errorf("invalid -%s %v: must not be negative", d.name, d.value)
		}
	}
	// The drain delay is spent out of the shutdown budget; a delay that uses
	// it all up leaves Shutdown no time and forces every shutdown.
	if cfg.drainDelay >= cfg.shutdownTimeout {
		return cfg, fmt.Errorf("invalid -drain-delay %v: must be shorter than -shutdown-timeout %v, which includes it", cfg.drainDelay, cfg.shutdownTimeout)
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
