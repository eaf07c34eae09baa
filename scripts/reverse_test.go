package main

import (
	"testing"

	"gracefulshutdown.lab/scripts/internal/gotest"
)

func TestReverseGradingJudgesALearnersTest(t *testing.T) {
	pass := runOf(map[string]gotest.Status{"TestA": gotest.Pass})
	fail := runOf(map[string]gotest.Status{"TestA": gotest.Fail})
	skip := runOf(map[string]gotest.Status{"TestA": gotest.Skip})
	for _, tc := range []struct {
		name string
		c    programCheck
		ok   bool
	}{
		{"passes on the correct program", programCheck{Run: pass}, true},
		{"fails on the correct program", programCheck{Run: fail}, false},
		{"skips on the correct program", programCheck{Run: skip}, false},
		{"no test at all", programCheck{Run: &gotest.Run{}}, false},
		{"catches a broken program", programCheck{Broken: true, Run: fail}, true},
		{"passes on a broken program", programCheck{Broken: true, Run: pass}, false},
		{"a skip on a broken program is not a catch", programCheck{Broken: true, Run: skip}, false},
		{"hangs on a broken program", programCheck{Broken: true, Run: &gotest.Run{TimedOut: true, Tests: fail.Tests}}, false},
	} {
		if got := tc.c.OK(); got != tc.ok {
			t.Errorf("%s: OK() = %v, want %v", tc.name, got, tc.ok)
		}
	}
}

func TestBrokenProgramsAreNotJudgedUntilTheTestPassesOnTheCorrectOne(t *testing.T) {
	fail := runOf(map[string]gotest.Status{"TestA": gotest.Fail})
	checks := []*programCheck{{Run: fail}, {Broken: true, Run: fail}, {Broken: true, Run: fail}}
	if n := judgedOK(checks); n != 0 {
		t.Errorf("a test failing everywhere scored %d, want 0", n)
	}
	checks[0].Run = runOf(map[string]gotest.Status{"TestA": gotest.Pass})
	if n := judgedOK(checks); n != 3 {
		t.Errorf("a test passing on the correct program and failing on both broken ones scored %d, want 3", n)
	}
}

// TestALearnersTestThatHangsIsATimeout: the hang shows as a time-out in
// grade's report, for the check and for the task, never as a catch.
func TestALearnersTestThatHangsIsATimeout(t *testing.T) {
	pass := runOf(map[string]gotest.Status{"TestA": gotest.Pass})
	hung := &gotest.Run{TimedOut: true, Tests: []*gotest.TestResult{{Name: "TestA", Status: gotest.Timeout}}}
	checks := []*programCheck{{Label: "the correct program", Run: pass}, {Label: "hangs-after-request", Broken: true, Run: hung}}
	g := &taskGrade{}
	fillTestGrade(g, checks, nil)
	if g.Status != "timeout" {
		t.Errorf("task status %q, want timeout", g.Status)
	}
	if s := g.Tests[1].Status; s != gotest.Timeout {
		t.Errorf("the broken program's check has status %q, want timeout", s)
	}
	if g.Passed != 1 {
		t.Errorf("passed %d of 2, want 1: the hang caught nothing", g.Passed)
	}
}
