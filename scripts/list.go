package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"

	"gracefulshutdown.lab/scripts/internal/workspace"
)

// list shows progress over the twenty tasks, from test results.
func list(ctx context.Context, ws *workspace.Workspace, jobs int, w io.Writer) error {
	m, err := ws.ReadManifest()
	if err != nil {
		return err
	}
	present := ws.Present()
	warmUp(ctx, ws, present, os.Stderr)
	results := make([]learnerResult, len(present))
	errs := make([]error, len(present))
	sem := make(chan struct{}, jobs)
	var wg sync.WaitGroup
	for i, t := range present {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			results[i], errs[i] = testLearner(ctx, ws, m, t, 1)
		})
	}
	wg.Wait()
	byDir := map[string]learnerResult{}
	var next *workspace.Task
	for i, t := range present {
		if errs[i] != nil {
			return errs[i]
		}
		byDir[t.Dir] = results[i]
		if next == nil && !results[i].OK() {
			next = t
		}
	}
	for _, t := range ws.Tasks {
		r, ok := byDir[t.Dir]
		switch {
		case !ok:
			fmt.Fprintf(w, "  ·  %2d  %-24s %s (not yet present)\n", t.Number, t.Dir, t.Title)
		case r.OK():
			fmt.Fprintf(w, "  ✓  %2d  %-24s %s\n", t.Number, t.Dir, t.Title)
		default:
			fmt.Fprintf(w, "  ✗  %2d  %-24s %s (%s)\n", t.Number, t.Dir, t.Title, r.summary())
		}
		if ok && len(r.drifts) > 0 {
			fmt.Fprintf(w, "        (your copy of %s differs from the lab's: `go tool lab check %d` says more)\n", r.drifts[0].Rel, t.Number)
		}
	}
	if next != nil {
		fmt.Fprintf(w, "\nNext: task %d, %s: `go tool lab check %d`\n", next.Number, next.Title, next.Number)
	} else {
		fmt.Fprintf(w, "\n%s\n", allDone(ws))
	}
	return nil
}
