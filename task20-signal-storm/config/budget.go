package config

import (
	"fmt"
	"time"
)

// CloseTimeout is the deadline of a phase that only closes something that
// lives in this process or on this host: a client's pool, an embedded
// server. Closing takes milliseconds; the deadline is there so that a stuck
// close cannot take another phase's share of the budget.
const CloseTimeout = 500 * time.Millisecond

// ExitMargin is what the grace period keeps after the last step, for the
// process to log "exited" and end before the kubelet's SIGKILL: the kubelet
// counts in whole seconds (task 17).
const ExitMargin = 2 * time.Second

// A Part is one step of the shutdown and the longest it can take.
type Part struct {
	Name  string        // what it is, as the README's timeline names it
	Flags string        // where its time comes from
	Took  time.Duration // its worst case
}

// Budget is the shutdown's steps in the order they run, from the pod's
// deletion to the trace's flush, each with its worst case: the deadline it
// runs under. The phases get these deadlines from the methods below, so
// that the check and the program read the same numbers.
func (c Config) Budget() []Part {
	return []Part{
		// The preStop hook and the readiness phase count from the same
		// moment, readiness going off (task 17): with the hook, SIGTERM
		// comes -prestop-delay after it and the phase waits only for what
		// is left of -drain-delay; without it, the phase waits it all.
		{"the preStop hook and the drain delay", fmt.Sprintf("the longer of -prestop-delay %v and -drain-delay %v", c.PreStopDelay, c.DrainDelay), max(c.PreStopDelay, c.DrainDelay)},
		{"the API's drain (HTTP, WebSockets, long polls)", fmt.Sprintf("-phase-timeout %v", c.PhaseTimeout), c.PhaseTimeout},
		{"the worker's last job", fmt.Sprintf("-job-duration %v + %v", c.JobDuration, CloseTimeout), c.WorkerTimeout()},
		{"the Kafka flush", fmt.Sprintf("-flush-timeout %v", c.FlushTimeout), c.FlushTimeout},
		{"the embedded Kafka cluster's close", CloseTimeout.String(), CloseTimeout},
		{"the Redis lock's release", fmt.Sprintf("2 × -redis-timeout %v", c.RedisTimeout), c.LockReleaseTimeout()},
		{"the Redis client's close", CloseTimeout.String(), CloseTimeout},
		{"the embedded Redis's close", CloseTimeout.String(), CloseTimeout},
		{"the database's close", fmt.Sprintf("-db-timeout %v", c.DBTimeout), c.DBTimeout},
		{"the admin server's linger and drain", fmt.Sprintf("-metrics-linger %v + %v", c.MetricsLinger, CloseTimeout), c.AdminTimeout()},
		{"the trace's flush", fmt.Sprintf("-trace-flush-timeout %v", c.TraceFlushTimeout), c.TraceFlushTimeout},
	}
}

// Check returns an error that names the first part to end past grace less
// ExitMargin, counted from the pod's deletion, or nil if every part fits.
func Check(parts []Part, grace time.Duration) error {
	var end, total time.Duration
	for _, p := range parts {
		total += p.Took
	}
	limit := grace - ExitMargin
	for _, p := range parts {
		end += p.Took
		if end > limit {
			return fmt.Errorf("invalid -grace-period %v: %s (%s) would end %v after the pod's deletion, past %v (the grace period less %v to exit); the whole shutdown's worst case is %v",
				grace, p.Name, p.Flags, end, limit, ExitMargin, total)
		}
	}
	return nil
}

// WorkerTimeout is the worker phase's deadline: a job that has just
// started needs all of -job-duration.
func (c Config) WorkerTimeout() time.Duration { return c.JobDuration + CloseTimeout }

// LockReleaseTimeout is the redis lock phase's deadline: an extension that
// is on the wire ends within -redis-timeout, and the release takes one
// more (task 12).
func (c Config) LockReleaseTimeout() time.Duration { return 2 * c.RedisTimeout }

// AdminTimeout is the admin server's phase deadline: the linger, then a
// drain of scrapes and probes, which take milliseconds.
func (c Config) AdminTimeout() time.Duration { return c.MetricsLinger + CloseTimeout }

// ShutdownDeadline is how long after readiness went off (the preStop hook,
// or else the signal) the whole shutdown must be over, trace flush
// included: the grace period less the exit's margin.
func (c Config) ShutdownDeadline() time.Duration { return c.GracePeriod - ExitMargin }
