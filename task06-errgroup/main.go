// Command task06-errgroup runs three parts side by side: an API server that
// answers "hello" after a delay, an admin server with Prometheus metrics and
// pprof on a listener of its own, and a background worker that runs a job at
// a fixed interval. Your job: coordinate the three with errgroup, so that the
// signal, or the first part to fail, shuts all of them down; drain both
// servers at the same time; and let the worker finish the job it is on. See
// README.md.
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
	"net/http/pprof"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"
)

func main() {
	// The signal no longer kills the process: it cancels ctx, and run turns
	// that into an orderly shutdown.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole program; it returns the exit code. It serves and works
// until ctx is cancelled, shuts every part down, and sends the stats of what
// the API served.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "task06-errgroup: %v\n", err)
		return 2
	}
	logger := newLogger(cfg.logFormat, stderr)

	var st stats
	code := runParts(ctx, cfg, &st, logger)
	// Every part has stopped, cleanly or not, so the API's count is final.
	// Send it whatever the outcome: the requests that were served still
	// happened.
	st.flush(cfg.flushTime, logger)
	if code != 0 {
		return code
	}
	logger.Info("exited")
	return 0
}

// runParts runs the API server, the metrics server and the worker until ctx
// is cancelled, then shuts them down. It returns the exit code: 0 if every
// part stopped cleanly, 1 otherwise.
func runParts(ctx context.Context, cfg config, st *stats, logger *slog.Logger) int {
	api := server{name: "api", srv: &http.Server{
		Addr:              cfg.addr,
		Handler:           logRequests("api", logger, helloHandler(cfg.delay, st)),
		ReadHeaderTimeout: 5 * time.Second,
	}}
	// Metrics and profiles say how this process is doing inside; they stay
	// on a listener of their own that only the cluster reaches, never on the
	// public API port.
	metrics := server{name: "metrics", srv: &http.Server{
		Addr:              cfg.metricsAddr,
		Handler:           logRequests("metrics", logger, adminHandler()),
		ReadHeaderTimeout: 5 * time.Second,
	}}

	// TODO(task06): three parts, three ways of running them: a channel for
	// the API server, a bare go statement for the metrics server, and a
	// plain errgroup.Group that waits for the worker but hears nothing else.
	// Put all three in one group from errgroup.WithContext(ctx) instead: one
	// g.Go per server (http.ErrServerClosed is a clean stop: return nil), one
	// for the worker, on the group's context, and one that waits for that
	// context to be done and then does the shutdown below. The group's
	// context is cancelled by the signal or by the first part to return an
	// error, so both end up on the same path; g.Wait() then returns that
	// first error, and runParts returns 1 if there is one.

	// The worker from task 4: a context of its own, cancelled on every way
	// out of runParts, and waited for (deferred calls run last in, first
	// out), so that it has stopped before run sends the stats.
	workCtx, stopWork := context.WithCancel(context.Background())
	var background errgroup.Group
	background.Go(func() error { return work(workCtx, cfg.jobInterval, cfg.jobDuration, logger) })
	defer background.Wait()
	defer stopWork()

	// Serve in the background so that this goroutine is free to wait for
	// the signal.
	serveErr := make(chan error, 1)
	go func() { serveErr <- listenAndServe(api, logger) }()

	// TODO(task06): when the metrics server cannot start (its address is
	// taken), this logs the error and the program runs on without metrics,
	// blind, until someone notices. Any part failing must stop them all, and
	// the process must exit 1.
	go func() {
		if err := listenAndServe(metrics, logger); !errors.Is(err, http.ErrServerClosed) {
			logger.Error("server failed", "server", metrics.name, "addr", metrics.srv.Addr, "err", err)
		}
	}()

	select {
	case err := <-serveErr:
		// The server stopped on its own, before any signal: a failure.
		logger.Error("server failed", "server", api.name, "addr", api.srv.Addr, "err", err)
		return 1
	case <-ctx.Done():
	}

	logger.Info("shutdown started")
	stopWork()
	// One budget for the whole shutdown, counted from the signal.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer cancel()

	// TODO(task06): the servers drain one after the other. While the API
	// server drains, the metrics server has not even closed its listener: it
	// keeps taking new requests, and its own drain only begins when the
	// API's ends. Shut both down at the same time, each in a goroutine of its
	// own (a second, plain errgroup.Group is the tool), and wait for both,
	// under this one deadline.
	code := 0
	for _, s := range []server{api, metrics} {
		logger.Info("draining server", "server", s.name)
		// Shutdown closes the listener, then waits for the requests in
		// flight, until the deadline.
		if err := s.srv.Shutdown(shutdownCtx); err != nil {
			// Out of time. Shutdown stops waiting but closes nothing, and
			// the process has the stats to send yet: Close cuts the
			// stragglers off now, so that their clients learn at once
			// instead of when the process exits. Exit 1 so that whoever
			// reads the exit code knows requests were dropped.
			logger.Error("forced close", "server", s.name, "err", err)
			_ = s.srv.Close()
			code = 1
		}
	}
	if code != 0 {
		return code
	}
	// After Shutdown, Serve returns http.ErrServerClosed: that is success.
	if err := <-serveErr; !errors.Is(err, http.ErrServerClosed) {
		logger.Error("server failed", "server", api.name, "err", err)
		return 1
	}
	return 0
}

