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
