package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"gracefulshutdown.lab/scripts/internal/gotest"
	"gracefulshutdown.lab/scripts/internal/overlay"
	"gracefulshutdown.lab/scripts/internal/workspace"
)

// taskGrade is one task's line of a grade report.
type taskGrade struct {
	Task    string               `json:"task"`
	Number  int                  `json:"number"`
	Title   string               `json:"title"`
	Status  string               `json:"status"` // pass, fail, timeout, build-error, missing
	Passed  int                  `json:"passed"`
	Total   int                  `json:"total"`
	Seconds float64              `json:"seconds"` // to the millisecond
	Tests   []*gotest.TestResult `json:"tests"`
	Problem string               `json:"problem,omitempty"` // the first compiler error, and the like
	// Replaced lists the files of the learner's copy that differ from the
	// lab's and were graded as the lab has them: tests the learner changed
	// or deleted count for nothing.
	Replaced []string `json:"lab_files_replaced,omitempty"`
}

// gradeReport is one learner's report, as grade --json writes it.
type gradeReport struct {
	Learner         string       `json:"learner"`
	Workspace       string       `json:"workspace"`
	WorkspaceCommit string       `json:"workspace_commit,omitempty"` // "+changes": the files differ from it
	LabCommit       string       `json:"lab_commit,omitempty"`       // the lab whose tests graded it
	Graded          time.Time    `json:"graded"`
	Seconds         float64      `json:"seconds"`
	Tasks           []*taskGrade `json:"tasks"`
	Passed          int          `json:"passed"`
	Failed          int          `json:"failed"` // fail, timeout and build-error
	TimedOut        int          `json:"timed_out"`
	Missing         int          `json:"missing"`
	// NotWritten counts the tasks this lab does not have yet.
	NotWritten int `json:"not_written"`
	// Error says why the copy could not be graded at all (not a lab
	// workspace, unreadable); it then has no tasks.
	Error string `json:"error,omitempty"`
}

// gradeOptions are grade's flags beyond the copies.
type gradeOptions struct {
	jobs  int
	tasks []int // grade only these; none is every task
	// jsonPath, csvPath and markdownPath are where the reports go, if
	// anywhere; format is what --json writes: "lab" (gradeReport) or
	// "exercism" (the exercism test runner's results.json).
	jsonPath, csvPath, markdownPath string
	format                          string
	// perLearner makes --json a folder of one report per learner even when
	// there is one (a shard of a class may hold one copy).
	perLearner bool
}

// learnerCopy is one workspace to grade, and the name it goes by.
type learnerCopy struct {
	name string
	ws   *workspace.Workspace
	err  error // not a lab workspace, or unreadable: a row that says so
}

// gradeTargets turns grade's arguments into the copies to grade: none is
// this workspace; a folder with a go.work is one learner's copy; a folder
// without one holds one copy per learner (a class), each a subfolder.
func gradeTargets(lab *workspace.Workspace, dirs []string) ([]learnerCopy, error) {
	if len(dirs) == 0 {
		return []learnerCopy{{name: filepath.Base(lab.Root), ws: lab}}, nil
	}
	var copies []learnerCopy
	for _, dir := range dirs {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return nil, err
		}
		info, err := os.Stat(abs)
		if err != nil || !info.IsDir() {
			return nil, fmt.Errorf("%s is not a folder: %w", dir, errUsage)
		}
		if isWorkspace(abs) {
			copies = append(copies, openCopy(abs))
			continue
		}
		entries, err := os.ReadDir(abs)
		if err != nil {
			return nil, err
		}
		n := len(copies)
		for _, e := range entries {
			if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
				copies = append(copies, openCopy(filepath.Join(abs, e.Name())))
			}
		}
		if len(copies) == n {
			return nil, fmt.Errorf("%s is not a lab workspace (no go.work) and holds no folders to grade: %w", dir, errUsage)
		}
	}
	names := map[string]int{}
	for _, c := range copies {
		names[c.name]++
	}
	for i, c := range copies {
		if names[c.name] > 1 {
			copies[i].name = c.ws.Root
		}
	}
	return copies, nil
}

func isWorkspace(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "go.work"))
	return err == nil
}

