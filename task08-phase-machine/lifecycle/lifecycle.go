// Package lifecycle stops a program's parts in the reverse of the order in
// which they started, each within a deadline of its own.
//
// A program adds a phase for each part the moment that part has started:
// the database once it answers, the worker once it runs, the server once it
// listens. Shutdown runs the phases last in, first out, so that nothing is
// stopped while a part started after it, which may depend on it, still runs.
// A phase that fails, overruns its deadline or panics is reported, and the
// phases after it still run: a shutdown releases everything it can.
//
// That is the plan. This first version is the naive one that most programs
// start with: see the TODO(task08) comments.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrShutdownStarted is what Add returns once Shutdown has been called: a
// phase added then could run in the wrong order, or not at all.
var ErrShutdownStarted = errors.New("lifecycle: shutdown has started")

// A Lifecycle is a stack of phases. Its methods are safe for concurrent use.
type Lifecycle struct {
	defaultTimeout time.Duration
	observers      []Observer

	mu     sync.Mutex
	phases []phase
}

type phase struct {
	name    string
	stop    func(context.Context) error
	timeout time.Duration
}

// An Option changes how one phase runs.
type Option func(*phase)

// Timeout gives a phase a deadline of its own instead of the Lifecycle's
// default. A d of zero or less gives it none: only the deadline of the
// context passed to Shutdown applies.
func Timeout(d time.Duration) Option {
	return func(p *phase) { p.timeout = d }
}

// An Observer hears about each phase as it runs, for logs, metrics or
// traces. Its methods are called from the goroutine that runs Shutdown, one
// phase after another, so they should return quickly.
type Observer interface {
	// PhaseStarted is called just before the phase's stop function.
	PhaseStarted(phase string)
	// PhaseDone is called when the phase has returned, or when Shutdown
	// stopped waiting for it. err is nil if the phase succeeded.
	PhaseDone(phase string, took time.Duration, err error)
}

// New returns an empty Lifecycle whose phases each get defaultTimeout unless
// they say otherwise (see Timeout). A defaultTimeout of zero or less means no
// deadline per phase, only the one of the context passed to Shutdown.
func New(defaultTimeout time.Duration, observers ...Observer) *Lifecycle {
	return &Lifecycle{defaultTimeout: defaultTimeout, observers: observers}
}

// Add pushes a phase named name, which stop ends. Call it right after the
// part it stops has started, so that the order of the Add calls is the
// start-up order. Once Shutdown has been called, Add should refuse with an
// error that wraps ErrShutdownStarted, and stop should never run.
//
// TODO(task08): Add accepts phases at any time, even while Shutdown is
// running or after it has finished; they may never run. Remember, under the
// mutex, that Shutdown has been called, and refuse from then on.
func (l *Lifecycle) Add(name string, stop func(context.Context) error, opts ...Option) error {
	p := phase{name: name, stop: stop, timeout: l.defaultTimeout}
	for _, opt := range opts {
		opt(&p)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.phases = append(l.phases, p)
	return nil
}

// PanicError is how Shutdown should report a phase that panicked.
type PanicError struct {
	Value any    // what the phase passed to panic
	Stack []byte // the phase's goroutine's stack when it panicked
}

func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// Unwrap returns the panic's value if it is an error, so that errors.Is and
// errors.As see through the panic to it.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// Shutdown runs the phases and tells the observers about each one.
//
// TODO(task08): this is the naive version, wrong in five ways.
//   - Order: it runs the phases in the order they were added, so the
//     database is closed first, under the server's feet. Run them last in,
//     first out (slices.Backward).
//   - Deadlines: every phase gets ctx as it is, with no deadline of its own,
//     and ignores its timeout. Give each phase a context of its own from
//     context.WithTimeout(ctx, p.timeout): its deadline is then the earlier
//     of the two. A phase that ignores its context must not hold up the
//     rest: call stop in a goroutine, and stop waiting at the deadline.
//   - Errors: the first failed phase ends the shutdown, and the phases after
//     it never run. Run every phase; collect one error per failed phase,
//     naming it (fmt.Errorf("phase %q: %w", ...)), and return errors.Join
//     of them.
//   - Panics: a phase that panics takes the whole process down, mid-way
//     through the shutdown. Recover in the phase's goroutine, and report a
//     *PanicError for it.
//   - Twice: a second call, or two at once (two signals, a deferred call
//     and an explicit one), runs every phase again. Only the first call
//     should run them; any other waits for it and returns the same result.
func (l *Lifecycle) Shutdown(ctx context.Context) error {
	l.mu.Lock()
	phases := l.phases
	l.mu.Unlock()

	for _, p := range phases {
		for _, o := range l.observers {
			o.PhaseStarted(p.name)
		}
		start := time.Now()
		err := p.stop(ctx)
		for _, o := range l.observers {
			o.PhaseDone(p.name, time.Since(start), err)
		}
		if err != nil {
			return fmt.Errorf("phase %q: %w", p.name, err)
		}
	}
	return nil
}
