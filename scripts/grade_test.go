package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gracefulshutdown.lab/scripts/internal/workspace"
)

// A class: one folder of learners' copies, graded in one command into one
// table, a CSV and a JSON report per learner. A copy that does not build,
// and a folder that is no copy at all, are rows that say so; neither stops
// the others.
func TestGradeAClassFolder(t *testing.T) {
	lab := tinyLab(t)
	class := tinyClass(t, lab)

	copies, err := gradeTargets(lab, []string{class})
	if err != nil {
		t.Fatal(err)
	}
	reports, csvPath := filepath.Join(t.TempDir(), "reports"), filepath.Join(t.TempDir(), "class.csv")
	var out bytes.Buffer
	ok, err := grade(context.Background(), lab, copies, gradeOptions{jobs: 2, jsonPath: reports, csvPath: csvPath, format: "lab", perLearner: true}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if ok {
		t.Errorf("grade reported the whole class as passing:\n%s", out.String())
	}
	table := out.String()
	for name, want := range map[string]string{"ada": "✓", "bob": "✗", "cyd": "B", "dan": "cannot grade: not a lab workspace"} {
		row := lineWith(table, "  "+name+" ")
		if !strings.Contains(row, want) {
			t.Errorf("%s's row is %q; want it to show %q\n%s", name, row, want, table)
		}
	}
	if !strings.Contains(table, "undefined: fortyTwo") {
		t.Errorf("the table does not give cyd's compiler error:\n%s", table)
	}

	f, err := os.Open(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range rows[1:] {
		got[r[0]] = r[2]
	}
	want := map[string]string{"ada": "pass", "bob": "fail", "cyd": "build-error", "dan": "not-graded"}
	for name, status := range want {
		if got[name] != status {
			t.Errorf("CSV: %s has %q for task 1; want %q (rows %q)", name, got[name], status, rows)
		}
	}

	var bob gradeReport
	b, err := os.ReadFile(filepath.Join(reports, "bob.json"))
	if err == nil {
		err = json.Unmarshal(b, &bob)
	}
	if err != nil || bob.Failed != 1 || len(bob.Tasks) != 1 || bob.Tasks[0].Status != "fail" {
		t.Errorf("bob's JSON report: %v %+v; want task 1 failed", err, bob)
	}
}

// tinyClass is a class folder of four copies of lab: ada's passes task 1,
// bob's fails it, cyd's does not build, and dan's is no lab at all.
func tinyClass(t *testing.T, lab *workspace.Workspace) string {
	t.Helper()
	class := t.TempDir()
	learner := func(name, mainGo string) {
		dst := filepath.Join(class, name)
		if err := os.CopyFS(dst, os.DirFS(lab.Root)); err != nil {
			t.Fatal(err)
		}
		if mainGo != "" {
			if err := os.WriteFile(filepath.Join(dst, "task01-ctrlc", "main.go"), []byte(mainGo), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	learner("ada", "")
	learner("bob", strings.Replace(tinyProgram, "return 42", "return 41", 1))
	learner("cyd", strings.Replace(tinyProgram, "return 42", "return fortyTwo", 1))
	if err := os.MkdirAll(filepath.Join(class, "dan", "notes"), 0o755); err != nil {
		t.Fatal(err)
	}
	return class
}

// A class graded in two shards, each on its own (two jobs of a CI matrix),
// and merged, is the table one grade of the whole class gives.
func TestShardsMergeIntoTheWholeClassTable(t *testing.T) {
	lab := tinyLab(t)
	copies, err := gradeTargets(lab, []string{tinyClass(t, lab)})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	whole, summary := filepath.Join(dir, "whole.csv"), filepath.Join(dir, "summary.md")
	var out bytes.Buffer
	if _, err := grade(context.Background(), lab, copies, gradeOptions{jobs: 2, csvPath: whole, markdownPath: summary, format: "lab", perLearner: true}, &out); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(summary)
	if err != nil {
		t.Fatal(err)
	}
	for name, cell := range map[string]string{"ada": "| ada | ✓ | 1/1 |", "bob": "| bob | ✗ | 0/1 |", "cyd": "| cyd | B | 0/1 |", "dan": "| dan | cannot grade"} {
		if !strings.Contains(string(md), cell) {
			t.Errorf("the Markdown summary has no row %q for %s:\n%s", cell, name, md)
		}
	}
	var shards []string
	for k := 1; k <= 2; k++ {
		part := shardOf(copies, k, 2)
		if len(part) != 2 {
			t.Fatalf("shard %d/2 of 4 copies has %d; want 2", k, len(part))
		}
		reports := filepath.Join(dir, fmt.Sprintf("shard-%d", k))
		if _, err := grade(context.Background(), lab, part, gradeOptions{jobs: 2, jsonPath: reports, format: "lab", perLearner: true}, &out); err != nil {
			t.Fatal(err)
		}
		shards = append(shards, reports)
	}
	mergedCSV := filepath.Join(dir, "merged.csv")
	var table bytes.Buffer
	ok, err := mergeReports(lab, shards, gradeOptions{csvPath: mergedCSV, format: "lab"}, &table)
	if err != nil {
		t.Fatal(err)
	}
	if ok {
		t.Errorf("the merged class passes; bob, cyd and dan do not:\n%s", table.String())
	}
	want, err1 := os.ReadFile(whole)
	got, err2 := os.ReadFile(mergedCSV)
	if err := errors.Join(err1, err2); err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("merged shards give the table\n%s\nwant the whole class's\n%s", got, want)
	}
	for _, name := range []string{"ada", "bob", "cyd", "dan"} {
		if lineWith(table.String(), "  "+name+" ") == "" {
			t.Errorf("the merged table has no row for %s:\n%s", name, table.String())
		}
	}
}

// --format exercism writes the exercism test runner's results.json: one
// test per criterion, with its task's number, and the run's status.
func TestExercismResultsNameEveryCriterion(t *testing.T) {
	lab := tinyLab(t)
	copies, err := gradeTargets(lab, []string{tinyClass(t, lab)})
	if err != nil {
		t.Fatal(err)
	}
	reports := t.TempDir()
	var out bytes.Buffer
	if _, err := grade(context.Background(), lab, copies, gradeOptions{jobs: 2, jsonPath: reports, format: "exercism", perLearner: true}, &out); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"ada": "pass", "bob": "fail", "cyd": "fail", "dan": "error"} {
		var r exercismReport
		b, err := os.ReadFile(filepath.Join(reports, name+".json"))
		if err == nil {
			err = json.Unmarshal(b, &r)
		}
		if err != nil {
			t.Fatalf("%s's results.json: %v", name, err)
		}
		if r.Version != 3 || r.Status != want {
			t.Errorf("%s: version %d, status %q; want version 3, status %q\n%s", name, r.Version, r.Status, want, b)
		}
		if name == "dan" {
			continue
		}
		if len(r.Tests) == 0 {
			t.Errorf("%s: no tests in results.json\n%s", name, b)
		}
		for _, tr := range r.Tests {
			if tr.TaskID != 1 || !strings.HasPrefix(tr.Name, "task01-ctrlc") || (tr.Status != "pass" && tr.Message == "") {
				t.Errorf("%s: test %+v; want task_id 1, a name under task01-ctrlc, and a message when it fails", name, tr)
			}
		}
	}
}

// lineWith is the first line of s that contains sub.
func lineWith(s, sub string) string {
	for line := range strings.SplitSeq(s, "\n") {
		if strings.Contains(line, sub) {
			return line
		}
	}
	return ""
}
