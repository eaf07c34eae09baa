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

// drainServer is the HTTP server's phase, and the WebSockets' too. Shutdown
// closes the listener and waits for the requests in flight until the
// phase's deadline; past it, Close cuts the stragglers off, and the phase
// fails so the exit code says the shutdown was forced.
//
// The WebSockets are not among the connections Shutdown waits for: each was
// hijacked when it was upgraded, and the server has forgotten it. What
// Shutdown offers is a hook: RegisterOnShutdown's function is started when
// Shutdown begins, so the WebSockets get their close frames at the same
// moment the listener closes, and drain alongside the requests. But
// Shutdown starts it in a goroutine and does not wait for it, and nothing
// else would: the phase waits for the WebSockets itself, or the process
// exits under them and their clients see 1006 instead of 1001.
func drainServer(srv *http.Server, ws *webSockets, logger *slog.Logger) func(context.Context) error {
	srv.RegisterOnShutdown(ws.goAway)
	return func(ctx context.Context) error {
		logger.Info("draining server")
		var forced error
		if err := srv.Shutdown(ctx); err != nil {
			logger.Error("forced close", "err", err)
			_ = srv.Close()
			forced = err
		}
		// The WebSockets' drain has been running since Shutdown began,
		// with a timeout of its own, so this wait adds nothing to the
		// HTTP drain's: the phase takes as long as the longer of the two.
		return errors.Join(forced, ws.wait(ctx))
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
