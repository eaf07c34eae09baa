package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gracefulshutdown.lab/scripts/internal/gotest"
	"gracefulshutdown.lab/scripts/internal/workspace"
)

func runOf(results map[string]gotest.Status) *gotest.Run {
	run := &gotest.Run{}
	for _, name := range []string{"TestA", "TestB", "TestC"} {
		if s, ok := results[name]; ok {
			run.Tests = append(run.Tests, &gotest.TestResult{Name: name, Status: s})
		}
	}
	return run
}

func TestJudgeStarterNeedsExactlyTheExpectedFailures(t *testing.T) {
	for _, tc := range []struct {
		name     string
		results  map[string]gotest.Status
		expected []string
		ok       bool
		detail   string
	}{
		{"exact", map[string]gotest.Status{"TestA": gotest.Fail, "TestB": gotest.Pass}, []string{"TestA"}, true, "fails 1 of 2"},
		{"passes one it should fail", map[string]gotest.Status{"TestA": gotest.Pass, "TestB": gotest.Pass}, []string{"TestA"}, false, "passes tests it should fail: TestA"},
		{"fails one it should pass", map[string]gotest.Status{"TestA": gotest.Fail, "TestB": gotest.Fail}, []string{"TestA"}, false, "fails tests it should pass: TestB"},
		{"names a test that does not exist", map[string]gotest.Status{"TestA": gotest.Fail}, []string{"TestA", "TestZ"}, false, "do not exist: TestZ"},
		{"timed out is not a plain failure", map[string]gotest.Status{"TestA": gotest.Timeout, "TestB": gotest.Pass}, []string{"TestB"}, false, "TestA (timeout)"},
		{"solved already", map[string]gotest.Status{"TestA": gotest.Pass}, nil, false, "already solved"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := judgeStarter(runOf(tc.results), tc.expected)
			if v.ok != tc.ok || !strings.Contains(v.detail, tc.detail) {
				t.Errorf("judgeStarter = %v %q, want %v and a detail containing %q", v.ok, v.detail, tc.ok, tc.detail)
			}
		})
	}
}

func TestJudgeReference(t *testing.T) {
	if v := judgeReference(runOf(map[string]gotest.Status{"TestA": gotest.Pass, "TestB": gotest.Pass})); !v.ok {
		t.Errorf("all passing: %q", v.detail)
	}
	if v := judgeReference(runOf(map[string]gotest.Status{"TestA": gotest.Pass, "TestB": gotest.Skip})); v.ok {
		t.Error("a skipped test was counted as done")
	}
	if v := judgeReference(&gotest.Run{}); v.ok {
		t.Error("a run with no test passed")
	}
	if v := judgeReference(&gotest.Run{BuildFailed: true, BuildOutput: "x.go:1: nope"}); v.ok || !strings.Contains(v.detail, "does not build") {
		t.Errorf("build failure: %v %q", v.ok, v.detail)
	}
}

func TestJudgeBug(t *testing.T) {
	if v := judgeBug(runOf(map[string]gotest.Status{"TestA": gotest.Pass, "TestB": gotest.Fail})); !v.ok || v.detail != "caught by TestB" {
		t.Errorf("caught: %v %q", v.ok, v.detail)
	}
	if v := judgeBug(runOf(map[string]gotest.Status{"TestA": gotest.Pass})); v.ok {
		t.Error("a bug that passes every test was counted as caught")
	}
	if v := judgeBug(&gotest.Run{BuildFailed: true}); v.ok {
		t.Error("a bug that does not build was counted as caught")
	}
}

func TestATimeOutIsNeverACatch(t *testing.T) {
	run := runOf(map[string]gotest.Status{"TestA": gotest.Pass, "TestB": gotest.Timeout})
	run.TimedOut = true
	if v := judgeBug(run); v.ok || !strings.Contains(v.detail, "timed out") {
		t.Errorf("judgeBug of a run that timed out = %v %q, want not caught, saying it timed out", v.ok, v.detail)
	}
}

func TestTheStarterMustShowWhereToWork(t *testing.T) {
	dir := t.TempDir()
	task := &workspace.Task{Number: 3, Path: dir, Meta: &workspace.Meta{Files: []string{"main.go"}}}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\n// TODO(task03): read Serve's error\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if v := judgeMarker(task, verdict{ok: true}); !v.ok {
		t.Errorf("a starter with its marker: %q", v.detail)
	}
	task.Number = 4
	if v := judgeMarker(task, verdict{ok: true}); v.ok {
		t.Error("a starter without TODO(task04) passed")
	}
}

