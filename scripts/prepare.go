package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"gracefulshutdown.lab/scripts/internal/workspace"
)

// prepare compiles, once, everything the tasks' tests need (the race
// detector's build of the standard library and every task's dependencies),
// so that a workshop's first check starts in seconds: the invitation asks
// learners to run it beforehand, on their own network and time.
func prepare(ctx context.Context, ws *workspace.Workspace, w io.Writer) error {
	start := time.Now()
	fmt.Fprintf(w, "lab: preparing every task's tests: modules downloaded and packages compiled once (about two minutes on a cold 2-core machine; run again, it takes a second)\n")
	warmUp(ctx, ws, ws.Present(), os.Stderr)
	if err := ctx.Err(); err != nil {
		return err
	}
	fmt.Fprintf(w, "lab: ready in %s: `go tool lab check` starts in seconds now\n", time.Since(start).Round(time.Second))
	return nil
}
