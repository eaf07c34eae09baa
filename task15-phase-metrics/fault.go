package main

import (
	"context"
	"errors"
)

// faultPhase is a phase that goes wrong on purpose, for -inject-fault. The
// service's own phases are correct, so the only way one of them fails is a
// drain that runs out of time; but the phases of real services also return
// errors, hang and panic, and the metrics must count those failures too.
// The tests add this phase to show that they do. Nobody needs it in
// production.
func faultPhase(kind string) func(context.Context) error {
	switch kind {
	case "error":
		// The everyday failure: a close or a flush that reports an error
		// and returns, well within its deadline.
		return func(context.Context) error {
			return errors.New("injected fault: close: connection reset by peer")
		}
	case "panic":
		// Cleanup code runs rarely, on the paths nobody tests: a nil pointer
		// or a double close panics there.
		return func(context.Context) error { panic("injected fault: the cleanup code has a bug") }
	}
	// A hang: a stop function that waits for something that never comes (a
	// peer that never answers, a goroutine that never ends) and ignores its
	// context. The lifecycle stops waiting for it at its deadline.
	return func(context.Context) error { select {} }
}
