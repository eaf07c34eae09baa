package service

import (
	"fmt"
	"net/http"
	"sync/atomic"
)

// readiness is whether this instance wants traffic: what /readyz reports to
// the load balancer. It is read by every request and written at start-up,
// by the preStop hook and at the signal, so it is atomic. The readiness
// phase, which turns it off at the signal, is in prestop.go: it has to know
// whether the hook did so first.
type readiness struct{ ready atomic.Bool }

func (r *readiness) set(ready bool) { r.ready.Store(ready) }

// handler is the readiness probe: 200 while this instance wants traffic,
// 503 from the moment it is leaving (the preStop hook, or the signal), so
// it is taken out of rotation.
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

// healthzHandler is the liveness probe: it says the process is alive and
// not stuck, so it stays 200 through the drain. Were it to fail, the kubelet
// would restart the container in the middle of its graceful shutdown.
func healthzHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
}

// isReady reports whether this instance still wants traffic: false from the
// moment it is leaving.
func (r *readiness) isReady() bool { return r.ready.Load() }
