package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"unicode"

	"gracefulshutdown.lab/scripts/internal/gotest"
	"gracefulshutdown.lab/scripts/internal/workspace"
)

// explainResult prints a task's criteria and what to do next: the lab's
// tests on the learner's program, the reverse grading of the learner's
// test, or both.
func explainResult(ws *workspace.Workspace, t *workspace.Task, r learnerResult, w io.Writer) {
	explainDrifts(t, r.drifts, w)
	rel, _ := filepath.Rel(ws.Root, t.Path)
	fmt.Fprintf(w, "\nTask %d: %s  (%s, %s)\n\n", t.Number, t.Title, rel, t.Meta.Level)
	passed, total := 0, 0
	if r.run != nil {
		if r.checks != nil {
			fmt.Fprintf(w, "Your program, under the lab's tests:\n\n")
		}
		p, n, ok := explainCriteria(ws, t, r.run, w)
		if !ok {
			return // it does not build: nothing else to say yet
		}
		passed, total = passed+p, total+n
	}
	if r.checks != nil {
		if r.run != nil {
			fmt.Fprintf(w, "\nYour test, graded in reverse:\n\n")
		}
		p, n := explainChecks(t, r.checks, w)
		passed, total = passed+p, total+n
	}
	if r.OK() {
		fmt.Fprintf(w, "\nAll %d criteria pass: task %d is solved.\n", total, t.Number)
		fmt.Fprintf(w, "`go tool lab diff %d` shows your files beside the reference answer.\n", t.Number)
		nextTask(ws, t, w)
		return
	}
	if r.run != nil {
		if pkg := packageProblem(r.run); pkg != "" {
			fmt.Fprintf(w, "Beyond the tests:\n%s\n\n", indent(pkg, "  "))
		}
	}
	keepGoing(t, passed, total, w)
}

// check runs task n, or the first unsolved one, and explains the result
// criterion by criterion. It reports whether the task passed.
func check(ctx context.Context, ws *workspace.Workspace, n, jobs int, w io.Writer) (bool, error) {
	if n == 0 {
		m, err := ws.ReadManifest()
		if err != nil {
			return false, err
		}
		for _, t := range ws.Present() {
			warmUp(ctx, ws, []*workspace.Task{t}, os.Stderr)
			r, err := testLearner(ctx, ws, m, t, jobs)
			if err != nil {
				return false, err
			}
			if !r.OK() {
				explainResult(ws, t, r, w)
				return false, nil
			}
			fmt.Fprintf(w, "✓ task %d: %s\n", t.Number, t.Title)
		}
		fmt.Fprintln(w, allDone(ws))
		return true, nil
	}
	t, r, err := testTask(ctx, ws, n, jobs)
	if err != nil {
		return false, err
	}
	explainResult(ws, t, r, w)
	return r.OK(), nil
}

// maxExplainLines keeps one failing criterion from burying the others.
const maxExplainLines = 30

// explainCriteria prints the lab's tests on a task, criterion by
// criterion, and returns how many passed out of how many. ok is false when
// there is nothing to count (the code does not build, no test ran): then it
// has said what to do.
func explainCriteria(ws *workspace.Workspace, t *workspace.Task, run *gotest.Run, w io.Writer) (passed, total int, ok bool) {
	rel, _ := filepath.Rel(ws.Root, t.Path)
	switch {
	case run.BuildFailed:
		fmt.Fprintf(w, "Your code does not build yet:\n\n%s\n\n", indent(run.BuildOutput, "  "))
		fmt.Fprintf(w, "Next: fix the error above in %s, then run `go tool lab check %d` again.\n", edits(t), t.Number)
		return 0, 0, false
	case len(run.Top()) == 0:
		fmt.Fprintf(w, "No test ran.\n%s\n", indent(run.BuildOutput, "  "))
		return 0, 0, false
	}
	for _, tr := range run.Top() {
		fmt.Fprintf(w, "  %s %s\n", mark(tr.Status), criterion(tr.Name))
		if tr.Status == gotest.Pass {
			continue
		}
		lines := run.Explain(tr.Name)
		for _, l := range limitLines(lines, maxExplainLines, "all of it: "+rerunCommand(rel, tr.Name)) {
			fmt.Fprintf(w, "      %s\n", l)
		}
	}
	if run.TimedOut {
		fmt.Fprintf(w, "\nThe tests ran out of time: something in the program waits forever.\n")
	}
	return run.Passed(), len(run.Top()), true
}

