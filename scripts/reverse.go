package main

import (
	"context"
	"fmt"
	"io"
	"sync"

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
	Label  string // "the correct program" or the bug's name
	What   string // for a broken program: what is wrong with it
	Broken bool
	Run    *gotest.Run
	Err    error
}

// OK reports whether the learner's test judged this program right.
func (c *programCheck) OK() bool {
	if c.Err != nil || c.Run.BuildFailed || c.Run.TimedOut {
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
		return []string{fmt.Sprintf("time-out: your test was still running after %v on this program, so it neither passed nor caught anything; bound every wait (select with time.After) so that it fails instead of hanging", learnerTestTimeout)}
	case c.Broken && hasSkip(c.Run):
		return []string{fmt.Sprintf("your test skipped itself on a program that %s; it should fail on it", c.What)}
	case c.Broken:
		return []string{fmt.Sprintf("your test passed on a program that %s; it should fail on it", c.What)}
	case len(c.Run.Top()) == 0:
		return []string{"no test ran: write your test where the task's TODO says"}
	case hasSkip(c.Run):
		return []string{"your test skips itself: a skipped test is not done"}
	case c.Run.AfterTestsFailed:
		return []string{"your test passed, then the test binary failed:", packageProblem(c.Run)}
	}
	var lines []string
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
	checks := []*programCheck{{Label: "the correct program"}}
	for _, b := range labTask.Meta.Bugs {
		checks = append(checks, &programCheck{Label: b.Name, What: b.What, Broken: true})
	}
	sem := make(chan struct{}, jobs)
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			fs := base
			if c.Broken {
				fs, c.Err = labTask.WithBug(labTask.Meta.Bugs[i-1], base)
				if c.Err != nil {
					return
				}
			}
			c.Run, c.Err = runWithFiles(ctx, t, fs, labTask.Meta.TestPackages(), cached, learnerTestTimeout)
		})
	}
	wg.Wait()
	return checks, nil
}

// explainChecks prints the reverse grading of a learner's test, program by
// program, and returns how many checks hold out of how many.
func explainChecks(t *workspace.Task, checks []*programCheck, w io.Writer) (passed, total int) {
	fmt.Fprintf(w, "Here you write the test. It must pass on the correct program and fail on each broken one.\n\n")
	judged := checks[0].OK()
	for _, c := range checks {
		label := "passes on " + c.Label
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
