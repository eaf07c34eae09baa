package main

import (
	"context"
	"errors"
	"time"
)

// errNoRequestID is the backend's answer to a call that does not say which
// request it serves: like many internal services, it refuses calls it
// cannot trace.
var errNoRequestID = errors.New("the backend refused the call: no request ID in its context")

// callBackend stands for a call to another service or a database that
// takes delay, made with ctx as such calls are. It passes the request's ID,
// from ctx, on to the backend (which refuses a call without one), and it
// gives up, with context.Cause(ctx), as soon as ctx ends.
func callBackend(ctx context.Context, delay time.Duration) error {
	if requestID(ctx) == "" {
		return errNoRequestID
	}
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}
