package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
	"gracefulshutdown.lab/scripts/internal/workspace"
)

// diffTask shows the learner's files of task n beside the reference, as a
// unified diff, once the task passes. Before that it declines: the
// reference is a spoiler, and the hints are the way to get unstuck.
func diffTask(ctx context.Context, ws *workspace.Workspace, n, jobs int, w io.Writer) (bool, error) {
	t, r, err := testTask(ctx, ws, n, jobs)
	if err != nil {
		return false, err
	}
	if !r.OK() {
		fmt.Fprintf(w, "Task %d does not pass yet (%s), so its reference stays hidden.\n", n, r.summary())
		fmt.Fprintf(w, "`go tool lab check %d` says what is left; `go tool lab hint %d` gives a hint.\n", n, n)
		return false, nil
	}
	sty := styleFor(os.Stdout)
	if f, ok := w.(*os.File); !ok || f != os.Stdout {
		sty = style{}
	}
	same := true
	for _, rel := range t.Meta.Files {
		mine, err := workspace.ReadFile(filepath.Join(t.Path, rel))
		if err != nil {
			return false, err
		}
		ref, err := workspace.ReadFile(filepath.Join(t.SolPath, rel))
		if err != nil {
			return false, err
		}
		text, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
			A:        difflib.SplitLines(string(mine)),
			B:        difflib.SplitLines(string(ref)),
			FromFile: "yours/" + t.Dir + "/" + rel,
			ToFile:   "reference/solutions/" + t.Dir + "/" + rel,
			Context:  3,
		})
		if err != nil {
			return false, err
		}
		if text == "" {
			continue
		}
		same = false
		for line := range strings.SplitSeq(strings.TrimSuffix(text, "\n"), "\n") {
			fmt.Fprintln(w, colourDiffLine(sty, line))
		}
	}
	if same {
		fmt.Fprintf(w, "Task %d passes, and your files are the same as the reference.\n", n)
	} else {
		fmt.Fprintf(w, "\nTask %d passes. Lines marked - are yours, + the reference's; yours may well be as good.\n", n)
	}
	return true, nil
}

func colourDiffLine(s style, line string) string {
	switch {
	case strings.HasPrefix(line, "---"), strings.HasPrefix(line, "+++"):
		return s.bold(line)
	case strings.HasPrefix(line, "@@"):
		return s.wrap("36", line)
	case strings.HasPrefix(line, "+"):
		return s.green(line)
	case strings.HasPrefix(line, "-"):
		return s.red(line)
	}
	return line
}
