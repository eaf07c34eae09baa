package service

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"gracefulshutdown.lab/task20-signal-storm/lifecycle"
)

// phaseMetrics is the lifecycle's Observer that records each shutdown phase
// in Prometheus metrics: how many started, how many failed, and how long
// each took. Every series carries one label, the phase's name, which comes
// from the program's own short list of phases; anything that varies from
// one shutdown to the next (an error's text, a duration) stays out of the
// labels, or each shutdown would make new series for ever.
type phaseMetrics struct {
	duration *prometheus.HistogramVec
	started  *prometheus.CounterVec
	failed   *prometheus.CounterVec
}

var _ lifecycle.Observer = (*phaseMetrics)(nil)

// newPhaseMetrics creates the three metrics and registers them on reg, once
// for the whole program: registering them again, say on each phase, would
// fail with a duplicate registration (MustRegister panics).
func newPhaseMetrics(reg prometheus.Registerer) *phaseMetrics {
	m := &phaseMetrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "shutdown_phase_duration_seconds",
			Help: "How long each shutdown phase ran, until it returned or was given up on at its deadline.",
			// A phase takes anything from a millisecond (closing an idle
			// listener) to tens of seconds (a drain or a linger that runs
			// to its deadline): 5ms, 10ms, 20ms, ... 40.96s, each bucket
			// twice the one below, so that a phase cut off at a 10s or 30s
			// deadline still lands in a bucket of its own, below +Inf.
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}, []string{"phase"}),
		started: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shutdown_phase_started_total",
			Help: "Shutdown phases started.",
		}, []string{"phase"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shutdown_phase_failed_total",
			Help: "Shutdown phases that failed: returned an error, overran their deadline or panicked.",
		}, []string{"phase"}),
	}
	reg.MustRegister(m.duration, m.started, m.failed)
	return m
}

// PhaseStarted counts the phase as started. It also creates the phase's
// failed counter at zero: a series that appears only when something goes
// wrong has no zero before it, so "failed = 0" would read as "no data".
// A phase that never finishes shows up as started with no duration, which
// is how a hang looks from the outside.
func (m *phaseMetrics) PhaseStarted(phase string) {
	m.started.WithLabelValues(phase).Inc()
	m.failed.WithLabelValues(phase).Add(0)
}

// PhaseDone records how long the phase took and, if it failed, counts the
// failure. The lifecycle calls it for every phase that ends, however it
// ends: err is the phase's own error, the deadline it overran, or the panic
// it was recovered from.
func (m *phaseMetrics) PhaseDone(phase string, took time.Duration, err error) {
	m.duration.WithLabelValues(phase).Observe(took.Seconds())
	if err != nil {
		m.failed.WithLabelValues(phase).Inc()
	}
}

// newForceCloses creates force_close_total, the count of drains that ran
// out of time and had to fall back to Close, and registers it on reg. It
// has no label: the "forced close" event says which server it was. A
// counter without labels is exported from the moment it is registered, at
// 0, so a scrape tells "never forced" apart from "no data".
func newForceCloses(reg prometheus.Registerer) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "force_close_total",
		Help: "Drains that ran out of time, after which Close cut the connections still open.",
	})
	reg.MustRegister(c)
	return c
}
