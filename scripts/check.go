package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"unicode"
)

// learnerRun tests the learner's own copy of a task, as they left it. The
// result cache is allowed: it is keyed on the files, so it is exact, and it
// makes check and list answer at once for tasks already done.
func learnerRun(ctx context.Context, t *Task) (*Run, error) {
	return goTest{Dir: t.Path, Race: true, Cached: true, Limit: testLimit}.run(ctx)
}

// check runs task n, or the first unsolved one, and explains the result
// criterion by criterion. It reports whether the task passed.
func check(ctx context.Context, ws *Workspace, n int, w io.Writer) (bool, error) {
	if n == 0 {
		for _, t := range ws.Present() {
			run, err := learnerRun(ctx, t)
			if err != nil {
				return false, err
			}
			if !run.OK() {
				explain(ws, t, run, w)
				return false, nil
			}
			fmt.Fprintf(w, "✓ task %d: %s\n", t.Number, t.Title)
		}
		fmt.Fprintln(w, allDone(ws))
		return true, nil
	}
	t, err := ws.Task(n)
	if err != nil {
		return false, err
	}
	run, err := learnerRun(ctx, t)
	if err != nil {
		return false, err
	}
	explain(ws, t, run, w)
	return run.OK(), nil
}

// maxExplainLines keeps one failing criterion from burying the others.
const maxExplainLines = 30

// explain prints a task's criteria and what to do next.
func explain(ws *Workspace, t *Task, run *Run, w io.Writer) {
	rel, _ := filepath.Rel(ws.Root, t.Path)
	fmt.Fprintf(w, "\nTask %d: %s  (%s, %s)\n\n", t.Number, t.Title, rel, t.Meta.Level)
	switch {
	case run.BuildFailed:
		fmt.Fprintf(w, "Your code does not build yet:\n\n%s\n\n", indent(run.BuildOutput, "  "))
		fmt.Fprintf(w, "Next: fix the error above in %s, then run `go run ./scripts check %d` again.\n", edits(t), t.Number)
		return
	case len(run.Top()) == 0:
		fmt.Fprintf(w, "No test ran.\n%s\n", indent(run.BuildOutput, "  "))
		return
	}
	for _, tr := range run.Top() {
		fmt.Fprintf(w, "  %s %s\n", mark(tr.Status), criterion(tr.Name))
		if tr.Status == Pass {
			continue
		}
		lines := run.Explain(tr.Name)
		if len(lines) > maxExplainLines {
			more := len(lines) - maxExplainLines
			lines = append(lines[:maxExplainLines:maxExplainLines],
				fmt.Sprintf("… %d more lines: cd %s && go test -race -run '^%s$' .", more, rel, tr.Name))
		}
		for _, l := range lines {
			fmt.Fprintf(w, "      %s\n", l)
		}
	}
	if run.TimedOut {
		fmt.Fprintf(w, "\nThe tests ran out of time: something in the program waits forever.\n")
	}
	if run.OK() {
		fmt.Fprintf(w, "\nAll %d criteria pass: task %d is solved.\n", len(run.Top()), t.Number)
		fmt.Fprintf(w, "Compare with the reference if you like: solutions/%s/\n", t.Dir)
		if next := ws.nextAfter(t); next != nil {
			fmt.Fprintf(w, "Next: task %d, %s: read %s/README.md, then `go run ./scripts check %d`.\n", next.Number, next.Title, next.Dir, next.Number)
		} else {
			fmt.Fprintln(w, allDone(ws))
		}
		return
	}
	if pkg := packageProblem(run); pkg != "" {
		fmt.Fprintf(w, "Beyond the tests:\n%s\n\n", indent(pkg, "  "))
	}
	fmt.Fprintf(w, "\n%d of %d criteria pass.\n", run.Passed(), len(run.Top()))
	fmt.Fprintf(w, "Next: edit %s (look for TODO(task%02d)), then run `go run ./scripts check %d` again.\n", edits(t), t.Number, t.Number)
	fmt.Fprintf(w, "Stuck? `go run ./scripts hint %d` gives a first hint; the task's README.md explains the why.\n", t.Number)
}

