package main

import (
	"fmt"
	"io"

	"gracefulshutdown.lab/scripts/internal/workspace"
)

// hint prints hint level of task n: one level at a time, so that a learner
// takes only as much help as they need.
func hint(ws *workspace.Workspace, n, level int, w io.Writer) error {
	t, err := ws.Task(n)
	if err != nil {
		return err
	}
	hints := t.Meta.Hints
	if len(hints) == 0 {
		return fmt.Errorf("task %d has no hints; its README.md explains the idea", n)
	}
	if level < 1 || level > len(hints) {
		return fmt.Errorf("task %d has hint levels 1 to %d", n, len(hints))
	}
	fmt.Fprintf(w, "Task %d, hint %d of %d:\n\n%s\n", n, level, len(hints), indent(hints[level-1], "  "))
	if level < len(hints) {
		fmt.Fprintf(w, "\nStill stuck? `go tool lab hint %d --level %d`\n", n, level+1)
	}
	return nil
}
