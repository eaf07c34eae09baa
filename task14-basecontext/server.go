package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// startServer binds addr and serves handler on it in the background. The
// bind happens here, before the server counts as started, so a taken
// address is an error now rather than a message from a goroutine later. The
// returned channel delivers Serve's error: http.ErrServerClosed after
// Shutdown, anything else if the server failed on its own.
//
// ctx is the program's root context; the signal cancels it.
func startServer(ctx context.Context, addr string, handler http.Handler, logger *slog.Logger) (*http.Server, <-chan error, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	// The bound address, so that -addr :0 reports its real port.
	logger.Info("listening", "addr", ln.Addr().String())

	srv := &http.Server{
		Handler: handler,
		// A client that opens a connection and sends its headers slowly, or
		// never, would otherwise hold a goroutine and a descriptor forever.
		ReadHeaderTimeout: 5 * time.Second,
	}
	// TODO(task14): every request's context, r.Context(), derives from the
	// server's base context, which is context.Background() unless
	// srv.BaseContext says otherwise. Nothing cancels it: Shutdown only
	// waits for the requests in flight, so the drain waits for every long
	// poll until its -poll-timeout or the phase's deadline, whichever comes
	// first. Give the server a base context that you cancel when the drain
	// begins, and not before: during the drain delay the load balancer still
	// sends traffic here, and it must be served as usual. Is ctx, cancelled at
	// the signal, the right one?

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
// delay. It makes the call with the request's context, as it should: if the
// client goes away, nobody waits for the answer, and the call stops; and
// the call carries what the context holds, the request's ID, which the
// backend needs.
func helloHandler(delay time.Duration, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		logger.Info("request started", "path", r.URL.Path)
		// TODO(task14): once the drain cancels r.Context(), this call is cut
		// too, and the client gets 502 instead of hello. The call is short,
		// and letting calls like it finish is what the drain is for: keep it
		// from being cut, without losing what r.Context() carries.
		if err := callBackend(r.Context(), delay); err != nil {
			logger.Warn("backend call failed", "path", r.URL.Path, "err", err)
			http.Error(w, "backend call failed: "+err.Error(), http.StatusBadGateway)
			return
		}
		fmt.Fprintln(w, "hello")
	})
}