// server is an http.Server with the name its events carry.
type server struct {
	name string
	srv  *http.Server
}

// work runs a job every interval until ctx is cancelled.
//
// TODO(task06): when shutdown starts, the worker should start no new job
// but finish the one it is on. Mind the select below: when a tick and
// ctx.Done() are both ready, it picks one at random.
func work(ctx context.Context, every, took time.Duration, logger *slog.Logger) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			logger.Info("worker stopped")
			return nil
		case <-t.C:
			doJob(ctx, took, logger)
		}
	}
}

// doJob stands for one unit of the worker's work, which takes took.
//
// TODO(task06): the signal cuts the job off halfway, and a job cut in half
// can leave its work half done (a batch half written, a message taken but
// never acknowledged). Once started, a job should run to the end, and log
// "job done" then, even during the shutdown. But not forever: give it no
// more than -shutdown-timeout from the moment shutdown starts, the same
// budget the servers get; a job still running then is abandoned, and the
// program exits 1, as after a forced close.
func doJob(ctx context.Context, took time.Duration, logger *slog.Logger) {
	logger.Info("job started")
	select {
	case <-time.After(took):
		logger.Info("job done")
	case <-ctx.Done():
	}
}

// stats counts the requests the API server received, for a usage report
// (what a bill or a dashboard is made from). The program keeps the count in
// memory and sends it once, on its way out, after every part has stopped:
// that is its last piece of work.
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

// helloHandler answers "hello" after delay, like a slow backend call, and
// counts the request in st.
func helloHandler(delay time.Duration, st *stats) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		st.requests.Add(1)
		time.Sleep(delay)
		fmt.Fprintln(w, "hello")
	})
}

// adminHandler serves what operators and Prometheus ask of this process:
// /metrics, and the Go profiler under /debug/pprof/. A CPU profile or an
// execution trace runs for as long as its ?seconds= says, so a shutdown may
// well find one in flight. (Importing net/http/pprof also registers these
// handlers on http.DefaultServeMux; this program never serves that mux.)
func adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.Handler())
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// logRequests logs "request started" for every request that reaches next,
// with the server's name, so that the log tells the two servers apart.
func logRequests(name string, logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		logger.Info("request started", "server", name, "path", r.URL.Path)
		next.ServeHTTP(w, r)
	})
}

// listenAndServe is srv.ListenAndServe that logs the address it bound, so
// that -addr :0 reports its real port. Like ListenAndServe it returns a bind
// error at once, and http.ErrServerClosed after Shutdown (even a Shutdown
// that came before Serve did).
func listenAndServe(s server, logger *slog.Logger) error {
	ln, err := net.Listen("tcp", s.srv.Addr)
	if err != nil {
		return err
	}
	logger.Info("listening", "server", s.name, "addr", ln.Addr().String())
	return s.srv.Serve(ln)
}

type config struct {
	addr            string
	metricsAddr     string
	delay           time.Duration
	jobInterval     time.Duration
	jobDuration     time.Duration
	shutdownTimeout time.Duration
	flushTime       time.Duration
	logFormat       string
}

// parseFlags reads the command line. Usage goes to stdout for -h; errors are
// returned for the caller to print as one line.
func parseFlags(args []string, stdout io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("task06-errgroup", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&cfg.addr, "addr", ":8080", "address of the API server")
	fs.StringVar(&cfg.metricsAddr, "metrics-addr", ":9090", "address of the metrics server (/metrics, /debug/pprof/)")
	fs.DurationVar(&cfg.delay, "delay", 2*time.Second, "how long each API request takes")
	fs.DurationVar(&cfg.jobInterval, "job-interval", 5*time.Second, "how often the worker starts a job")
	fs.DurationVar(&cfg.jobDuration, "job-duration", time.Second, "how long each job takes")
	fs.DurationVar(&cfg.shutdownTimeout, "shutdown-timeout", 5*time.Second, "the whole shutdown's budget, from the signal: both drains and the last job")
	fs.DurationVar(&cfg.flushTime, "flush-time", time.Second, "how long sending the API's request stats takes, once every part has stopped")
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
	for _, a := range []struct{ name, value string }{{"addr", cfg.addr}, {"metrics-addr", cfg.metricsAddr}} {
		if _, _, err := net.SplitHostPort(a.value); err != nil {
			return cfg, fmt.Errorf("invalid -%s %q: %v", a.name, a.value, err)
		}
	}
	for _, d := range []struct {
		name  string
		value time.Duration
	}{{"delay", cfg.delay}, {"job-duration", cfg.jobDuration}, {"shutdown-timeout", cfg.shutdownTimeout}, {"flush-time", cfg.flushTime}} {
		if d.value < 0 {
			return cfg, fmt.Errorf("invalid -%s %v: must not be negative", d.name, d.value)
		}
	}
	// time.NewTicker panics on an interval that is not positive; say so here
	// instead, as a usage error.
	if cfg.jobInterval <= 0 {
		return cfg, fmt.Errorf("invalid -job-interval %v: must be positive", cfg.jobInterval)
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
