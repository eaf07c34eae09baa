package main

import (
	"strings"
	"testing"
)

func runOf(results map[string]Status) *Run {
	run := &Run{}
	for _, name := range []string{"TestA", "TestB", "TestC"} {
		if s, ok := results[name]; ok {
			run.Tests = append(run.Tests, &TestResult{Name: name, Status: s})
		}
	}
	return run
}

func TestJudgeStarterNeedsExactlyTheExpectedFailures(t *testing.T) {
	for _, tc := range []struct {
		name     string
		results  map[string]Status
		expected []string
		ok       bool
		detail   string
	}{
		{"exact", map[string]Status{"TestA": Fail, "TestB": Pass}, []string{"TestA"}, true, "fails 1 of 2"},
		{"passes one it should fail", map[string]Status{"TestA": Pass, "TestB": Pass}, []string{"TestA"}, false, "passes tests it should fail: TestA"},
		{"fails one it should pass", map[string]Status{"TestA": Fail, "TestB": Fail}, []string{"TestA"}, false, "fails tests it should pass: TestB"},
		{"names a test that does not exist", map[string]Status{"TestA": Fail}, []string{"TestA", "TestZ"}, false, "do not exist: TestZ"},
		{"timed out is not a plain failure", map[string]Status{"TestA": Timeout, "TestB": Pass}, []string{"TestB"}, false, "TestA (timeout)"},
		{"solved already", map[string]Status{"TestA": Pass}, nil, false, "already solved"},
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
	if v := judgeReference(runOf(map[string]Status{"TestA": Pass, "TestB": Pass})); !v.ok {
		t.Errorf("all passing: %q", v.detail)
	}
	if v := judgeReference(runOf(map[string]Status{"TestA": Pass, "TestB": Skip})); v.ok {
		t.Error("a skipped test was counted as done")
	}
	if v := judgeReference(&Run{}); v.ok {
		t.Error("a run with no test passed")
	}
	if v := judgeReference(&Run{BuildFailed: true, BuildOutput: "x.go:1: nope"}); v.ok || !strings.Contains(v.detail, "does not build") {
		t.Errorf("build failure: %v %q", v.ok, v.detail)
	}
}

func TestJudgeBug(t *testing.T) {
	if v := judgeBug(runOf(map[string]Status{"TestA": Pass, "TestB": Fail})); !v.ok || v.detail != "caught by TestB" {
		t.Errorf("caught: %v %q", v.ok, v.detail)
	}
	if v := judgeBug(runOf(map[string]Status{"TestA": Pass})); v.ok {
		t.Error("a bug that passes every test was counted as caught")
	}
	if v := judgeBug(&Run{BuildFailed: true}); v.ok {
		t.Error("a bug that does not build was counted as caught")
	}
}
