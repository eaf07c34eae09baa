// Package lifecycle stops a program's parts in the reverse of the order in
// which they started, each within a deadline of its own.
//
// A program adds a phase for each part the moment that part has started:
// the database once it answers, the worker once it runs, the server once it
// listens. Shutdown runs the phases last in, first out, so that nothing is
// stopped while a part started after it, which may depend on it, still runs.
// A phase that fails, overruns its deadline or panics is reported, and the
// phases after it still run: a shutdown releases everything it can.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
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

	mu       sync.Mutex
	phases   []phase
	stopping bool // Shutdown has been called: Add refuses, Shutdown waits

	done chan struct{} // closed when the phases have run
	err  error         // Shutdown's result; read only after done is closed
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
	return &Lifecycle{
		defaultTimeout: defaultTimeout,
		observers:      observers,
		done:           make(chan struct{}),
	}
}

// Add pushes a phase named name, which stop ends. Call it right after the
// part it stops has started, so that the order of the Add calls is the
// start-up order. Once Shutdown has been called, Add refuses with an error
// that wraps ErrShutdownStarted, and stop never runs: whoever started the
// part must stop it. A nil stop panics, as a programming error.
func (l *Lifecycle) Add(name string, stop func(context.Context) error, opts ...Option) error {
	if stop == nil {
		panic("lifecycle: Add " + name + " with a nil stop function")
	}
	p := phase{name: name, stop: stop, timeout: l.defaultTimeout}
	for _, opt := range opts {
		opt(&p)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopping {
		return fmt.Errorf("add phase %q: %w", name, ErrShutdownStarted)
	}
	l.phases = append(l.phases, p)
	return nil
}

// Shutdown runs the phases, last added first. Each runs with a context whose
// deadline is the earlier of its own timeout and ctx's deadline, and each
// runs whatever happened to the ones before it. Shutdown returns nil if
// every phase succeeded, otherwise one error joining an error per failed
// phase, each naming its phase: one that returned an error wraps that
// error, one that did not return by its deadline wraps the context's error
// (context.DeadlineExceeded, or context.Canceled if ctx was cancelled), and
// one that panicked is a *PanicError.
//
// A phase that ignores its context is not waited for much past its
// deadline: after a short leeway its goroutine is left to finish on its own,
// and the next phase starts. A phase that honours its context ends within
// the leeway and leaves nothing behind. The leeway (a tenth of a second)
// also means that Shutdown may return that much later than ctx's deadline
// for each phase that ran out of time.
//
// Only the first call runs the phases. Any later or concurrent call runs
// nothing; it waits for the first to finish and returns the same result, or
// returns its own ctx's error if ctx ends first.
func (l *Lifecycle) Shutdown(ctx context.Context) error {
	l.mu.Lock()
	first := !l.stopping
	l.stopping = true
	phases := l.phases
	l.phases = nil
	l.mu.Unlock()

	if !first {
		select {
		case <-l.done:
			return l.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	defer close(l.done)
	var errs []error
	for _, p := range slices.Backward(phases) {
		if err := l.run(ctx, p); err != nil {
			errs = append(errs, fmt.Errorf("phase %q: %w", p.name, err))
		}
	}
	l.err = errors.Join(errs...)
	return l.err
}

// run runs one phase and tells the observers about it.
func (l *Lifecycle) run(ctx context.Context, p phase) error {
	for _, o := range l.observers {
		o.PhaseStarted(p.name)
	}
	start := time.Now()
	err := p.run(ctx)
	took := time.Since(start)
	for _, o := range l.observers {
		o.PhaseDone(p.name, took, err)
	}
	return err
}

// run calls the phase's stop function within its deadline.
func (p phase) run(ctx context.Context) error {
	// context.WithTimeout keeps the parent's deadline when it is earlier,
	// so this is "the earlier of the two" without comparing them here.
	if p.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.timeout)
		defer cancel()
	}

	// The stop function runs in a goroutine of its own for two reasons. A
	// panic in cleanup code must not take the rest of the shutdown down
	// with it, and a goroutine can only recover its own panics. And a stop
	// function that ignores its context must not hold up the phases after
	// it: this goroutine can stop waiting for it. The buffer lets an
	// abandoned goroutine still send, and end, whenever it returns.
	result := make(chan error, 1)
	go func() {
		defer func() {
			if v := recover(); v != nil {
				result <- &PanicError{Value: v, Stack: debug.Stack()}
			}
		}()
		result <- p.stop(ctx)
	}()

	select {
	case err := <-result:
		return err
	case <-ctx.Done():
	}
	// The deadline has passed, and the phase has only now been told. One
	// that honours its context still needs a moment to notice and wind up:
	// a server's Shutdown returns at the deadline, and then the phase
	// closes what is left. Abandoning it at once would run the next phase
	// alongside that fallback, and report a phase that did its best as one
	// that ignored its deadline.
	leewayTimer := time.NewTimer(leeway)
	defer leewayTimer.Stop()
	select {
	case err := <-result:
		return err
	case <-leewayTimer.C:
		return fmt.Errorf("still running %v after its deadline, left behind: %w", leeway, ctx.Err())
	}
}

// leeway is how long Shutdown waits for a phase past its deadline.
const leeway = 100 * time.Millisecond

// A PanicError is how Shutdown reports a phase that panicked.
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