// packageProblem is a failure no single test owns, such as a goroutine
// left behind after all tests, which goleak reports for the whole package.
func packageProblem(run *Run) string {
	if run.BuildOutput == "" || run.Passed() != len(run.Top()) {
		return ""
	}
	return run.BuildOutput
}

func (ws *Workspace) nextAfter(t *Task) *Task {
	for _, o := range ws.Present() {
		if o.Number > t.Number {
			return o
		}
	}
	return nil
}

func allDone(ws *Workspace) string {
	present := len(ws.Present())
	if present == len(ws.Tasks) {
		return "Every task is solved. Well done."
	}
	return fmt.Sprintf("All %d tasks in this workspace are solved; the other %d are not written yet.", present, len(ws.Tasks)-present)
}

func edits(t *Task) string {
	var paths []string
	for _, f := range t.Meta.Files {
		paths = append(paths, t.Dir+"/"+f)
	}
	return strings.Join(paths, ", ")
}

func mark(s Status) string {
	switch s {
	case Pass:
		return "✓"
	case Timeout:
		return "⏱"
	default:
		return "✗"
	}
}

// criterion turns a test name into the words of the criterion it checks:
// TestInFlightRequestFinishes becomes "in flight request finishes", and
// TestHTTPServerDrains "HTTP server drains".
func criterion(test string) string {
	runes := []rune(strings.ReplaceAll(strings.TrimPrefix(test, "Test"), "_", ""))
	var words []string
	start := 0
	for i := 1; i < len(runes); i++ {
		prev, cur := runes[i-1], runes[i]
		nextLower := i+1 < len(runes) && unicode.IsLower(runes[i+1])
		if unicode.IsUpper(cur) && (!unicode.IsUpper(prev) || nextLower) {
			words = append(words, string(runes[start:i]))
			start = i
		}
	}
	words = append(words, string(runes[start:]))
	for i, w := range words {
		if !isAcronym(w) {
			words[i] = strings.ToLower(w)
		}
	}
	return strings.Join(words, " ")
}

func isAcronym(w string) bool {
	return len(w) > 1 && strings.ToUpper(w) == w
}

func indent(s, prefix string) string {
	if s == "" {
		return ""
	}
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}

// list shows progress over the twenty tasks, from test results.
func list(ctx context.Context, ws *Workspace, jobs int, w io.Writer) error {
	present := ws.Present()
	runs := make([]*Run, len(present))
	errs := make([]error, len(present))
	sem := make(chan struct{}, jobs)
	var wg sync.WaitGroup
	for i, t := range present {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			runs[i], errs[i] = learnerRun(ctx, t)
		})
	}
	wg.Wait()
	byDir := map[string]*Run{}
	var next *Task
	for i, t := range present {
		if errs[i] != nil {
			return errs[i]
		}
		byDir[t.Dir] = runs[i]
		if next == nil && !runs[i].OK() {
			next = t
		}
	}
	for _, t := range ws.Tasks {
		run, ok := byDir[t.Dir]
		switch {
		case !ok:
			fmt.Fprintf(w, "  ·  %2d  %-24s %s (not yet present)\n", t.Number, t.Dir, t.Title)
		case run.OK():
			fmt.Fprintf(w, "  ✓  %2d  %-24s %s\n", t.Number, t.Dir, t.Title)
		case run.BuildFailed:
			fmt.Fprintf(w, "  ✗  %2d  %-24s %s (does not build)\n", t.Number, t.Dir, t.Title)
		default:
			fmt.Fprintf(w, "  ✗  %2d  %-24s %s (%d of %d criteria)\n", t.Number, t.Dir, t.Title, run.Passed(), len(run.Top()))
		}
	}
	if next != nil {
		fmt.Fprintf(w, "\nNext: task %d, %s: `go run ./scripts check %d`\n", next.Number, next.Title, next.Number)
	} else {
		fmt.Fprintf(w, "\n%s\n", allDone(ws))
	}
	return nil
}
