package service

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// errShuttingDown is the cause with which every API request's context ends
// when the API's drain begins (task 14): long polls answer 503 then.
var errShuttingDown = errors.New("server shutting down")

// newServer is an http.Server for handler. A client that opens a
// connection and sends its headers slowly, or never, would otherwise hold
// a goroutine and a descriptor forever.
func newServer(handler http.Handler) *http.Server {
	return &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second}
}

// startServer binds addr and serves srv on it in the background. The bind
// happens here, so a taken address is an error now rather than a message
// from a goroutine later. The channel delivers Serve's error:
// http.ErrServerClosed after Shutdown, anything else if the server failed
// on its own. name ("api" or "admin") goes into the events.
func startServer(name, addr string, srv *http.Server, logger *slog.Logger) (<-chan error, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	// The bound address, so that -addr :0 reports its real port.
	logger.Info("listening", "server", name, "addr", ln.Addr().String())
	serveErr := make(chan error, 1) // the goroutine ends even if nobody reads
	go func() { serveErr <- srv.Serve(ln) }()
	return serveErr, nil
}

// drainServer is the admin server's drain (task 16): Shutdown waits for the
// requests in flight until the deadline; past it, Close cuts them off,
// force_close_total counts it, and the phase fails.
func drainServer(name string, srv *http.Server, forced prometheus.Counter, logger *slog.Logger) func(context.Context) error {
	return func(ctx context.Context) error {
		logger.Info("draining server", "server", name)
		if err := srv.Shutdown(ctx); err != nil {
			forced.Inc()
			logger.Error("forced close", "server", name, "err", err)
			_ = srv.Close()
			return err
		}
		return nil
	}
}

// api is the public API's server, and what its drain needs beside it: the
// WebSockets, which Shutdown cannot see (task 11), and the connections'
// states, which say the moment the last request is done.
type api struct {
	srv   *http.Server
	ws    *webSockets
	conns connTracker
}

// newAPI is the public API's server for handler. Every request's context
// derives from ctx without its cancellation, and ends, with cause
// errShuttingDown, when the drain begins (task 14). The drain also starts
// the WebSockets' close frames (task 11).
func newAPI(ctx context.Context, handler http.Handler, ws *webSockets) *api {
	a := &api{srv: newServer(handler), ws: ws}
	base, release := context.WithCancelCause(context.WithoutCancel(ctx))
	a.srv.BaseContext = func(net.Listener) context.Context { return base }
	a.srv.ConnState = a.conns.track
	a.srv.RegisterOnShutdown(func() { release(errShuttingDown) })
	a.srv.RegisterOnShutdown(ws.goAway)
	return a
}

// drain is the "api server" phase. Shutdown closes the listener, releases
// the long polls and sends the WebSockets their 1001; it waits for the
// requests in flight until the phase's deadline, past which Close cuts them
// off and force_close_total counts it (task 16). The phase ends when the
// HTTP side is quiet and the WebSockets have answered (or been cut off).
//
// Shutdown checks for quiet by polling, at intervals that grow to half a
// second: a request that ends 2 s into the drain is noticed up to 500 ms
// later, and every later phase, and the exit, waits that long for nothing.
// The connections' states say it at once: when no connection has a request
// in flight, the ones left are idle, and Close closes them now, which is
// what Shutdown's next poll would have done.
func (a *api) drain(forced prometheus.Counter, logger *slog.Logger) func(context.Context) error {
	return func(ctx context.Context) error {
		logger.Info("draining server", "server", "api")
		shut := make(chan error, 1)
		go func() { shut <- a.srv.Shutdown(ctx) }()
		var err error
		select {
		case err = <-shut:
		case <-a.conns.quiet():
			_ = a.srv.Close()
		}
		if err != nil {
			forced.Inc()
			logger.Error("forced close", "server", "api", "err", err)
			_ = a.srv.Close()
		}
		// The WebSockets' drain began with Shutdown, with a timeout of its
		// own: this wait adds nothing to the HTTP drain's.
		return errors.Join(err, a.ws.wait(ctx))
	}
}

// connTracker follows the API's connections through their states
// (http.Server.ConnState): a connection is busy from the moment it is
// accepted until its request's response is written, and again for each
// request on it.
type connTracker struct {
	mu       sync.Mutex
	busy     map[net.Conn]struct{}
	draining bool
	done     chan struct{} // closed once draining and no connection is busy
}

func (t *connTracker) track(c net.Conn, state http.ConnState) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.busy == nil {
		t.busy = make(map[net.Conn]struct{})
	}
	switch state {
	case http.StateNew, http.StateActive:
		t.busy[c] = struct{}{}
	default: // idle, hijacked (a WebSocket, the drain's own business), closed
		delete(t.busy, c)
	}
	t.check()
}

// quiet starts watching for the moment no connection is busy, and returns
// a channel closed then (at once if none is busy now).
func (t *connTracker) quiet() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done == nil {
		t.done = make(chan struct{})
	}
	t.draining = true
	t.check()
	return t.done
}

// check closes done the first time the drain finds nothing busy. The caller
// holds mu.
func (t *connTracker) check() {
	if !t.draining || len(t.busy) > 0 {
		return
	}
	select {
	case <-t.done:
	default:
		close(t.done)
	}
}
