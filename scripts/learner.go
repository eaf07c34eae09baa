package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"gracefulshutdown.lab/scripts/internal/gotest"
	"gracefulshutdown.lab/scripts/internal/overlay"
	"gracefulshutdown.lab/scripts/internal/workspace"
)

// Time limits for one go test of one task. A task's tests take seconds; a
// learner's own test a few more. The rest is room for a cold build cache on
// a busy machine: the limit covers the build, the test time-out does not.
const (
	testLimit          = 3 * time.Minute
	programTestTimeout = time.Minute
	// testParallel is how many of a task's tests run at once. The tests
	// spend their time waiting on the program (its drain delays, its
	// deadlines), not computing: go test's default, one per core, would
	// add those waits up on a 2-core machine. Their bounds are derived
	// from the programs' flags, with room for a loaded machine.
	testParallel = 8
)

// learnerResult is how the learner's copy of a task fares: its tests' run
// for a program task, or the reverse grading of the learner's test.
type learnerResult struct {
	run    *gotest.Run
	checks []*programCheck // kind "test" only
	// drifts are the lab's files that differ in the learner's copy; the
	// run used the lab's copy of each that git could give back.
	drifts []workspace.Drift
}

func (r learnerResult) OK() bool {
	if r.run != nil && !r.run.OK() {
		return false
	}
	for _, c := range r.checks {
		if !c.OK() {
			return false
		}
	}
	return true
}

// summary is "n of m criteria", or why there are none.
func (r learnerResult) summary() string {
	if r.checks == nil {
		switch {
		case r.run.BuildFailed:
			return "does not build"
		case r.run.TimedOut:
			return fmt.Sprintf("timed out; %d of %d criteria", r.run.Passed(), len(r.run.Top()))
		}
		return fmt.Sprintf("%d of %d criteria", r.run.Passed(), len(r.run.Top()))
	}
	passed, total := judgedOK(r.checks), len(r.checks)
	if r.run != nil {
		passed, total = passed+r.run.Passed(), total+len(r.run.Top())
	}
	return fmt.Sprintf("%d of %d criteria", passed, total)
}

// testLearner tests the learner's own copy of task t, in the lab workspace
// ws, as they left it, except for the lab's own files (the tests above all):
// any of those that differ from the manifest are run as the lab has them.
// The result cache is allowed: it is keyed on the files, so it is exact,
// and it makes check and list answer at once for tasks already done.
func testLearner(ctx context.Context, ws *workspace.Workspace, m workspace.Manifest, t *workspace.Task, jobs int) (learnerResult, error) {
	drifts, err := ws.Drifts(t, m)
	if err != nil {
		return learnerResult{}, err
	}
	labFiles := overlay.Files{}
	for _, d := range drifts {
		if d.Lab != nil {
			labFiles[d.Rel] = d.Lab
		}
	}
	r := learnerResult{drifts: drifts}
	if t.Meta.GradesProgram() {
		if r.run, err = runWithFiles(ctx, t, t.WithoutLearnerTests(labFiles), nil, true, programTestTimeout); err != nil {
			return r, err
		}
	}
	if t.Meta.GradesTest() {
		base, err := reverseBase(t, t, labFiles)
		if err != nil {
			return r, err
		}
		r.checks, err = gradeTestTask(ctx, t, t, base, true, jobs)
		return r, err
	}
	return r, nil
}

// reverseBase is what the learner's test of task t is run against: for a
// test task, the lab's program (labFiles: its files that differ in t); for
// a program+test task, labTask's reference program, with the lab's own
// tests deleted so that the learner's test judges alone.
func reverseBase(labTask, t *workspace.Task, labFiles overlay.Files) (overlay.Files, error) {
	if labTask.Meta.Kind != "program+test" {
		return labFiles, nil
	}
	ref, err := labTask.ReferenceFiles()
	if err != nil {
		return nil, err
	}
	base := labFiles.Clone()
	for rel, content := range ref {
		if !slices.Contains(labTask.Meta.TestFiles, rel) {
			base[rel] = content // the reference program, not the learner's
		}
	}
	return labTask.WithoutLabTests(base)
}

// testTask is testLearner for task n, as check N and diff N need it: the
// manifest read, the shared packages compiled first.
func testTask(ctx context.Context, ws *workspace.Workspace, n, jobs int) (*workspace.Task, learnerResult, error) {
	t, err := ws.Task(n)
	if err != nil {
		return nil, learnerResult{}, err
	}
	m, err := ws.ReadManifest()
	if err != nil {
		return nil, learnerResult{}, err
	}
	warmUp(ctx, ws, []*workspace.Task{t}, os.Stderr)
	r, err := testLearner(ctx, ws, m, t, jobs)
	return t, r, err
}

// runWithFiles runs the tests of t's packages (none: all of them) with fs
// swapped in.
func runWithFiles(ctx context.Context, t *workspace.Task, fs overlay.Files, packages []string, cached bool, testTimeout time.Duration) (*gotest.Run, error) {
	g := gotest.Invocation{Dir: t.Path, Race: true, Cached: cached, TestTimeout: testTimeout, Limit: testLimit, Parallel: testParallel, Packages: packages}
	if len(fs) > 0 {
		dir, err := os.MkdirTemp("", "lab-run-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		if g.Overlay, err = overlay.Write(dir, t.Path, fs); err != nil {
			return nil, err
		}
	}
	return g.Exec(ctx)
}

// explainDrifts tells the learner which of the lab's files differ in their
// copy, and that the lab's were used.
func explainDrifts(t *workspace.Task, drifts []workspace.Drift, w io.Writer) {
	for _, d := range drifts {
		what := "differs from the lab's"
		if d.Missing {
			what = "is missing"
		}
		path := t.Dir + "/" + d.Rel
		if d.Lab == nil {
			fmt.Fprintf(w, "Note: %s %s, and this clone's git history does not have the lab's copy: the results below use yours.\n", path, what)
			continue
		}
		fmt.Fprintf(w, "Note: %s %s; the results below use the lab's copy (get it back with `git cat-file blob %s > %s`).\n", path, what, d.BlobID[:12], path)
	}
}
