package main

import (
	"strings"
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

// TestAVariantIsJudgedAsACorrectProgram: a learner's test must pass on a
// correct program timed differently, and is told why when it does not; a
// variant is judged even before the test passes on the correct program.
func TestAVariantIsJudgedAsACorrectProgram(t *testing.T) {
	pass := runOf(map[string]gotest.Status{"TestA": gotest.Pass})
	fail := runOf(map[string]gotest.Status{"TestA": gotest.Fail})
	variant := &programCheck{Label: "slow-start", What: "starts serving 300 ms after it listens", Variant: true, Run: fail}
	if variant.OK() {
		t.Fatal("a test failing on a variant was judged right")
	}
	if p := variant.Problem(); len(p) == 0 || !strings.Contains(p[0], "correct too") || !strings.Contains(p[0], variant.What) {
		t.Errorf("the problem of a failing variant is %q; want it to say the program is correct too, and how it differs", p)
	}
	checks := []*programCheck{{Run: pass}, variant, {Broken: true, Run: fail}}
	if n := judgedOK(checks); n != 2 {
		t.Errorf("scored %d of 3 with the variant failed, want 2", n)
	}
	variant.Run = pass
	if n := judgedOK(checks); n != 3 {
		t.Errorf("scored %d of 3, want 3", n)
	}
}
