package main

import (
	"context"
	"log/slog"
	"time"
)

// preStop is how this instance goes out of rotation. For now there is one
// way, the readiness phase at the signal: readiness goes off, and the API
// keeps serving for the drain delay while the load balancers notice.
//
// TODO(task17): add the other way, the kubelet's preStop hook,
// GET /admin/prestop, which Kubernetes calls before it sends SIGTERM. Write
// its handler here (run serves it on the admin listener). It must:
//   - turn readiness off at once, so /readyz answers 503;
//   - log "prestop";
//   - answer 200 only after -prestop-delay (5s), the time the load
//     balancers get to stop sending traffic here;
//   - be harmless when called twice (a repeat must not push SIGTERM back
//     by another delay) or after the signal (answer at once: the shutdown
//     is under way).
//
// The hook and the readiness phase share state (has readiness gone off,
// and when?) from different goroutines: guard it.
type preStop struct {
	ready  *readiness
	logger *slog.Logger
}

// newPreStop is called by run with the readiness flag, -prestop-delay and
// the logger.
//
// TODO(task17): keep delay: the hook waits that long.
func newPreStop(ready *readiness, delay time.Duration, logger *slog.Logger) *preStop {
	return &preStop{ready: ready, logger: logger}
}

// drain is the readiness phase, the first to run at the signal: readiness
// goes off, and the API keeps serving for drainDelay so that the load
// balancers notice before the next phase closes the listener. A deadline
// that comes first ends the wait.
//
// TODO(task17): after a preStop hook, the load balancers have had the
// hook's delay already: do not wait the drain delay a second time. The
// drain delay counts from the moment readiness went off, whoever turned it
// off, so wait only for what is left of it (often nothing).
func (p *preStop) drain(drainDelay time.Duration) func(context.Context) error {
	return func(ctx context.Context) error {
		p.ready.set(false)
		p.logger.Info("readiness off", "wait", drainDelay.String())
		timer := time.NewTimer(drainDelay)
		defer timer.Stop()
		select {
		case <-timer.C:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
