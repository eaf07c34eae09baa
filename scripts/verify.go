package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"gracefulshutdown.lab/scripts/internal/gotest"
	"gracefulshutdown.lab/scripts/internal/overlay"
	"gracefulshutdown.lab/scripts/internal/workspace"
)

// A proof is one row of verify: one version of a task, tested, and judged.
type proof struct {
	task *workspace.Task
	kind string        // "reference", "starter", "variant", "bug" or "weak test"
	bug  workspace.Bug // for kind "bug"
	// variant is, for kind "variant", the correct program timed
	// differently that the tests must pass on.
	variant workspace.Variant
	// weak is, for kind "weak test", the wrong learner's test that the
	// grading must reject.
	weak workspace.WeakTest
	// reverse: the reference's own test of a program+test task, run
	// without the lab's tests: it passes on the reference program and
	// catches each bug by itself.
	reverse bool
}

func (p proof) label() string {
	label := p.kind
	switch p.kind {
	case "bug":
		label = "bug " + p.bug.Name
	case "variant":
		label = "variant " + p.variant.Name
	case "weak test":
		label = "weak test " + p.weak.Name
	}
	if p.reverse {
		label += " (reference test)"
	}
	return label
}

// verdict is a proof's outcome.
type verdict struct {
	ok      bool
	detail  string
	elapsed time.Duration
	run     *gotest.Run // the tests' results, for verify --json
}

// proofsOf lists the rows verify proves for task t.
func proofsOf(t *workspace.Task) []proof {
	ps := []proof{{task: t, kind: "reference"}, {task: t, kind: "starter"}}
	both := t.Meta.Kind == "program+test"
	if both {
		ps = append(ps, proof{task: t, kind: "reference", reverse: true})
	}
	// A variant is a correct program: the tests that judge programs pass
	// on it (the lab's, for a program+test task), and so does the
	// reference's test.
	for _, v := range t.Meta.Variants {
		ps = append(ps, proof{task: t, kind: "variant", variant: v})
		if both {
			ps = append(ps, proof{task: t, kind: "variant", variant: v, reverse: true})
		}
	}
	for _, b := range t.Meta.Bugs {
		ps = append(ps, proof{task: t, kind: "bug", bug: b})
		if both {
			ps = append(ps, proof{task: t, kind: "bug", bug: b, reverse: true})
		}
	}
	for _, w := range t.Meta.WeakTests {
		ps = append(ps, proof{task: t, kind: "weak test", weak: w, reverse: both})
	}
	return ps
}

// files is what the proof swaps into the task folder: the reference (or a
// bug on it), and for a program+test task, the learner's tests deleted
// (the lab's tests judge the program) or, in reverse, the lab's tests
// deleted (the reference's test judges it).
func (p proof) files() (overlay.Files, error) {
	fs := overlay.Files{}
	var err error
	switch p.kind {
	case "reference":
		fs, err = p.task.ReferenceFiles()
	case "bug":
		fs, err = p.task.BugFiles(p.bug)
	case "variant":
		if fs, err = p.task.ReferenceFiles(); err == nil {
			fs, err = p.task.WithVariant(p.variant, fs)
		}
	case "weak test":
		if fs, err = p.task.ReferenceFiles(); err == nil {
			fs, err = p.task.WithWeakTest(p.weak, fs)
		}
	}
	if err != nil {
		return nil, err
	}
	if p.reverse {
		return p.task.WithoutLabTests(fs)
	}
	return p.task.WithoutLearnerTests(fs), nil
}

// prove runs the tests on the proof's version of the task and judges them.
// Its test binaries are kept in store, for the next run of the same files.
func prove(ctx context.Context, p proof, store string) verdict {
	start := time.Now()
	dir, err := os.MkdirTemp("", "lab-verify-")
	if err != nil {
		return verdict{detail: err.Error()}
	}
	defer os.RemoveAll(dir)

	overlayPath := ""
	fs, err := p.files()
	if err == nil && len(fs) > 0 {
		overlayPath, err = overlay.Write(dir, p.task.Path, fs)
	}
	if err != nil {
		return verdict{detail: err.Error(), elapsed: time.Since(start)}
	}
	inv := gotest.Invocation{Dir: p.task.Path, Overlay: overlayPath, Race: true, NoVet: true, TestTimeout: programTestTimeout, Limit: testLimit, Parallel: testParallel, Keep: store}
	if p.reverse || p.kind == "weak test" {
		inv.Packages = p.task.Meta.TestPackages()
	}
	if p.kind == "weak test" {
		v, err := rejectWeakTest(ctx, p, fs, inv)
		if err != nil {
			return verdict{detail: err.Error(), elapsed: time.Since(start)}
		}
		v.elapsed = time.Since(start)
		return v
	}
	if p.kind == "bug" && !p.reverse && len(p.bug.CaughtBy) > 0 {
		v, err := catchInTurn(ctx, inv, p.bug.CaughtBy)
		if err != nil {
			return verdict{detail: err.Error(), elapsed: time.Since(start)}
		}
		v.elapsed = time.Since(start)
		return v
	}
	run, err := inv.Exec(ctx)
	if err != nil {
		return verdict{detail: err.Error(), elapsed: time.Since(start)}
	}
	var v verdict
	switch {
	case p.kind == "reference" || p.kind == "variant":
		v = judgeReference(run)
	case p.kind == "starter":
		v = judgeStarter(run, p.task.Meta.StarterFails)
		if v.ok {
			v = judgeMarker(p.task, v)
		}
	default:
		v = judgeBug(run)
	}
	v.elapsed = time.Since(start)
	v.run = run
	return v
}

