package service

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The admin listener (-admin-addr) serves what the platform asks of this
// process: Prometheus' scrapes, the kubelet's probes, an operator's
// profiles. It has an address of its own because none of that belongs on
// the public API port: a profile or the metrics say a lot about the inside
// of the service, and the probes must keep answering while the public
// listener drains. Start it first, so that its phase, added first, runs last.

// newRegistry is the program's own Prometheus registry: /metrics serves it,
// and every part that has metrics registers them on it. A registry per run,
// rather than the library's global one, means that what /metrics shows is
// exactly what this program registered, and that start can be called again
// in the same process (tests do) without registering anything twice.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	// What the global registry would have had: the Go runtime (goroutines,
	// GC, memory) and the process (CPU, memory, open files).
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// adminHandler is the admin listener's mux:
//
//   - /metrics, reg in Prometheus' exposition format;
//   - /healthz and /readyz, the liveness and readiness probes;
//   - /debug/pprof/, Go's profiler.
//
// It returns the mux itself so that start can add the preStop hook to it.
func adminHandler(reg *prometheus.Registry, ready *readiness) *http.ServeMux {
	mux := http.NewServeMux()
	// HandlerFor serves reg, not the global registry that promhttp.Handler
	// serves; InstrumentMetricHandler counts the scrapes on reg, as
	// promhttp.Handler does on the global one.
	mux.Handle("GET /metrics", promhttp.InstrumentMetricHandler(reg, promhttp.HandlerFor(reg, promhttp.HandlerOpts{})))
	mux.Handle("GET /healthz", healthzHandler())
	mux.Handle("GET /readyz", ready.handler())
	// Registered one by one on this mux. (Importing net/http/pprof also
	// registers them on http.DefaultServeMux, which this program never
	// serves.)
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// lingerThenDrain is the admin server's phase, the last to run. Every other
// phase has finished and recorded its figures by now, but nobody has read
// them: Prometheus scrapes every interval, and a listener closed now would
// take the final values with it. So the admin listener stays up for linger,
// long enough for one more scrape, and then drains like any other server.
//
// The linger is spent out of the shutdown's budget: a deadline that comes
// first ends it early, and the drain gets what is left (an idle server
// needs none).
func lingerThenDrain(srv *http.Server, linger time.Duration, forced prometheus.Counter, logger *slog.Logger) func(context.Context) error {
	drain := drainServer("admin", srv, forced, logger)
	return func(ctx context.Context) error {
		logger.Info("lingering", "linger", linger.String())
		wait := time.NewTimer(linger)
		defer wait.Stop()
		select {
		case <-wait.C:
		case <-ctx.Done():
		}
		return drain(ctx)
	}
}
