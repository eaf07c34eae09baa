package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
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
func grade(ctx context.Context, lab *workspace.Workspace, copies []learnerCopy, jobs int, jsonPath, csvPath string, w io.Writer) (bool, error) {
	labCommit := workspace.GitCommit(lab.Root)
	manifest, err := lab.ReadManifest()
	if err != nil {
		return false, err
	}
	start := time.Now()
	warmUp(ctx, lab, lab.Present(), os.Stderr)
	sem := make(chan struct{}, jobs)
	reports := make([]*gradeReport, len(copies))
	var wg sync.WaitGroup
	for i, c := range copies {
		reports[i] = newReport(c, labCommit)
		if c.err != nil {
			continue
		}
		gradeCopy(ctx, lab, manifest, c.ws, reports[i], sem, &wg)
	}
	wg.Wait()
	for _, r := range reports {
		r.tally(lab)
	}
	elapsed := time.Since(start)

	if len(copies) == 1 {
		printReport(reports[0], copies[0].err, w)
	} else {
		printClass(lab, reports, copies, w)
	}
	fmt.Fprintf(w, "graded in %.0fs\n", elapsed.Seconds())
	if err := writeReports(reports, jsonPath, w); err != nil {
		return false, err
	}
	if csvPath != "" {
		if err := writeCSV(lab, reports, copies, csvPath); err != nil {
			return false, err
		}
		fmt.Fprintf(w, "table written to %s\n", csvPath)
	}
	ok := true
	for i, r := range reports {
		ok = ok && copies[i].err == nil && r.Failed == 0
	}
	return ok, nil
}

func newReport(c learnerCopy, labCommit string) *gradeReport {
	return &gradeReport{
		Learner:         c.name,
		Workspace:       c.ws.Root,
		WorkspaceCommit: workspace.GitCommit(c.ws.Root),
		LabCommit:       labCommit,
		Graded:          time.Now().UTC().Truncate(time.Second),
		Tasks:           []*taskGrade{},
	}
}

// gradeCopy starts one run per task of ws on wg, at most cap(sem) at once
// across every copy, filling in r.
func gradeCopy(ctx context.Context, lab *workspace.Workspace, manifest workspace.Manifest, ws *workspace.Workspace, r *gradeReport, sem chan struct{}, wg *sync.WaitGroup) {
	for i, t := range ws.Tasks {
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
					checks, err = gradeTestTask(ctx, labTask, t, base, false, 1)
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
	for i, g := range r.Tasks {
		if !lab.Tasks[i].Present {
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
func printReport(r *gradeReport, copyErr error, w io.Writer) {
	fmt.Fprintf(w, "Grading %s\n\n", r.Workspace)
	if copyErr != nil {
		fmt.Fprintf(w, "  cannot grade it: %v\n\n", copyErr)
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

// classMark is a task's cell in the class table.
func classMark(status string) string {
	switch status {
	case "pass":
		return "✓"
	case "timeout":
		return "⏱"
	case "build-error":
		return "B"
	case "missing":
		return "·"
	default:
		return "✗"
	}
}

// printClass is the table of several learners: one row per learner, one
// column per task, then what each learner's failures were.
func printClass(lab *workspace.Workspace, reports []*gradeReport, copies []learnerCopy, w io.Writer) {
	width := len("learner")
	for _, r := range reports {
		width = max(width, len(r.Learner))
	}
	present := lab.Present()
	fmt.Fprintf(w, "Grading %d copies with the lab at %s\n\n", len(reports), lab.Root)
	fmt.Fprintf(w, "  %-*s", width, "learner")
	for _, t := range present {
		fmt.Fprintf(w, " %2d", t.Number)
	}
	fmt.Fprintf(w, "   passed\n")
	for i, r := range reports {
		fmt.Fprintf(w, "  %-*s", width, r.Learner)
		if copies[i].err != nil {
			fmt.Fprintf(w, "   cannot grade: %v\n", copies[i].err)
			continue
		}
		for _, g := range r.Tasks {
			fmt.Fprintf(w, "  %s", classMark(g.Status))
		}
		fmt.Fprintf(w, "   %d/%d\n", r.Passed, len(r.Tasks))
	}
	fmt.Fprintf(w, "\n  ✓ pass  ✗ fail  ⏱ time-out  B does not build  · missing\n\n")
	for i, r := range reports {
		if copies[i].err != nil || r.Failed == 0 {
			continue
		}
		fmt.Fprintf(w, "%s:\n", r.Learner)
		for _, g := range r.Tasks {
			if g.Status == "pass" || g.Status == "missing" {
				continue
			}
			var names []string
			for _, tr := range g.Tests {
				if tr.TopLevel() && tr.Status != gotest.Pass {
					names = append(names, tr.Name)
				}
			}
			detail := strings.Join(names, ", ")
			if g.Problem != "" && detail == "" {
				detail = firstLine(g.Problem)
			}
			fmt.Fprintf(w, "  %-24s %-12s %s\n", g.Task, g.Status, detail)
		}
	}
}

// writeReports writes the JSON report: to path for one learner, or one file
// per learner in the folder path for several.
func writeReports(reports []*gradeReport, path string, w io.Writer) error {
	if path == "" {
		return nil
	}
	if len(reports) == 1 {
		if err := writeJSON(path, reports[0]); err != nil {
			return err
		}
		fmt.Fprintf(w, "report written to %s\n", path)
		return nil
	}
	if err := os.MkdirAll(path, 0o755); err != nil {
		return err
	}
	for _, r := range reports {
		name := strings.NewReplacer("/", "_", string(filepath.Separator), "_").Replace(strings.TrimPrefix(r.Learner, "/"))
		if err := writeJSON(filepath.Join(path, name+".json"), r); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "%d reports written to %s\n", len(reports), path)
	return nil
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// writeCSV writes the class table: one row per learner, one column per
// task with its status, and the count passed.
func writeCSV(lab *workspace.Workspace, reports []*gradeReport, copies []learnerCopy, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	cw := csv.NewWriter(f)
	header := []string{"learner", "workspace"}
	for _, t := range lab.Present() {
		header = append(header, t.Dir)
	}
	header = append(header, "passed", "failed", "missing")
	_ = cw.Write(header)
	for i, r := range reports {
		row := []string{r.Learner, r.Workspace}
		for _, g := range r.Tasks {
			cell := g.Status
			if copies[i].err != nil {
				cell = "not-graded"
			}
			row = append(row, cell)
		}
		for len(row) < len(header)-3 {
			row = append(row, "not-graded")
		}
		row = append(row, fmt.Sprint(r.Passed), fmt.Sprint(r.Failed), fmt.Sprint(r.Missing))
		_ = cw.Write(row)
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