func openCopy(dir string) learnerCopy {
	c := learnerCopy{name: filepath.Base(dir), ws: &workspace.Workspace{Root: dir}}
	if !isWorkspace(dir) {
		c.err = fmt.Errorf("not a lab workspace (no go.work)")
		return c
	}
	c.ws, c.err = workspace.Open(dir)
	if c.ws == nil {
		c.ws = &workspace.Workspace{Root: dir}
	}
	return c
}

// grade runs every task's tests on each learner's copy and reports them:
// for one copy, a table of its tasks; for several, one table of learners
// by tasks, then each learner's failures. Every copy is graded with the
// lab's tests (lab is the grader's own workspace): only the files a task
// says the learner edits come from the copy. A task that the lab has and
// a copy lacks is missing; tasks the lab does not have yet are left out.
// The result cache is not used: a grade is a fresh run. grade reports
// whether every task present in every copy passed.
func grade(ctx context.Context, lab *workspace.Workspace, copies []learnerCopy, opts gradeOptions, w io.Writer) (bool, error) {
	labCommit := workspace.GitCommit(lab.Root)
	manifest, err := lab.ReadManifest()
	if err != nil {
		return false, err
	}
	start := time.Now()
	warmUp(ctx, lab, selected(lab.Present(), opts.tasks), os.Stderr)
	sem := make(chan struct{}, opts.jobs)
	reports := make([]*gradeReport, len(copies))
	var wg sync.WaitGroup
	for i, c := range copies {
		reports[i] = newReport(c, labCommit)
		if c.err != nil {
			continue
		}
		gradeCopy(ctx, lab, manifest, c.ws, opts.tasks, reports[i], sem, &wg)
	}
	wg.Wait()
	for _, r := range reports {
		r.tally(lab)
	}
	return presentReports(lab, reports, time.Since(start), opts, w)
}

// merged is presentReports' elapsed time for reports read back, not graded.
const merged = time.Duration(-1)

// presentReports prints the reports (a table of tasks for one copy, a class
// table for several), writes the files opts asks for, and says whether every
// copy was graded and passed every task it has.
func presentReports(lab *workspace.Workspace, reports []*gradeReport, elapsed time.Duration, opts gradeOptions, w io.Writer) (bool, error) {
	if len(reports) == 1 {
		printReport(reports[0], w)
	} else {
		printClass(lab, reports, w)
	}
	if elapsed == merged {
		fmt.Fprintf(w, "merged %d reports\n", len(reports))
	} else {
		fmt.Fprintf(w, "graded in %.0fs\n", elapsed.Seconds())
	}
	if err := writeReports(reports, opts, w); err != nil {
		return false, err
	}
	if opts.csvPath != "" {
		if err := writeCSV(lab, reports, opts.csvPath); err != nil {
			return false, err
		}
		fmt.Fprintf(w, "table written to %s\n", opts.csvPath)
	}
	if opts.markdownPath != "" {
		if err := appendMarkdown(lab, reports, opts.markdownPath); err != nil {
			return false, err
		}
		fmt.Fprintf(w, "summary added to %s\n", opts.markdownPath)
	}
	ok := true
	for _, r := range reports {
		ok = ok && r.Error == "" && r.Failed == 0
	}
	return ok, nil
}

// check rejects options that cannot go together.
func (o gradeOptions) check() error {
	switch o.format {
	case "lab":
	case "exercism":
		if o.jsonPath == "" {
			return fmt.Errorf("--format exercism says what --json writes: give --json FILE too: %w", errUsage)
		}
	default:
		return fmt.Errorf("--format %q: want lab or exercism: %w", o.format, errUsage)
	}
	return nil
}

// selected is the tasks of ts that only names (all of them if it names none).
func selected(ts []*workspace.Task, only []int) []*workspace.Task {
	if len(only) == 0 {
		return ts
	}
	var out []*workspace.Task
	for _, t := range ts {
		if slices.Contains(only, t.Number) {
			out = append(out, t)
		}
	}
	return out
}

