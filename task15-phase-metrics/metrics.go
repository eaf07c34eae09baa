package main

import (
	"time"

	"gracefulshutdown.lab/task15-phase-metrics/lifecycle"
)

// phaseMetrics is the lifecycle's Observer that records each shutdown phase
// in Prometheus metrics. See README.md for the three metrics it keeps.
//
// TODO(task15): hold the three metrics here, each a vector with one label,
// "phase":
//   - shutdown_phase_duration_seconds, a histogram, with buckets that suit
//     phases from a few milliseconds to tens of seconds;
//   - shutdown_phase_started_total, a counter;
//   - shutdown_phase_failed_total, a counter.
//
// Create them, and register them on the registry that run passes you, once:
// in a constructor such as newPhaseMetrics(reg prometheus.Registerer), which
// run calls and hands to lifecycle.New.
type phaseMetrics struct{}

var _ lifecycle.Observer = (*phaseMetrics)(nil)

// PhaseStarted is called just before the phase's stop function.
//
// TODO(task15): count the phase as started.
func (m *phaseMetrics) PhaseStarted(phase string) {}

// PhaseDone is called when the phase has returned, or when the lifecycle
// stopped waiting for it. err is nil if the phase succeeded.
//
// TODO(task15): record how long it took, and count it as failed if it did.
func (m *phaseMetrics) PhaseDone(phase string, took time.Duration, err error) {}
