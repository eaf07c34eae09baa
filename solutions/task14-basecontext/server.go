package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// errShuttingDown is the cause with which every request's context ends
// when the drain begins. context.Cause tells it apart from a client that
// went away (context.Canceled) and from a deadline
// (context.DeadlineExceeded).
var errShuttingDown = errors.New("server shutting down")

// startServer binds addr and serves handler on it in the background. The
// bind happens here, before the server counts as started, so a taken
// address is an error now rather than a message from a goroutine later. The
// returned channel delivers Serve's error: http.ErrServerClosed after
// Shutdown, anything else if the server failed on its own.
//
// ctx is the program's root context; the signal cancels it. Every
// request's context derives from it, without its cancellation: requests
// are cancelled when the drain begins instead, once the drain delay is over
// and the listener has closed.
func startServer(ctx context.Context, addr string, handler http.Handler, logger *slog.Logger) (*http.Server, <-chan error, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	// The bound address, so that -addr :0 reports its real port.
	logger.Info("listening", "addr", ln.Addr().String())

	// base is the parent of every request's context (Go's default is
	// context.Background, which nothing ever cancels). It keeps the root
	// context's values but not its cancellation: at the signal the service
	// still serves as usual, for the whole drain delay, while the load
	// balancer takes it out of rotation.
	base, release := context.WithCancelCause(context.WithoutCancel(ctx))
	srv := &http.Server{
		Handler: handler,
		// A client that opens a connection and sends its headers slowly, or
		// never, would otherwise hold a goroutine and a descriptor forever.
		ReadHeaderTimeout: 5 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return base },
	}
	// Shutdown does not cancel request contexts by itself: it only waits
	// for the requests to end. It does call this, on a goroutine of its
	// own, as soon as it has closed the listener: from then on, no request
	// is coming that a long poll could be waiting for, and every handler
	// that watches r.Context() hears that the server is leaving.
	srv.RegisterOnShutdown(func() { release(errShuttingDown) })

	// The buffer lets the goroutine end after Shutdown, when nobody reads.
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	return srv, serveErr, nil
}

// drainServer is the HTTP server's phase: Shutdown closes the listener and
// waits for the requests in flight until the phase's deadline; past it,
// Close cuts the stragglers off, and the phase fails so the exit code says
// the shutdown was forced.
func drainServer(srv *http.Server, logger *slog.Logger) func(context.Context) error {
	return func(ctx context.Context) error {
		logger.Info("draining server")
		if err := srv.Shutdown(ctx); err != nil {
			logger.Error("forced close", "err", err)
			_ = srv.Close()
			return err
		}
		return nil
	}
}

// helloHandler answers "hello" after a call to a slow backend that takes
// delay. The call is short and bounded, and letting calls like it finish is
// what the drain is for, so it is shielded from the drain's cancellation:
// context.WithoutCancel keeps the request context's values (its ID, which
// the backend needs, a trace, a logger) and drops its cancellation and its
// deadline. The price: it no longer stops when the client goes away
// either, so shield only work that ends by itself.
func helloHandler(delay time.Duration, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		logger.Info("request started", "path", r.URL.Path)
		if err := callBackend(context.WithoutCancel(r.Context()), delay); err != nil {
			logger.Warn("backend call failed", "path", r.URL.Path, "err", err)
			http.Error(w, "backend call failed: "+err.Error(), http.StatusBadGateway)
			return
		}
		fmt.Fprintln(w, "hello")
	})
}
