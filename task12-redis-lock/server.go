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
func startServer(addr string, handler http.Handler, logger *slog.Logger) (*http.Server, <-chan error, error) {
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

// helloHandler answers "hello" after delay, like a slow backend call.
func helloHandler(delay time.Duration, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		logger.Info("request started", "path", r.URL.Path)
		time.Sleep(delay)
		fmt.Fprintln(w, "hello")
	})
}
