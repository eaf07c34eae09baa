package service

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// preStop takes this instance out of rotation in one of two ways, which
// share one clock: the kubelet's preStop hook, GET /admin/prestop, called
// before SIGTERM; or, without a hook, the readiness phase at the signal.
// Readiness goes off once, at whichever comes first, and every wait counts
// from that moment: the hook answers delay after it, and the API stops
// listening drain delay after it. So a signal that follows the hook does
// not wait the drain delay a second time, and a repeated hook does not
// wait its delay a second time.
type preStop struct {
	ready  *readiness
	delay  time.Duration // -prestop-delay: how long the hook holds SIGTERM back
	logger *slog.Logger

	// The hook's handlers and the readiness phase run on goroutines of
	// their own, so what they share is behind mu.
	mu       sync.Mutex
	offSince time.Time // when readiness went off; zero while it is on
	stopping bool      // the signal has come: the readiness phase has begun
}

func newPreStop(ready *readiness, delay time.Duration, logger *slog.Logger) *preStop {
	return &preStop{ready: ready, delay: delay, logger: logger}
}

// goOff turns readiness off the first time it is called and returns when
// that was. The caller holds p.mu.
func (p *preStop) goOff() time.Time {
	if p.offSince.IsZero() {
		p.offSince = time.Now()
		p.ready.set(false)
	}
	return p.offSince
}

// handler is the preStop hook, GET /admin/prestop. The kubelet calls it when
// the pod is being deleted and sends SIGTERM only once it has answered, so
// the hook's wait is time in which the load balancers, told by the endpoint
// update and by /readyz, stop sending traffic here, while everything still
// serves. It answers 200 delay after readiness went off.
//
// Hooks are delivered at least once: a kubelet that restarts in the middle
// may call it again. A repeat waits only for what is left of the first
// call's delay, so it can never push SIGTERM, and the whole shutdown, back.
// A call after the signal answers at once: the shutdown is under way, and
// the readiness phase has taken over the wait.
func (p *preStop) handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		var wait time.Duration
		if !p.stopping {
			wait = max(time.Until(p.goOff().Add(p.delay)), 0)
		}
		p.mu.Unlock()
		p.logger.Info("prestop", "wait", wait.Round(time.Millisecond).String())

		timer := time.NewTimer(wait)
		defer timer.Stop()
		select {
		case <-timer.C:
			fmt.Fprintln(w, "out of rotation: ready for SIGTERM")
		case <-r.Context().Done():
			// The caller gave up (the kubelet stops waiting at the end of
			// the grace period): nobody is left to answer.
		}
	})
}

// drain is the readiness phase, the first to run at the signal: readiness
// goes off, if the hook has not turned it off already, and the API keeps
// serving until it has been off for drainDelay, so that the load balancers
// notice before the next phase closes the listener. After a hook that
// waited at least as long, there is nothing left to wait for: the load
// balancers have had their time, and waiting again would only spend the
// budget. A deadline that comes first ends the wait.
func (p *preStop) drain(drainDelay time.Duration) func(context.Context) error {
	return func(ctx context.Context) error {
		p.mu.Lock()
		p.stopping = true
		wait := max(time.Until(p.goOff().Add(drainDelay)), 0)
		p.mu.Unlock()
		p.logger.Info("readiness off", "wait", wait.Round(time.Millisecond).String())

		timer := time.NewTimer(wait)
		defer timer.Stop()
		select {
		case <-timer.C:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// since is when readiness went off, by the hook or at the signal; zero
// while it is on. The shutdown's budget counts from it: the hook's call is
// as close as the program gets to the moment the pod was deleted.
func (p *preStop) since() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.offSince
}
