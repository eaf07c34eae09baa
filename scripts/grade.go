package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// taskGrade is one task's line of a grade report.
type taskGrade struct {
	Task    string        `json:"task"`
	Number  int           `json:"number"`
	Title   string        `json:"title"`
	Status  string        `json:"status"` // pass, fail, timeout, build-error, missing
	Passed  int           `json:"passed"`
	Total   int           `json:"total"`
	Seconds float64       `json:"seconds"`
	Tests   []*TestResult `json:"tests,omitempty"`
	Problem string        `json:"problem,omitempty"` // build errors and the like
}

// gradeReport is the JSON written by grade --json.
type gradeReport struct {
	Workspace string       `json:"workspace"`
	Graded    time.Time    `json:"graded"`
	Tasks     []*taskGrade `json:"tasks"`
	Passed    int          `json:"passed"`
	Failed    int          `json:"failed"`
	Missing   int          `json:"missing"`
	// NotWritten counts the tasks this lab does not have yet.
	NotWritten int `json:"not_written"`
}

// grade runs every task's tests on the workspace at ws, as the learner left
// it, and reports each. A task that this lab (lab, the grader's own
// workspace) has and ws lacks is missing; tasks neither has are not written
// yet and left out. The result cache is not used: a grade is a fresh run.
// It reports whether every task present passed.
func grade(ctx context.Context, lab, ws *Workspace, jobs int, jsonPath string, w io.Writer) (bool, error) {
	report := &gradeReport{Workspace: ws.Root, Graded: time.Now().UTC()}
	grades := make([]*taskGrade, len(ws.Tasks))
	sem := make(chan struct{}, jobs)
	var wg sync.WaitGroup
	for i, t := range ws.Tasks {
		grades[i] = &taskGrade{Task: t.Dir, Number: t.Number, Title: t.Title, Status: "missing"}
		if !t.Present {
			continue
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if t.Meta.Kind == "test" && lab.Tasks[i].Present {
				checks, err := gradeTestTask(ctx, lab.Tasks[i], t, false, 1)
				fillTestGrade(grades[i], checks, err)
				return
			}
			run, err := gradeTask(ctx, lab.Tasks[i], t)
			fillGrade(grades[i], run, err)
		})
	}
	wg.Wait()

	fmt.Fprintf(w, "Grading %s\n\n", ws.Root)
	fmt.Fprintf(w, "  %-3s %-24s %-12s %-8s %s\n", "#", "task", "status", "tests", "time")
	for i, g := range grades {
		if g.Status == "missing" && !lab.Tasks[i].Present {
			report.NotWritten++
			continue
		}
		report.Tasks = append(report.Tasks, g)
		switch g.Status {
		case "missing":
			report.Missing++
			fmt.Fprintf(w, "  %-3d %-24s %-12s\n", g.Number, g.Task, "missing")
			continue
		case "pass":
			report.Passed++
		default:
			report.Failed++
		}
		fmt.Fprintf(w, "  %-3d %-24s %-12s %-8s %5.1fs\n", g.Number, g.Task, g.Status, fmt.Sprintf("%d/%d", g.Passed, g.Total), g.Seconds)
		for _, tr := range g.Tests {
			if tr.TopLevel() && tr.Status != Pass {
				fmt.Fprintf(w, "        %s %s (%s)\n", mark(tr.Status), tr.Name, tr.Status)
			}
		}
		if g.Problem != "" {
			fmt.Fprintf(w, "        %s\n", firstLine(g.Problem))
		}
	}
	fmt.Fprintf(w, "\n%d tasks pass, %d fail, %d missing", report.Passed, report.Failed, report.Missing)
	if report.NotWritten > 0 {
		fmt.Fprintf(w, " (and %d not written yet)", report.NotWritten)
	}
	fmt.Fprintln(w)
	if jsonPath != "" {
		b, err := json.MarshalIndent(report, "", "  ")
		if err != nil {
			return false, err
		}
		if err := os.WriteFile(jsonPath, append(b, '\n'), 0o644); err != nil {
			return false, err
		}
		fmt.Fprintf(w, "report written to %s\n", jsonPath)
	}
	return report.Failed == 0, nil
}

// gradeTask tests the learner's task t. When t is another workspace's copy
// of the lab's task labTask, everything but the files the learner edits
// comes from the lab: a learner's copy is graded against the lab's tests,
// not against tests the learner may have changed.
func gradeTask(ctx context.Context, labTask, t *Task) (*Run, error) {
	g := goTest{Dir: t.Path, Race: true, Limit: testLimit}
	if labTask.Present && labTask.Path != t.Path {
		dir, err := os.MkdirTemp("", "lab-grade-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		if g.Overlay, err = labFilesOverlay(dir, labTask, t); err != nil {
			return nil, err
		}
	}
	return g.run(ctx)
}

func fillGrade(g *taskGrade, run *Run, err error) {
	if err != nil {
		g.Status, g.Problem = "fail", err.Error()
		return
	}
	g.Seconds = run.Elapsed.Seconds()
	g.Tests = run.Tests
	g.Total = len(run.Top())
	g.Passed = run.Passed()
	switch {
	case run.BuildFailed:
		g.Status, g.Problem = "build-error", run.BuildOutput
	case run.TimedOut:
		g.Status = "timeout"
	case run.OK():
		g.Status = "pass"
	default:
		g.Status = "fail"
		g.Problem = packageProblem(run)
	}
}

// fillTestGrade records the reverse grading of a learner-written test: one
// pseudo-test per program it was run against.
func fillTestGrade(g *taskGrade, checks []*programCheck, err error) {
	if err != nil {
		g.Status, g.Problem = "fail", err.Error()
		return
	}
	g.Status = "pass"
	judged := len(checks) > 0 && checks[0].OK()
	for _, c := range checks {
		name := "passes on " + c.Label
		if c.Broken {
			name = "catches " + c.Label
		}
		tr := &TestResult{Name: name, Status: Pass}
		if c.Run != nil {
			tr.Seconds = c.Run.Elapsed.Seconds()
			g.Seconds += tr.Seconds
		}
		switch {
		case c.Broken && !judged:
			tr.Status, tr.Output = Fail, []string{"not judged: the test does not pass on the correct program"}
			g.Status = "fail"
		case !c.OK():
			tr.Status, tr.Output = Fail, c.Problem()
			g.Status = "fail"
		default:
			g.Passed++
		}
		g.Total++
		g.Tests = append(g.Tests, tr)
	}
}