// TestAProgramAndTestTaskIsProvedBothWays: for a task where the learner
// writes both the program and a test, verify proves the lab's tests on the
// reference and each bug with the learner's test left out, and the
// reference's test on the reference and each bug with the lab's tests left
// out, so that each catches the bugs by itself.
func TestAProgramAndTestTaskIsProvedBothWays(t *testing.T) {
	root := t.TempDir()
	write := func(rel, content string) {
		path := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("task18-goleak/main.go", "package main\n\n// TODO(task18)\nfunc main() {}\n")
	write("task18-goleak/leak_test.go", "package main\n")
	write("task18-goleak/main_test.go", "package main\n\n// the lab's tests\n")
	write("solutions/task18-goleak/main.go", "package main\n\nfunc main() {}\n")
	write("solutions/task18-goleak/leak_test.go", "package main\n\n// the reference's test\n")
	write("solutions/task18-goleak/bugs/leaky.patch", "--- a/main.go\n+++ b/main.go\n@@ -1,3 +1,3 @@\n package main\n \n-func main() {}\n+func main() { go func() { select {} }() }\n")
	task := &workspace.Task{Number: 18, Dir: "task18-goleak", Path: filepath.Join(root, "task18-goleak"), SolPath: filepath.Join(root, "solutions/task18-goleak"),
		Meta: &workspace.Meta{Kind: "program+test", Files: []string{"main.go", "leak_test.go"}, TestFiles: []string{"leak_test.go"}, Bugs: []workspace.Bug{{Name: "leaky"}}}}

	var labels []string
	for _, p := range proofsOf(task) {
		labels = append(labels, p.label())
	}
	if got, want := strings.Join(labels, "|"), "reference|starter|reference (reference test)|bug leaky|bug leaky (reference test)"; got != want {
		t.Fatalf("proofs %q, want %q", got, want)
	}
	check := func(p proof, wantDeleted, wantKept string) {
		t.Helper()
		fs, err := p.files()
		if err != nil {
			t.Fatal(err)
		}
		if c, ok := fs[wantDeleted]; !ok || c != nil {
			t.Errorf("%s: %s is not deleted (files %q)", p.label(), wantDeleted, fs)
		}
		if fs[wantKept] == nil {
			t.Errorf("%s: %s is missing", p.label(), wantKept)
		}
	}
	ps := proofsOf(task)
	check(ps[0], "leak_test.go", "main.go")      // the lab's tests judge the program
	check(ps[2], "main_test.go", "leak_test.go") // the reference's test judges alone
	check(ps[4], "main_test.go", "main.go")
	if fs, _ := ps[4].files(); !strings.Contains(string(fs["main.go"]), "select {}") {
		t.Errorf("the bug's reverse proof does not run the bugged program: %q", fs["main.go"])
	}
}

func TestABugsCaughtByNamesItsRunAndItsPackages(t *testing.T) {
	if got, want := runPattern([]string{"TestStorm", "lifecycle.TestLIFO"}), "^(TestStorm|TestLIFO)$"; got != want {
		t.Errorf("runPattern = %q, want %q", got, want)
	}
	for name, want := range map[string]string{"TestStorm": ".", "deploy.TestManifestDecodesStrictly": "./deploy", "a.b.TestX": "./a/b"} {
		if got := packageOf(name); got != want {
			t.Errorf("packageOf(%q) = %q, want %q", name, got, want)
		}
	}
}

// verify runs a bug's second caught_by test only when the first misses, so
// a renamed second test is found against the reference's run of them all.
func TestARenamedCaughtByTestIsFoundInTheReferencesRun(t *testing.T) {
	ref := &gotest.Run{Tests: []*gotest.TestResult{{Name: "TestStorm"}, {Name: "lifecycle.TestLIFO"}}}
	if gone := caughtByRenamed(ref, []string{"TestStorm", "lifecycle.TestLIFO"}); len(gone) != 0 {
		t.Errorf("both tests are in the reference's run, yet %q is reported gone", gone)
	}
	if gone := caughtByRenamed(ref, []string{"TestStorm", "TestOldName"}); len(gone) != 1 || gone[0] != "TestOldName" {
		t.Errorf("caughtByRenamed = %q, want [TestOldName]", gone)
	}
}
