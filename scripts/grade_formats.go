package main

import (
	"fmt"
	"os"
	"strings"

	"gracefulshutdown.lab/scripts/internal/gotest"
	"gracefulshutdown.lab/scripts/internal/workspace"
)

// Reports in the formats that other graders read.

// exercismReport is the exercism test runner's results.json, version 3
// (exercism/docs: building/tooling/test-runners/interface): a status for
// the run, and one entry per test with the task it belongs to.
type exercismReport struct {
	Version int            `json:"version"`
	Status  string         `json:"status"` // pass, fail, error
	Message string         `json:"message,omitempty"`
	Tests   []exercismTest `json:"tests"`
}

type exercismTest struct {
	Name    string `json:"name"`
	Status  string `json:"status"` // pass, fail, error
	Message string `json:"message,omitempty"`
	TaskID  int    `json:"task_id"`
}

// exercismResults is r as exercism's results.json: one test per criterion
// of every task graded; a task that does not build, or whose run says
// nothing about its criteria, is one test in error with the reason. Tasks
// missing from the copy are left out, as exercism leaves out tasks a
// learner has not reached.
func exercismResults(r *gradeReport) exercismReport {
	out := exercismReport{Version: 3, Status: "pass", Tests: []exercismTest{}}
	if r.Error != "" {
		out.Status, out.Message = "error", "cannot grade this copy: "+r.Error
		return out
	}
	for _, g := range r.Tasks {
		if g.Status == "missing" {
			continue
		}
		n := len(out.Tests)
		for _, tr := range g.Tests {
			if !tr.TopLevel() {
				continue
			}
			t := exercismTest{Name: g.Task + "/" + tr.Name, Status: "pass", TaskID: g.Number}
			switch tr.Status {
			case gotest.Pass:
			case gotest.Timeout:
				t.Status, t.Message = "error", "time-out: "+strings.Join(tr.Output, "\n")
			default:
				t.Status, t.Message = "fail", strings.Join(tr.Output, "\n")
			}
			if t.Status != "pass" && t.Message == "" {
				t.Message = string(tr.Status)
			}
			out.Tests = append(out.Tests, t)
		}
		if len(out.Tests) == n && g.Status != "pass" {
			problem := g.Problem
			if problem == "" {
				problem = g.Status
			}
			out.Tests = append(out.Tests, exercismTest{Name: g.Task, Status: "error", Message: problem, TaskID: g.Number})
		}
	}
	for _, t := range out.Tests {
		if t.Status != "pass" {
			// "error" at the top means the runner itself failed; a task
			// that does not build is that task's failure.
			out.Status = "fail"
		}
	}
	return out
}

// appendMarkdown adds the reports as Markdown to the file at path, which it
// creates if need be: GitHub Actions shows $GITHUB_STEP_SUMMARY, a file
// each step appends to, on the run's page.
func appendMarkdown(lab *workspace.Workspace, reports []*gradeReport, path string) error {
	var b strings.Builder
	if len(reports) == 1 {
		markdownReport(&b, reports[0])
	} else {
		markdownClass(&b, lab, reports)
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(b.String()); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func markdownReport(b *strings.Builder, r *gradeReport) {
	fmt.Fprintf(b, "## Graceful Shutdown Lab: %s\n\n", markdownCell(r.Learner))
	if r.Error != "" {
		fmt.Fprintf(b, "Cannot grade this copy: %s\n", markdownCell(r.Error))
		return
	}
	fmt.Fprintf(b, "%d tasks pass, %d fail, %d missing.\n\n", r.Passed, r.Failed, r.Missing)
	b.WriteString("| # | task | status | criteria | time | not yet |\n|---:|---|---|---:|---:|---|\n")
	for _, g := range r.Tasks {
		if g.Status == "missing" {
			fmt.Fprintf(b, "| %d | %s | %s missing | | | |\n", g.Number, g.Task, classMark(g.Status))
			continue
		}
		detail := ""
		if g.Status != "pass" {
			detail = failureDetail(g)
		}
		fmt.Fprintf(b, "| %d | %s | %s %s | %d/%d | %.1f s | %s |\n",
			g.Number, g.Task, classMark(g.Status), g.Status, g.Passed, g.Total, g.Seconds, markdownCell(detail))
	}
	b.WriteString("\n")
}

func markdownClass(b *strings.Builder, lab *workspace.Workspace, reports []*gradeReport) {
	cols := columns(lab, reports)
	fmt.Fprintf(b, "## Graceful Shutdown Lab: %d copies\n\n| learner |", len(reports))
	for _, t := range cols {
		fmt.Fprintf(b, " %d |", t.Number)
	}
	b.WriteString(" passed |\n|---|")
	b.WriteString(strings.Repeat(":-:|", len(cols)))
	b.WriteString("---:|\n")
	for _, r := range reports {
		fmt.Fprintf(b, "| %s |", markdownCell(r.Learner))
		if r.Error != "" {
			fmt.Fprintf(b, " cannot grade: %s |%s\n", markdownCell(r.Error), strings.Repeat(" |", len(cols)))
			continue
		}
		for _, t := range cols {
			fmt.Fprintf(b, " %s |", classMark(statusOf(r, t.Number)))
		}
		fmt.Fprintf(b, " %d/%d |\n", r.Passed, len(r.Tasks))
	}
	b.WriteString("\n✓ pass, ✗ fail, ⏱ time-out, B does not build, · missing\n\n")
}

// markdownCell makes s safe inside a table cell: one line, no bar.
func markdownCell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(firstLine(s))
}
