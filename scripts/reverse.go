package main

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"gracefulshutdown.lab/scripts/internal/gotest"
	"gracefulshutdown.lab/scripts/internal/overlay"
	"gracefulshutdown.lab/scripts/internal/workspace"
)

// A task of kind "test" is one where the learner writes the test. It is
// graded in reverse: the learner's test must pass on the task's correct
// program and fail on every catalogued broken program. A test that passes
// everything, skips, or is empty proves nothing and is not done.

// programCheck is one program the learner's test was run against.
type programCheck struct {
	Label string // "the correct program", a variant's or a bug's name
	// What is, for a broken program, what is wrong with it, and for a
	// variant, how it differs.
	What    string
	Broken  bool
	Variant bool // a correct program, timed differently
	Run     *gotest.Run
	Err     error
	// Timeout is the bound of one run of the learner's test.
	Timeout time.Duration
}

// OK reports whether the learner's test judged this program right.
func (c *programCheck) OK() bool {
	if c.Err != nil || c.Run.BuildFailed || c.Run.TimedOut || c.Run.LeftRunning > 0 {
		return false
	}
	if c.Broken {
		// Caught means failed: a skip or a time-out says nothing about
		// the program.
		return len(c.Run.FailedOnly()) > 0 || c.Run.AfterTestsFailed
	}
	return c.Run.OK() && !hasSkip(c.Run)
}

// Problem says, for a person, why the check did not hold.
func (c *programCheck) Problem() []string {
	switch {
	case c.Err != nil:
		return []string{c.Err.Error()}
	case c.Run.BuildFailed:
		return []string{"does not build:", c.Run.BuildOutput}
	case c.Run.TimedOut:
		return []string{fmt.Sprintf("time-out: your test was still running after %v on this program, so it neither passed nor caught anything; bound every wait (select with time.After) so that it fails instead of hanging, and never sit one out whole (a time.Sleep, a handler that sleeps instead of watching its request's context)", c.Timeout)}
	case c.Run.LeftRunning > 0:
		return []string{fmt.Sprintf("your test ended and left the program it started still running (%d %s, which the lab then killed): stop it in t.Cleanup, registered as soon as it starts, because a failing test (t.Fatal) skips everything after the failure, and a program left behind holds its port and its files", c.Run.LeftRunning, plural(c.Run.LeftRunning, "process", "processes"))}
	case c.Broken && hasSkip(c.Run):
		return []string{fmt.Sprintf("your test skipped itself on a program that %s; it should fail on it", c.What)}
	case c.Broken:
		return []string{fmt.Sprintf("your test passed on a program that %s; it should fail on it", c.What)}
	case c.Variant && c.Run.OK() && hasSkip(c.Run):
		return []string{fmt.Sprintf("your test skips itself on a correct program that %s: a skipped test is not done", c.What)}
	case len(c.Run.Top()) == 0:
		return []string{"no test ran: write your test where the task's TODO says"}
	case hasSkip(c.Run):
		return []string{"your test skips itself: a skipped test is not done"}
	case c.Run.AfterTestsFailed:
		return []string{"your test passed, then the test binary failed:", packageProblem(c.Run)}
	}
	var lines []string
	if c.Variant {
		lines = append(lines, fmt.Sprintf("this program is correct too: it %s. A test that fails here depends on timing the task does not promise: it sleeps where it should wait for an event, or reads a value once where it should watch it change.", c.What))
	}
	for _, name := range c.Run.Failed() {
		lines = append(lines, name+" failed on the correct program:")
		lines = append(lines, c.Run.Explain(name)...)
	}
	return lines
}

// judgedOK counts the checks that hold. A test that fails on the correct
// program fails on every broken one too, which proves nothing: until it
// passes there, the broken programs are not judged and count for nothing.
func judgedOK(checks []*programCheck) int {
	if len(checks) == 0 || !checks[0].OK() {
		return 0
	}
	n := 0
	for _, c := range checks {
		if c.OK() {
			n++
		}
	}
	return n
}

func hasSkip(run *gotest.Run) bool {
	for _, t := range run.Top() {
		if t.Status == gotest.Skip {
			return true
		}
	}
	return false
}

// gradeTestTask runs the learner's test in task t against the correct
// program and each of labTask's broken programs. base is what the lab says
// the program is, swapped in over t's own files: everything the learner
// does not write when t is another workspace's copy (grade), or the lab's
// files that differ in the learner's own copy (check).
func gradeTestTask(ctx context.Context, labTask, t *workspace.Task, base overlay.Files, cached bool, jobs int) ([]*programCheck, error) {
	checks := programChecks(labTask.Meta)
	sem := make(chan struct{}, jobs)
	var wg sync.WaitGroup
	for _, c := range checks {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			runCheck(ctx, labTask, t, base, c, cached)
		})
	}
	wg.Wait()
	return checks, nil
}

// programChecks lists the programs a learner's test of task m is run
// against: the correct program first, then its variants (correct too, and
// timed differently), then the broken ones.
func programChecks(m *workspace.Meta) []*programCheck {
	checks := []*programCheck{{Label: correctLabel}}
	for _, v := range m.Variants {
		checks = append(checks, &programCheck{Label: v.Name, What: v.What, Variant: true})
	}
	for _, b := range m.Bugs {
		checks = append(checks, &programCheck{Label: b.Name, What: b.What, Broken: true})
	}
	for _, c := range checks {
		c.Timeout = m.LearnerTestTimeout
	}
	return checks
}

// correctLabel is the correct program's check's label.
const correctLabel = "the correct program"

// runCheck runs the learner's test in t on the program that c names, which
// is base with the variant's or the bug's patch applied.
func runCheck(ctx context.Context, labTask, t *workspace.Task, base overlay.Files, c *programCheck, cached bool) {
	fs := base
	if c.Label != correctLabel {
		if fs, c.Err = labTask.WithProgram(c.Label, base); c.Err != nil {
			return
		}
	}
	c.Run, c.Err = runWithFiles(ctx, t, fs, labTask.Meta.TestPackages(), cached, c.Timeout)
}

// explainChecks prints the reverse grading of a learner's test, program by
// program, and returns how many checks hold out of how many.
func explainChecks(t *workspace.Task, checks []*programCheck, w io.Writer) (passed, total int) {
	fmt.Fprintf(w, "Here you write the test. It must pass on the correct program and fail on each broken one.\n\n")
	judged := checks[0].OK()
	for _, c := range checks {
		label := "passes on " + c.Label
		if c.Variant {
			label = "passes on a correct program timed differently, " + c.Label
		}
		if c.Broken {
			label = "catches the broken program " + c.Label
		}
		if c.Broken && !judged {
			fmt.Fprintf(w, "  · %s: not judged until your test passes on the correct program\n", label)
			continue
		}
		mk := "✗"
		switch {
		case c.OK():
			mk = "✓"
		case c.Run != nil && c.Run.TimedOut:
			mk = mark(gotest.Timeout)
		}
		fmt.Fprintf(w, "  %s %s\n", mk, label)
		if !c.OK() {
			for _, l := range limitLines(c.Problem(), maxExplainLines, "run your test with go test -race -v in "+t.Dir) {
				fmt.Fprintf(w, "      %s\n", l)
			}
		}
	}
	return judgedOK(checks), len(checks)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
