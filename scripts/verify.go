package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// A proof is one row of verify: one version of a task, tested, and judged.
type proof struct {
	task *Task
	kind string // "reference", "starter" or "bug"
	bug  Bug    // for kind "bug"
}

func (p proof) label() string {
	if p.kind == "bug" {
		return "bug " + p.bug.Name
	}
	return p.kind
}

// verdict is a proof's outcome.
type verdict struct {
	ok      bool
	detail  string
	elapsed time.Duration
}

// proofsOf lists the rows verify proves for task t.
func proofsOf(t *Task) []proof {
	ps := []proof{{task: t, kind: "reference"}, {task: t, kind: "starter"}}
	for _, b := range t.Meta.Bugs {
		ps = append(ps, proof{task: t, kind: "bug", bug: b})
	}
	return ps
}

// testLimit bounds one go test of one task, build included. A task's tests
// take seconds; the rest is room for a cold build cache on a busy machine.
const testLimit = 3 * time.Minute

// prove runs the tests on the proof's version of the task and judges them.
func prove(ctx context.Context, p proof) verdict {
	start := time.Now()
	dir, err := os.MkdirTemp("", "lab-verify-")
	if err != nil {
		return verdict{detail: err.Error()}
	}
	defer os.RemoveAll(dir)

	overlayPath := ""
	switch p.kind {
	case "reference":
		overlayPath, err = referenceOverlay(dir, p.task)
	case "bug":
		var fs files
		if fs, err = bugFiles(p.task, p.bug); err == nil {
			overlayPath, err = writeOverlay(dir, p.task.Path, fs)
		}
	}
	if err != nil {
		return verdict{detail: err.Error(), elapsed: time.Since(start)}
	}
	run, err := goTest{Dir: p.task.Path, Overlay: overlayPath, Race: true, Limit: testLimit}.run(ctx)
	if err != nil {
		return verdict{detail: err.Error(), elapsed: time.Since(start)}
	}
	var v verdict
	switch p.kind {
	case "reference":
		v = judgeReference(run)
	case "starter":
		v = judgeStarter(run, p.task.Meta.StarterFails)
	default:
		v = judgeBug(run)
	}
	v.elapsed = time.Since(start)
	return v
}

// judgeReference: the reference answer passes every test.
func judgeReference(run *Run) verdict {
	if bad := runProblem(run); bad != "" {
		return verdict{detail: bad}
	}
	for _, t := range run.Top() {
		if t.Status == Skip {
			return verdict{detail: "skips " + t.Name + ": a skipped test is not a passed one"}
		}
	}
	if failed := run.Failed(); len(failed) > 0 {
		return verdict{detail: "fails " + describeTests(run, failed)}
	}
	if run.AfterTestsFailed {
		return verdict{detail: "passes its tests, then fails: " + firstLine(run.BuildOutput)}
	}
	return verdict{ok: true, detail: fmt.Sprintf("passes all %d tests", len(run.Top()))}
}

// judgeStarter: the starter fails exactly the tests it is expected to, so
// the exercise is real and fails for the right reasons.
func judgeStarter(run *Run, expected []string) verdict {
	if bad := runProblem(run); bad != "" {
		return verdict{detail: bad}
	}
	failed := run.Failed()
	want := slices.Sorted(slices.Values(expected))
	var unexpected, missing, absent []string
	for _, name := range failed {
		if !slices.Contains(want, name) {
			unexpected = append(unexpected, name)
		}
	}
	for _, name := range want {
		switch {
		case run.Test(name) == nil:
			absent = append(absent, name)
		case !slices.Contains(failed, name):
			missing = append(missing, name)
		}
	}
	var problems []string
	if len(absent) > 0 {
		problems = append(problems, "task.toml names tests that do not exist: "+strings.Join(absent, ", "))
	}
	if len(missing) > 0 {
		problems = append(problems, "passes tests it should fail: "+strings.Join(missing, ", "))
	}
	if len(unexpected) > 0 {
		problems = append(problems, "fails tests it should pass: "+describeTests(run, unexpected))
	}
	if len(problems) > 0 {
		return verdict{detail: strings.Join(problems, "; ")}
	}
	if len(failed) == 0 {
		return verdict{detail: "passes every test: the exercise is already solved"}
	}
	return verdict{ok: true, detail: fmt.Sprintf("fails %d of %d as expected: %s", len(failed), len(run.Top()), strings.Join(failed, ", "))}
}

// judgeBug: a catalogued wrong answer fails at least one test.
func judgeBug(run *Run) verdict {
	if run.BuildFailed {
		return verdict{detail: "the bugged program does not build, so it proves nothing: " + firstLine(run.BuildOutput)}
	}
	failed := run.Failed()
	switch {
	case len(failed) > 0:
		return verdict{ok: true, detail: "caught by " + strings.Join(failed, ", ")}
	case run.AfterTestsFailed:
		return verdict{ok: true, detail: "caught after the tests: " + firstLine(run.BuildOutput)}
	case len(run.Top()) == 0:
		return verdict{detail: "no test ran"}
	}
	return verdict{detail: "passes every test: no test catches this bug"}
}

// runProblem is what, beyond failing tests, makes a run unusable.
func runProblem(run *Run) string {
	switch {
	case run.BuildFailed:
		return "does not build: " + firstLine(run.BuildOutput)
	case run.TimedOut:
		return "timed out: " + describeTests(run, run.Failed())
	case len(run.Top()) == 0:
		return "no test ran" + suffix(": ", firstLine(run.BuildOutput))
	}
	return ""
}

// describeTests names tests with their status where it is not plain failure.
func describeTests(run *Run, names []string) string {
	var parts []string
	for _, n := range names {
		if t := run.Test(n); t != nil && t.Status != Fail {
			n += " (" + string(t.Status) + ")"
		}
		parts = append(parts, n)
	}
	if len(parts) == 0 {
		return "(none)"
	}
	return strings.Join(parts, ", ")
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}

func suffix(sep, s string) string {
	if s == "" {
		return ""
	}
	return sep + s
}

// verify proves every present task (or only those in only) and prints one
// row per proof, in task order, then the totals. It reports whether all
// held.
func verify(ctx context.Context, ws *Workspace, only []int, jobs int, w io.Writer) bool {
	var proofs []proof
	for _, t := range ws.Present() {
		if len(only) == 0 || slices.Contains(only, t.Number) {
			proofs = append(proofs, proofsOf(t)...)
		}
	}
	if len(proofs) == 0 {
		fmt.Fprintln(w, "no tasks to verify")
		return false
	}
	start := time.Now()
	verdicts := make([]chan verdict, len(proofs))
	sem := make(chan struct{}, jobs)
	var wg sync.WaitGroup
	for i, p := range proofs {
		verdicts[i] = make(chan verdict, 1)
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			verdicts[i] <- prove(ctx, p)
		})
	}
	passed, failed := 0, 0
	for i, p := range proofs {
		v := <-verdicts[i]
		mark := "ok  "
		if v.ok {
			passed++
		} else {
			mark = "FAIL"
			failed++
		}
		fmt.Fprintf(w, "%s  %-24s %-44s %5.1fs  %s\n", mark, p.task.Dir, p.label(), v.elapsed.Seconds(), v.detail)
	}
	wg.Wait()
	fmt.Fprintf(w, "verified in %.0fs\n", time.Since(start).Seconds())
	fmt.Fprintf(w, "%d passed, %d failed\n", passed, failed)
	return failed == 0
}
