package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"gracefulshutdown.lab/scripts/internal/workspace"
)

// watch checks task n (or the first unsolved task) every time the learner
// saves one of its files, and moves on to the next task when it passes.
// Ctrl+C ends it.
func watch(ctx context.Context, ws *workspace.Workspace, n, jobs int, w io.Writer) error {
	m, err := ws.ReadManifest()
	if err != nil {
		return err
	}
	sty := styleFor(os.Stdout)
	if f, ok := w.(*os.File); !ok || f != os.Stdout {
		sty = style{}
	}
	var t *workspace.Task
	if n != 0 {
		if t, err = ws.Task(n); err != nil {
			return err
		}
	}
	var warmed *workspace.Task
	for {
		if t == nil {
			// The first unsolved task, as check finds it.
			for _, c := range ws.Present() {
				r, err := testLearner(ctx, ws, m, c, jobs)
				if err != nil || ctx.Err() != nil {
					return stopped(ctx, err, w)
				}
				if !r.OK() {
					t = c
					break
				}
			}
			if t == nil {
				fmt.Fprintln(w, allDone(ws))
				return nil
			}
		}
		if t != warmed {
			warmUp(ctx, ws, []*workspace.Task{t}, os.Stderr)
			warmed = t
		}
		if sty.on {
			fmt.Fprint(w, "\x1b[H\x1b[2J") // clear the screen, cursor home
		}
		fmt.Fprintf(w, "lab watch: task %d, checked on every save of %s/ (Ctrl+C to stop)\n", t.Number, t.Dir)
		r, err := testLearner(ctx, ws, m, t, jobs)
		if err != nil || ctx.Err() != nil {
			return stopped(ctx, err, w)
		}
		explainResult(ws, t, r, w)
		if r.OK() {
			if t = nextAfter(ws, t); t == nil {
				return nil
			}
			fmt.Fprintf(w, "\nMoving on to task %d.\n", t.Number)
			continue
		}
		files := watchTaskFiles(t.Path)
		fmt.Fprintf(w, "\nWaiting for you to save a file of %s (%s)…\n", t.Dir, files.How())
		err = files.Next(ctx)
		files.Close()
		if err != nil {
			return stopped(ctx, err, w)
		}
	}
}

// stopped ends watch: cleanly when the person pressed Ctrl+C, with the
// error otherwise.
func stopped(ctx context.Context, err error, w io.Writer) error {
	if ctx.Err() != nil || err == nil || errors.Is(err, context.Canceled) {
		fmt.Fprintln(w, "\nlab: watch stopped.")
		return nil
	}
	return err
}
