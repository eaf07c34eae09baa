package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"
)

// readiness is whether this instance wants traffic: what /readyz reports to
// the load balancer. It is read by every request and written at start-up
// and at the signal, so it is atomic.
type readiness struct{ ready atomic.Bool }

func (r *readiness) set(ready bool) { r.ready.Store(ready) }

// handler is the readiness probe: 200 while this instance wants traffic,
// 503 from the moment its shutdown starts, so it is taken out of rotation.
func (r *readiness) handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if !r.ready.Load() {
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
}

// closeWhenDraining asks clients to close their connection after each
// response once readiness is off: a keep-alive client would otherwise keep
// sending requests down the connection it has, straight to this instance,
// until Shutdown cut it. With "Connection: close" it reconnects through the
// load balancer, to an instance that is staying.
func (r *readiness) closeWhenDraining(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if !r.ready.Load() {
			w.Header().Set("Connection", "close")
		}
		next.ServeHTTP(w, req)
	})
}

// drain is the readiness phase, the first to run: readiness goes off, and
// the service keeps serving for delay while the load balancer notices (the
// probe has to fail, the new endpoint list has to reach every node). Only
// then may the next phase close the listener. A deadline that comes first
// ends the wait: the budget is spent.
func (r *readiness) drain(delay time.Duration, logger *slog.Logger) func(context.Context) error {
	return func(ctx context.Context) error {
		r.set(false)
		logger.Info("readiness off")
		wait := time.NewTimer(delay)
		defer wait.Stop()
		select {
		case <-wait.C:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// healthzHandler is the liveness probe: it says the process is alive and
// not stuck, so it stays 200 through the drain. Were it to fail, the kubelet
// would restart the container in the middle of its graceful shutdown.
func healthzHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
}
