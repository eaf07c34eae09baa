// Command task09-handler-timeout serves a slow endpoint behind a middleware
// that caps every handler: at the cap the handler's context is cancelled and
// the client gets 504 Gateway Timeout at once, even from a handler that never
// looks at its context. So no request, and no drain, lasts longer than the
// cap. It shuts down gracefully on Ctrl+C or SIGTERM.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
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
	// Shutdown waits for every request in flight, and no request outlives
	// the handler timeout: by then it has its answer, if only a 504. So with
	// -shutdown-timeout above -handler-timeout, this drain ends in time
	// however slow the handlers are.
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

// handlerTimeout caps each request at limit. The handler runs on a goroutine
// of its own and writes into a buffer; the middleware waits for whichever
// comes first. If the handler finishes in time, its status, headers and body
// go to the client unchanged. If the cap comes first, the handler's context
// is cancelled, the client gets 504 at once, and whatever the handler writes
// from then on is discarded.
//
// It is http.TimeoutHandler with two changes: the status is 504, because the
// thing that did not answer in time is the handler behind us, not this
// server; and a timeout is logged. Like TimeoutHandler, it buffers the whole
// response, so it is not for streaming endpoints (the writer has no Flush).
func handlerTimeout(limit time.Duration, logger *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx, cancel := context.WithTimeout(r.Context(), limit)
			defer cancel()

			tw := &timeoutWriter{header: make(http.Header)}
			done := make(chan struct{})
			var panicked any
			go func() {
				defer close(done)
				// A panic on this goroutine would bypass net/http's recovery
				// and kill the process; hand it back to be re-panicked on the
				// request's goroutine, where the server handles it.
				defer func() { panicked = recover() }()
				next.ServeHTTP(tw, r.WithContext(ctx))
			}()

			select {
			case <-done:
				if panicked != nil {
					panic(panicked)
				}
			case <-ctx.Done():
				// The handler may well still be running, and may never stop
				// (Go cannot kill a goroutine). Waiting for it here would
				// make the client, and Shutdown, wait for it too.
			}

			tw.mu.Lock()
			defer tw.mu.Unlock()
			// Test the context, not which case the select took: a handler
			// that returns because its context was cancelled closes done at
			// about the moment ctx.Done fires, and select picks between
			// ready cases at random. Past the cap the answer is 504, always.
			switch {
			case errors.Is(ctx.Err(), context.DeadlineExceeded):
				tw.timedOut = true
				logger.Warn("handler timed out", "path", r.URL.Path, "after", limit.String())
				http.Error(w, "handler timed out", http.StatusGatewayTimeout)
			case ctx.Err() != nil:
				// The client went away (the server cancels the request's
				// context when the connection closes): nobody to answer.
				tw.timedOut = true
			default:
				maps.Copy(w.Header(), tw.header)
				w.WriteHeader(tw.status())
				_, _ = w.Write(tw.body.Bytes())
			}
		})
	}
}

// timeoutWriter is the ResponseWriter the handler gets: it keeps the
// response in memory until handlerTimeout decides what the client sees. The
// handler writes on its goroutine and handlerTimeout reads and sets timedOut
// on the request's, possibly at the same moment, so both hold mu.
type timeoutWriter struct {
	mu       sync.Mutex
	header   http.Header
	body     bytes.Buffer
	code     int
	timedOut bool
}

// Header is the handler's own header map. handlerTimeout copies it only
// after the handler has returned, so the handler needs no lock to use it.
func (tw *timeoutWriter) Header() http.Header { return tw.header }

func (tw *timeoutWriter) WriteHeader(code int) {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	if tw.timedOut || tw.code != 0 {
		return
	}
	tw.code = code
}

// Write returns http.ErrHandlerTimeout once the client has had its 504, so
// that a handler that checks its writes can stop.
func (tw *timeoutWriter) Write(p []byte) (int, error) {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	if tw.timedOut {
		return 0, http.ErrHandlerTimeout
	}
	if tw.code == 0 {
		tw.code = http.StatusOK
	}
	return tw.body.Write(p)
}

// status is the code the handler chose; like net/http, 200 if it wrote
// nothing at all. The caller holds mu.
func (tw *timeoutWriter) status() int {
	if tw.code == 0 {
		return http.StatusOK
	}
	return tw.code
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
