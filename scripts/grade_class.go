package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gracefulshutdown.lab/scripts/internal/gotest"
	"gracefulshutdown.lab/scripts/internal/workspace"
)

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

// columns is the tasks a class table has a column for: those of the lab
// that any report graded, or all the lab has when none graded any.
func columns(lab *workspace.Workspace, reports []*gradeReport) []*workspace.Task {
	graded := map[int]bool{}
	for _, r := range reports {
		for _, g := range r.Tasks {
			graded[g.Number] = true
		}
	}
	var out []*workspace.Task
	for _, t := range lab.Present() {
		if len(graded) == 0 || graded[t.Number] {
			out = append(out, t)
		}
	}
	return out
}

// statusOf is task n's status in r, "missing" when r has no line for it.
func statusOf(r *gradeReport, n int) string {
	for _, g := range r.Tasks {
		if g.Number == n {
			return g.Status
		}
	}
	return "missing"
}

// printClass is the table of several learners: one row per learner, one
// column per task, then what each learner's failures were.
func printClass(lab *workspace.Workspace, reports []*gradeReport, w io.Writer) {
	width := len("learner")
	for _, r := range reports {
		width = max(width, len(r.Learner))
	}
	cols := columns(lab, reports)
	fmt.Fprintf(w, "Grading %d copies with the lab at %s\n\n", len(reports), lab.Root)
	fmt.Fprintf(w, "  %-*s", width, "learner")
	for _, t := range cols {
		fmt.Fprintf(w, " %2d", t.Number)
	}
	fmt.Fprintf(w, "   passed\n")
	for _, r := range reports {
		fmt.Fprintf(w, "  %-*s", width, r.Learner)
		if r.Error != "" {
			fmt.Fprintf(w, "   cannot grade: %s\n", r.Error)
			continue
		}
		for _, t := range cols {
			fmt.Fprintf(w, "  %s", classMark(statusOf(r, t.Number)))
		}
		fmt.Fprintf(w, "   %d/%d\n", r.Passed, len(r.Tasks))
	}
	fmt.Fprintf(w, "\n  ✓ pass  ✗ fail  ⏱ time-out  B does not build  · missing\n\n")
	for _, r := range reports {
		if r.Error != "" || r.Failed == 0 {
			continue
		}
		fmt.Fprintf(w, "%s:\n", r.Learner)
		for _, g := range r.Tasks {
			if g.Status == "pass" || g.Status == "missing" {
				continue
			}
			fmt.Fprintf(w, "  %-24s %-12s %s\n", g.Task, g.Status, failureDetail(g))
		}
	}
}

// failureDetail names a failed task's failed criteria, or its problem when
// none ran.
func failureDetail(g *taskGrade) string {
	var names []string
	for _, tr := range g.Tests {
		if tr.TopLevel() && tr.Status != gotest.Pass {
			names = append(names, tr.Name)
		}
	}
	if len(names) == 0 && g.Problem != "" {
		return firstLine(g.Problem)
	}
	return strings.Join(names, ", ")
}

// writeReports writes the JSON report, in opts.format: to opts.jsonPath for
// one learner, or one file per learner in the folder opts.jsonPath for
// several.
func writeReports(reports []*gradeReport, opts gradeOptions, w io.Writer) error {
	path := opts.jsonPath
	if path == "" {
		return nil
	}
	encode := func(r *gradeReport) any { return r }
	if opts.format == "exercism" {
		encode = func(r *gradeReport) any { return exercismResults(r) }
	}
	if len(reports) == 1 && !opts.perLearner {
		if err := writeJSON(path, encode(reports[0])); err != nil {
			return err
		}
		fmt.Fprintf(w, "report written to %s\n", path)
		return nil
	}
	if err := os.MkdirAll(path, 0o755); err != nil {
		return err
	}
	for _, r := range reports {
		if err := writeJSON(filepath.Join(path, reportFileName(r)), encode(r)); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "%d reports written to %s\n", len(reports), path)
	return nil
}

// reportFileName is the file a learner's report goes to in a class's
// report folder.
func reportFileName(r *gradeReport) string {
	return strings.NewReplacer("/", "_", string(filepath.Separator), "_").Replace(strings.TrimPrefix(r.Learner, "/")) + ".json"
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// writeCSV writes the class table: one row per learner, one column per
// task with its status, and the counts.
func writeCSV(lab *workspace.Workspace, reports []*gradeReport, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	cw := csv.NewWriter(f)
	cols := columns(lab, reports)
	header := []string{"learner", "workspace"}
	for _, t := range cols {
		header = append(header, t.Dir)
	}
	header = append(header, "passed", "failed", "missing")
	_ = cw.Write(header)
	for _, r := range reports {
		row := []string{r.Learner, r.Workspace}
		for _, t := range cols {
			cell := statusOf(r, t.Number)
			if r.Error != "" {
				cell = "not-graded"
			}
			row = append(row, cell)
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

// sortReports orders a class's reports as grade lists a class folder: by
// learner, then by workspace.
func sortReports(reports []*gradeReport) {
	slices.SortStableFunc(reports, func(a, b *gradeReport) int {
		if c := strings.Compare(a.Learner, b.Learner); c != 0 {
			return c
		}
		return strings.Compare(a.Workspace, b.Workspace)
	})
}