// catchInTurn runs, on a catalogued wrong answer, the tests that its
// caught_by names, one at a time and quickest first, until one catches it
// (fails): one failing is a catch. The next runs only when one misses, as
// on a slow machine, which spares most proofs half their tests. That each
// name exists, verify checks against the reference's run (caughtByRenamed).
func catchInTurn(ctx context.Context, inv gotest.Invocation, caughtBy []string) (verdict, error) {
	var v verdict
	for _, name := range caughtBy {
		inv.Run = runPattern([]string{name})
		inv.Packages = []string{packageOf(name)}
		run, err := inv.Exec(ctx)
		if err != nil {
			return verdict{}, err
		}
		v = judgeBug(run)
		v.run = run
		if v.ok || run.BuildFailed || run.TimedOut {
			return v, nil
		}
	}
	v.detail = fmt.Sprintf("passes %s, which caught_by in task.toml says catch it: fix the test, or the catalogue", strings.Join(caughtBy, ", "))
	return v, nil
}

// rejectWeakTest runs a wrong learner's test (fs: the reference with the
// weak test swapped in) as check grades a learner's: on the correct
// program, where it must pass, for it to be a test that a learner would
// believe done; then on the program its rejected_by names, where the
// grading must find it wrong. A weak test rejected by the correct program
// itself (one that takes too long, say) needs only that run.
func rejectWeakTest(ctx context.Context, p proof, fs overlay.Files, inv gotest.Invocation) (verdict, error) {
	m := p.task.Meta
	inv.TestTimeout = m.LearnerTestTimeout
	runOn := func(name string) (*programCheck, error) {
		c := &programCheck{Label: name, Timeout: m.LearnerTestTimeout}
		if b, ok := m.Bug(name); ok {
			c.Broken, c.What = true, b.What
		}
		if v, ok := m.Variant(name); ok {
			c.Variant, c.What = true, v.What
		}
		files, err := p.task.WithProgram(name, fs)
		if err != nil {
			return nil, err
		}
		dir, err := os.MkdirTemp("", "lab-weak-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		run := inv
		if run.Overlay, err = overlay.Write(dir, p.task.Path, files); err != nil {
			return nil, err
		}
		c.Run, err = run.Exec(ctx)
		return c, err
	}
	rejectedBy := p.weak.RejectedBy
	if rejectedBy != "correct" {
		c, err := runOn("correct")
		if err != nil {
			return verdict{}, err
		}
		if !c.OK() {
			return verdict{detail: "the weak test does not pass on the correct program, so its rejection proves nothing: " + firstLine(strings.Join(c.Problem(), " ")), run: c.Run}, nil
		}
	}
	c, err := runOn(rejectedBy)
	if err != nil {
		return verdict{}, err
	}
	if c.OK() {
		return verdict{detail: fmt.Sprintf("the grading accepts it on %s, which rejected_by says shows it wrong", rejectedBy), run: c.Run}, nil
	}
	return verdict{ok: true, detail: "rejected: " + firstLine(strings.Join(c.Problem(), " ")), run: c.Run}, nil
}

// runPattern is go test's -run pattern for exactly the named tests. A test
// of a sub-package is named with its package (lifecycle.TestX); -run takes
// the bare name and applies it in every package.
func runPattern(names []string) string {
	var bare []string
	for _, n := range names {
		if i := strings.LastIndex(n, ".Test"); i >= 0 {
			n = n[i+1:]
		}
		bare = append(bare, regexp.QuoteMeta(n))
	}
	return "^(" + strings.Join(bare, "|") + ")$"
}

// packageOf is the package of a test named as verify names them
// (lifecycle.TestLIFO: ./lifecycle), relative to the task folder: all that
// a run of that test alone needs to build. Task 20's deploy, for one,
// links Kubernetes' types, which takes seconds.
func packageOf(name string) string {
	i := strings.LastIndex(name, ".Test")
	if i < 0 {
		return "."
	}
	return "./" + strings.ReplaceAll(name[:i], ".", "/")
}

// caughtByRenamed names the tests that a bug's caught_by lists and the
// reference's run of every test does not have: a test renamed, and its
// catalogue left behind. (catchInTurn runs a name only when those before it
// missed, so its own run cannot tell.)
func caughtByRenamed(ref *gotest.Run, caughtBy []string) []string {
	var gone []string
	for _, name := range caughtBy {
		if ref.Test(name) == nil {
			gone = append(gone, name)
		}
	}
	return gone
}

// judgeReference: the reference answer passes every test.
func judgeReference(run *gotest.Run) verdict {
	if bad := runProblem(run); bad != "" {
		return verdict{detail: bad}
	}
	for _, t := range run.Top() {
		if t.Status == gotest.Skip {
			return verdict{detail: "skips " + t.Name + ": a skipped test is not a passed one"}
		}
	}
	if failed := run.Failed(); len(failed) > 0 {
		return verdict{detail: "fails " + describeTests(run, failed)}
	}
	if run.AfterTestsFailed {
		return verdict{detail: "passes its tests, then fails: " + firstLine(run.BuildOutput)}
	}
	if run.LeftRunning > 0 {
		return verdict{detail: fmt.Sprintf("passes its tests, and leaves %d of the processes they started running", run.LeftRunning)}
	}
	return verdict{ok: true, detail: fmt.Sprintf("passes all %d tests", len(run.Top()))}
}

// judgeStarter: the starter fails exactly the tests it is expected to, so
// the exercise is real and fails for the right reasons.
func judgeStarter(run *gotest.Run, expected []string) verdict {
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

// judgeMarker: the starter shows the learner where to work. (A learner's
// solved copy has no marker left, so this is verify's to check, not the
// lab tool's own tests', which must hold on any learner's copy.)
func judgeMarker(t *workspace.Task, v verdict) verdict {
	src, err := os.ReadFile(filepath.Join(t.Path, t.Meta.Files[0]))
	if err != nil {
		return verdict{detail: err.Error()}
	}
	if marker := fmt.Sprintf("TODO(task%02d)", t.Number); !bytes.Contains(src, []byte(marker)) {
		return verdict{detail: fmt.Sprintf("the starter's %s has no %s marker to show where to work", t.Meta.Files[0], marker)}
	}
	return v
}

// judgeBug: a catalogued wrong answer fails at least one test. A time-out
// is not a catch: the tests must bound every wait and fail, so that a
// learner who writes this bug hears what is wrong instead of nothing.
func judgeBug(run *gotest.Run) verdict {
	if run.BuildFailed {
		return verdict{detail: "the bugged program does not build, so it proves nothing: " + gotest.FirstError(run.BuildOutput)}
	}
	if run.TimedOut {
		return verdict{detail: "timed out instead of failing: " + describeTests(run, run.Failed())}
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
func runProblem(run *gotest.Run) string {
	switch {
	case run.BuildFailed:
		return "does not build: " + gotest.FirstError(run.BuildOutput)
	case run.TimedOut:
		return "timed out: " + describeTests(run, run.Failed())
	case len(run.Top()) == 0:
		return "no test ran" + suffix(": ", firstLine(run.BuildOutput))
	}
	return ""
}

// describeTests names tests with their status where it is not plain failure.
func describeTests(run *gotest.Run, names []string) string {
	var parts []string
	for _, n := range names {
		if t := run.Test(n); t != nil && t.Status != gotest.Fail {
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
func verify(ctx context.Context, ws *workspace.Workspace, only []int, opts verifyOptions, w io.Writer) bool {
	jobs := opts.jobs
	var proofs []proof
	for _, t := range ws.Present() {
		if len(only) == 0 || slices.Contains(only, t.Number) {
			proofs = append(proofs, proofsOf(t)...)
		}
	}
	if opts.allTests {
		for i := range proofs {
			proofs[i].bug.CaughtBy = nil
		}
	}
	if len(proofs) == 0 {
		fmt.Fprintln(w, "no tasks to verify")
		return false
	}
	start := time.Now()
	var tasks []*workspace.Task
	for _, p := range proofs {
		if !slices.Contains(tasks, p.task) {
			tasks = append(tasks, p.task)
		}
	}
	store, err := testBinaryStore()
	if err != nil {
		fmt.Fprintf(w, "lab: %v\n", err)
		return false
	}
	warmUp(ctx, ws, tasks, os.Stderr)
	passed, failed := 0, 0
	if v := judgeManifest(ws, proofs); v.ok {
		passed++
		fmt.Fprintf(w, "ok    %-24s %-44s %5.1fs  %s\n", "lab files", "manifest", 0.0, v.detail)
	} else {
		failed++
		fmt.Fprintf(w, "FAIL  %-24s %-44s %5.1fs  %s\n", "lab files", "manifest", 0.0, v.detail)
	}
	verdicts := make([]chan verdict, len(proofs))
	for i := range proofs {
		verdicts[i] = make(chan verdict, 1)
	}
	sem := make(chan struct{}, jobs)
	var wg sync.WaitGroup
	// In task order, as the rows are printed, so that they come out as
	// they are proved.
	for i, p := range proofs {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			verdicts[i] <- prove(ctx, p, store)
		})
	}
	var rows []verifyRow
	references := map[*workspace.Task]*gotest.Run{} // each task's run of every test
	for i, p := range proofs {
		v := <-verdicts[i]
		if p.kind == "reference" && !p.reverse && v.run != nil && len(v.run.Top()) > 0 {
			references[p.task] = v.run
		}
		if ref := references[p.task]; ref != nil && p.kind == "bug" && !p.reverse {
			if gone := caughtByRenamed(ref, p.bug.CaughtBy); len(gone) > 0 {
				v.ok = false
				v.detail = fmt.Sprintf("caught_by in task.toml names %s, which the reference's run does not have: is it renamed?", strings.Join(gone, ", "))
			}
		}
		mark := "ok  "
		if v.ok {
			passed++
		} else {
			mark = "FAIL"
			failed++
		}
		fmt.Fprintf(w, "%s  %-24s %-44s %5.1fs  %s\n", mark, p.task.Dir, p.label(), v.elapsed.Seconds(), v.detail)
		rows = append(rows, newVerifyRow(p, v))
	}
	wg.Wait()
	fmt.Fprintf(w, "verified in %.0fs\n", time.Since(start).Seconds())
	fmt.Fprintf(w, "%d passed, %d failed\n", passed, failed)
	if opts.jsonPath != "" {
		if err := writeJSON(opts.jsonPath, rows); err != nil {
			fmt.Fprintf(w, "lab: %v\n", err)
			return false
		}
	}
	return failed == 0
}

// verifyOptions are verify's flags.
type verifyOptions struct {
	jobs int
	// allTests runs every test on each bug, not only those its caught_by
	// names: to see everything that catches a bug, and to choose caught_by.
	allTests bool
	jsonPath string // write every row, with its tests, as JSON here
}

// verifyRow is one row of verify --json.
type verifyRow struct {
	Task    string               `json:"task"`
	Proof   string               `json:"proof"`
	Bug     string               `json:"bug,omitempty"`
	Variant string               `json:"variant,omitempty"`
	Weak    string               `json:"weak_test,omitempty"`
	Reverse bool                 `json:"reverse,omitempty"`
	OK      bool                 `json:"ok"`
	Detail  string               `json:"detail"`
	Seconds float64              `json:"seconds"`
	Tests   []*gotest.TestResult `json:"tests"`
}

func newVerifyRow(p proof, v verdict) verifyRow {
	r := verifyRow{Task: p.task.Dir, Proof: p.kind, Bug: p.bug.Name, Variant: p.variant.Name, Weak: p.weak.Name, Reverse: p.reverse, OK: v.ok, Detail: v.detail, Seconds: seconds(v.elapsed), Tests: []*gotest.TestResult{}}
	if v.run != nil {
		for _, t := range v.run.Top() {
			r.Tests = append(r.Tests, &gotest.TestResult{Name: t.Name, Status: t.Status, Seconds: t.Seconds})
		}
	}
	return r
}

// judgeManifest: the manifest records the lab's files as they are, so that
// check and list can tell a learner's changed test from the lab's.
func judgeManifest(ws *workspace.Workspace, proofs []proof) verdict {
	all, err := ws.BuildManifest()
	if err != nil {
		return verdict{detail: err.Error()}
	}
	verified := func(path string) bool {
		return slices.ContainsFunc(proofs, func(p proof) bool { return strings.HasPrefix(path, p.task.Dir+"/") })
	}
	want := workspace.Manifest{}
	for path, id := range all {
		if verified(path) {
			want[path] = id
		}
	}
	have, err := ws.ReadManifest()
	if err != nil {
		return verdict{detail: err.Error()}
	}
	var stale []string
	for _, path := range slices.Sorted(maps.Keys(want)) {
		if have[path] != want[path] {
			stale = append(stale, path)
		}
	}
	for path := range have {
		if _, ok := want[path]; !ok && verified(path) {
			stale = append(stale, path)
		}
	}
	if len(stale) > 0 {
		return verdict{detail: fmt.Sprintf("%s is out of date for %s: run `go tool lab manifest`", workspace.ManifestFile, strings.Join(stale, ", "))}
	}
	return verdict{ok: true, detail: fmt.Sprintf("records the lab's %d files", len(want))}
}