// nextTask says where to go once task t is solved.
func nextTask(ws *workspace.Workspace, t *workspace.Task, w io.Writer) {
	if next := nextAfter(ws, t); next != nil {
		fmt.Fprintf(w, "Next: task %d, %s: read %s/README.md, then `go tool lab check %d`.\n", next.Number, next.Title, next.Dir, next.Number)
	} else {
		fmt.Fprintln(w, allDone(ws))
	}
}

// keepGoing says what to do while task t is not solved yet.
func keepGoing(t *workspace.Task, passed, total int, w io.Writer) {
	fmt.Fprintf(w, "\n%d of %d criteria pass.\n", passed, total)
	fmt.Fprintf(w, "Next: edit %s (look for TODO(task%02d)), then run `go tool lab check %d` again.\n", edits(t), t.Number, t.Number)
	fmt.Fprintf(w, "Stuck? `go tool lab hint %d` gives a first hint; the task's README.md explains the why.\n", t.Number)
}

// rerunCommand is the go test command that runs one criterion of the task
// in folder rel on its own, verbose: the tests of a sub-package
// (lifecycle.TestX) run in that package.
func rerunCommand(rel, test string) string {
	pkg, name := ".", test
	if i := strings.LastIndex(test, ".Test"); i >= 0 {
		pkg, name = "./"+strings.ReplaceAll(test[:i], ".", "/"), test[i+1:]
	}
	return fmt.Sprintf("cd %s && go test -race -v -run '^%s$' %s", rel, name, pkg)
}

// limitLines keeps the first max lines, and says what was left out and
// where to see it.
func limitLines(lines []string, max int, more string) []string {
	if len(lines) <= max {
		return lines
	}
	return append(lines[:max:max], fmt.Sprintf("… %d more lines; %s", len(lines)-max, more))
}

// packageProblem is a failure no single test owns, such as a goroutine
// left behind after all tests, which goleak reports for the whole package.
func packageProblem(run *gotest.Run) string {
	if !run.AfterTestsFailed {
		return ""
	}
	if run.BuildOutput == "" {
		return "the tests passed, but the test binary failed after them"
	}
	return run.BuildOutput
}

func nextAfter(ws *workspace.Workspace, t *workspace.Task) *workspace.Task {
	for _, o := range ws.Present() {
		if o.Number > t.Number {
			return o
		}
	}
	return nil
}

func allDone(ws *workspace.Workspace) string {
	present := len(ws.Present())
	if present == len(ws.Tasks) {
		return "Every task is solved. Well done."
	}
	return fmt.Sprintf("All %d tasks in this workspace are solved; the other %d are not written yet.", present, len(ws.Tasks)-present)
}

func edits(t *workspace.Task) string {
	var paths []string
	for _, f := range t.Meta.Files {
		paths = append(paths, t.Dir+"/"+f)
	}
	return strings.Join(paths, ", ")
}

func mark(s gotest.Status) string {
	switch s {
	case gotest.Pass:
		return "✓"
	case gotest.Timeout:
		return "⏱"
	default:
		return "✗"
	}
}

// criterion turns a test name into the words of the criterion it checks:
// TestInFlightRequestFinishes becomes "in flight request finishes", and
// TestHTTPServerDrains "HTTP server drains".
func criterion(test string) string {
	pkg := ""
	if i := strings.LastIndex(test, ".Test"); i >= 0 {
		pkg, test = test[:i]+": ", test[i+1:]
	}
	runes := []rune(strings.ReplaceAll(strings.TrimPrefix(test, "Test"), "_", ""))
	var words []string
	start := 0
	for i := 1; i < len(runes); i++ {
		prev, cur := runes[i-1], runes[i]
		nextLower := i+1 < len(runes) && unicode.IsLower(runes[i+1])
		upperStarts := unicode.IsUpper(cur) && (!unicode.IsUpper(prev) || nextLower)
		digitStarts := unicode.IsDigit(cur) && unicode.IsLower(prev)
		if upperStarts || digitStarts {
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
	return pkg + domainWords.Replace(strings.Join(words, " "))
}

// domainWords are the names that the split above cuts in two, put back as
// the tasks write them.
var domainWords = strings.NewReplacer("web sockets", "WebSockets", "web socket", "WebSocket", "pre stop", "preStop")

func isAcronym(w string) bool {
	return len(w) > 1 && strings.ToUpper(w) == w
}

func indent(s, prefix string) string {
	if s == "" {
		return ""
	}
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}
