// Command task05-readiness answers "hello" after a delay and reports its
// health on /healthz and its readiness on /readyz. On Ctrl+C or SIGTERM it
// first reports itself not ready, keeps serving through a drain delay while
// the load balancer takes it out of rotation, and only then shuts down, all
// within one deadline counted from the signal.
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

	// ready is read by every request and written once, by this goroutine,
	// at the signal: an atomic.Bool makes that safe without a lock. This
	// program has nothing to warm up, so it is ready from the start.
	var ready atomic.Bool
	ready.Store(true)

	mux := http.NewServeMux()
	mux.Handle("/", helloHandler(cfg.delay, logger))
	mux.Handle("/healthz", healthzHandler())
	mux.Handle("/readyz", readyzHandler(&ready))

	srv := &http.Server{
		Addr:              cfg.addr,
		Handler:           closeWhenNotReady(&ready, mux),
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
	// One budget for the whole shutdown, counted from the signal, like
	// Kubernetes' terminationGracePeriodSeconds: the drain delay spends part
	// of it, Shutdown gets the rest. parseFlags makes sure some is left.
	// The deadline is measured from context.Background, not ctx: ctx is
	// already cancelled.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer cancel()

	// Readiness goes first: the load balancer learns from /readyz that this
	// instance is leaving and stops sending it new traffic.
	ready.Store(false)
	logger.Info("readiness off")

	// Learning takes time: the probe has to fail, and the new endpoint list
	// has to reach every load balancer and node. Until then traffic still
	// arrives, so keep the listener open and keep serving. A plain sleep is
	// enough: the signal has already come, the deadline is longer than the
	// delay, and ending the wait early is exactly what must not happen.
	time.Sleep(cfg.drainDelay)

	logger.Info("draining server")
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
// traffic, 503 from the signal on, so that it is taken out of rotation.
func readyzHandler(ready *atomic.Bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if !ready.Load() {
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
}

// closeWhenNotReady asks clients to close their connection after each
// response once readiness is off. A keep-alive client (a proxy, a load
// balancer, another service) would otherwise keep sending requests down
// the connection it already has, straight to this instance, until Shutdown
// cut it; with "Connection: close" it reconnects, through the load
// balancer, to an instance that is staying. Go's server sees the header and
// closes the connection once the response is written.
func closeWhenNotReady(ready *atomic.Bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !ready.Load() {
			w.Header().Set("Connection", "close")
		}
		next.ServeHTTP(w, r)
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