func newReport(c learnerCopy, labCommit string) *gradeReport {
	return &gradeReport{
		Learner:         c.name,
		Workspace:       c.ws.Root,
		WorkspaceCommit: workspace.GitCommit(c.ws.Root),
		LabCommit:       labCommit,
		Graded:          time.Now().UTC().Truncate(time.Second),
		Tasks:           []*taskGrade{},
		Error:           errString(c.err),
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// gradeCopy starts one run per task of ws (of those only names, if any) on
// wg, at most cap(sem) at once across every copy, filling in r.
func gradeCopy(ctx context.Context, lab *workspace.Workspace, manifest workspace.Manifest, ws *workspace.Workspace, only []int, r *gradeReport, sem chan struct{}, wg *sync.WaitGroup) {
	for i, t := range ws.Tasks {
		if len(only) > 0 && !slices.Contains(only, t.Number) {
			continue
		}
		g := &taskGrade{Task: t.Dir, Number: t.Number, Title: t.Title, Status: "missing", Tests: []*gotest.TestResult{}}
		r.Tasks = append(r.Tasks, g)
		labTask := lab.Tasks[i]
		if !t.Present || !labTask.Present {
			continue
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			labFiles, replaced, err := labFilesFor(lab, manifest, labTask, t)
			if err != nil {
				g.Status, g.Problem = "fail", err.Error()
				return
			}
			g.Replaced = replaced
			if labTask.Meta.GradesProgram() {
				run, err := runWithFiles(ctx, t, labTask.WithoutLearnerTests(labFiles), nil, false, programTestTimeout)
				fillGrade(g, run, err)
			}
			if labTask.Meta.GradesTest() && g.Status != "build-error" {
				base, err := reverseBase(labTask, t, labFiles)
				var checks []*programCheck
				if err == nil {
					// A learner's test runs against a dozen programs or
					// more, each mostly waiting on the program's clock:
					// run a few at once, as check does, or this one task
					// takes most of the grade's time.
					checks, err = gradeTestTask(ctx, labTask, t, base, false, max(1, cap(sem)/2))
				}
				fillTestGrade(g, checks, err)
			}
		})
	}
}

// labFilesFor is what the lab says task t is, beyond the learner's own
// files: every file of labTask that a learner does not edit when t is
// another workspace's copy; the lab's copy of each such file that differs
// from the manifest when t is the lab's own. It also lists the files of
// t that this replaces, for the report.
func labFilesFor(lab *workspace.Workspace, manifest workspace.Manifest, labTask, t *workspace.Task) (overlay.Files, []string, error) {
	if labTask.Path == t.Path {
		drifts, err := lab.Drifts(t, manifest)
		if err != nil {
			return nil, nil, err
		}
		fs, replaced := overlay.Files{}, []string{}
		for _, d := range drifts {
			if d.Lab != nil {
				fs[d.Rel] = d.Lab
				replaced = append(replaced, d.Rel)
			}
		}
		return fs, replaced, nil
	}
	fs, err := labTask.LabFiles()
	if err != nil {
		return nil, nil, err
	}
	var replaced []string
	for _, rel := range slices.Sorted(maps.Keys(fs)) {
		mine, err := os.ReadFile(filepath.Join(t.Path, rel))
		if err != nil || workspace.BlobID(mine) != workspace.BlobID(fs[rel]) {
			replaced = append(replaced, rel)
		}
	}
	return fs, replaced, nil
}

func fillGrade(g *taskGrade, run *gotest.Run, err error) {
	if err != nil {
		g.Status, g.Problem = "fail", err.Error()
		return
	}
	g.Seconds = seconds(run.Elapsed)
	g.Total = len(run.Top())
	g.Passed = run.Passed()
	switch {
	case run.BuildFailed:
		// A build error has no tests: none ran, none passed.
		g.Status, g.Problem = "build-error", gotest.FirstError(run.BuildOutput)
		g.Total, g.Passed = 0, 0
		return
	case run.TimedOut:
		g.Status = "timeout"
	case run.OK():
		g.Status = "pass"
	default:
		g.Status = "fail"
		g.Problem = packageProblem(run)
	}
	g.Tests = run.Tests
}

// fillTestGrade records the reverse grading of a learner-written test: one
// pseudo-test per program it was run against. A test that hangs on any of
// them makes the task a time-out.
func fillTestGrade(g *taskGrade, checks []*programCheck, err error) {
	if err != nil {
		g.Status, g.Problem = "fail", err.Error()
		return
	}
	// A program+test task has its program's grade already; the test's
	// can only make it worse.
	programStatus := g.Status
	g.Status = "pass"
	defer func() { g.Status = worse(programStatus, g.Status) }()
	judged := len(checks) > 0 && checks[0].OK()
	for _, c := range checks {
		name := "passes on " + c.Label
		switch {
		case c.Variant:
			name = "passes on the variant " + c.Label
		case c.Broken:
			name = "catches " + c.Label
		}
		tr := &gotest.TestResult{Name: name, Status: gotest.Pass}
		if c.Run != nil {
			tr.Seconds = seconds(c.Run.Elapsed)
			g.Seconds += tr.Seconds
		}
		switch {
		case c.Run != nil && c.Run.BuildFailed:
			tr.Status, tr.Output = gotest.Fail, []string{gotest.FirstError(c.Run.BuildOutput)}
			g.Status, g.Problem = "build-error", gotest.FirstError(c.Run.BuildOutput)
		case c.Run != nil && c.Run.TimedOut:
			tr.Status, tr.Output = gotest.Timeout, c.Problem()
			if g.Status != "build-error" {
				g.Status = "timeout"
			}
		case c.Broken && !judged:
			tr.Status, tr.Output = gotest.Fail, []string{"not judged: the test does not pass on the correct program"}
			if g.Status == "pass" {
				g.Status = "fail"
			}
		case !c.OK():
			tr.Status, tr.Output = gotest.Fail, c.Problem()
			if g.Status == "pass" {
				g.Status = "fail"
			}
		default:
			g.Passed++
		}
		g.Total++
		g.Tests = append(g.Tests, tr)
	}
	g.Seconds = math.Round(g.Seconds*1000) / 1000
	if g.Status == "build-error" {
		g.Tests, g.Passed, g.Total = []*gotest.TestResult{}, 0, 0
	}
}

// worse is the graver of two task statuses; "missing" is no status yet.
func worse(a, b string) string {
	rank := map[string]int{"missing": 0, "pass": 1, "fail": 2, "timeout": 3, "build-error": 4}
	if rank[a] > rank[b] {
		return a
	}
	return b
}

func seconds(d time.Duration) float64 { return math.Round(d.Seconds()*1000) / 1000 }

// tally counts the report's tasks, leaving out those the lab lacks.
func (r *gradeReport) tally(lab *workspace.Workspace) {
	var kept []*taskGrade
	for _, g := range r.Tasks {
		if !lab.Tasks[g.Number-1].Present {
			r.NotWritten++
			continue
		}
		kept = append(kept, g)
		r.Seconds += g.Seconds
		switch g.Status {
		case "missing":
			r.Missing++
		case "pass":
			r.Passed++
		case "timeout":
			r.TimedOut++
			r.Failed++
		default:
			r.Failed++
		}
	}
	if kept == nil {
		kept = []*taskGrade{}
	}
	r.Tasks = kept
	r.Seconds = math.Round(r.Seconds*1000) / 1000
}

// printReport is the table of one learner's copy.
func printReport(r *gradeReport, w io.Writer) {
	fmt.Fprintf(w, "Grading %s\n\n", r.Workspace)
	if r.Error != "" {
		fmt.Fprintf(w, "  cannot grade it: %s\n\n", r.Error)
		return
	}
	fmt.Fprintf(w, "  %-3s %-24s %-12s %-8s %s\n", "#", "task", "status", "tests", "time")
	for _, g := range r.Tasks {
		if g.Status == "missing" {
			fmt.Fprintf(w, "  %-3d %-24s %-12s\n", g.Number, g.Task, "missing")
			continue
		}
		fmt.Fprintf(w, "  %-3d %-24s %-12s %-8s %5.1fs\n", g.Number, g.Task, g.Status, fmt.Sprintf("%d/%d", g.Passed, g.Total), g.Seconds)
		for _, tr := range g.Tests {
			if tr.TopLevel() && tr.Status != gotest.Pass {
				fmt.Fprintf(w, "        %s %s (%s)\n", mark(tr.Status), tr.Name, tr.Status)
			}
		}
		if g.Problem != "" {
			fmt.Fprintf(w, "        %s\n", firstLine(g.Problem))
		}
		if len(g.Replaced) > 0 {
			fmt.Fprintf(w, "        graded with the lab's copy of %s (the learner's differs)\n", strings.Join(g.Replaced, ", "))
		}
	}
	fmt.Fprintf(w, "\n%d tasks pass, %d fail", r.Passed, r.Failed)
	if r.TimedOut > 0 {
		fmt.Fprintf(w, " (%d of them time-outs)", r.TimedOut)
	}
	fmt.Fprintf(w, ", %d missing", r.Missing)
	if r.NotWritten > 0 {
		fmt.Fprintf(w, " (and %d not written yet)", r.NotWritten)
	}
	fmt.Fprintln(w)
}
