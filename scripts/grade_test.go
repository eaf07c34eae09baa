package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A class: one folder of learners' copies, graded in one command into one
// table, a CSV and a JSON report per learner. A copy that does not build,
// and a folder that is no copy at all, are rows that say so; neither stops
// the others.
func TestGradeAClassFolder(t *testing.T) {
	lab := tinyLab(t)
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

	copies, err := gradeTargets(lab, []string{class})
	if err != nil {
		t.Fatal(err)
	}
	reports, csvPath := filepath.Join(t.TempDir(), "reports"), filepath.Join(t.TempDir(), "class.csv")
	var out bytes.Buffer
	ok, err := grade(context.Background(), lab, copies, 2, reports, csvPath, &out)
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

// lineWith is the first line of s that contains sub.
func lineWith(s, sub string) string {
	for line := range strings.SplitSeq(s, "\n") {
		if strings.Contains(line, sub) {
			return line
		}
	}
	return ""
}
