package main

import "testing"

func TestReverseGradingJudgesALearnersTest(t *testing.T) {
	pass := runOf(map[string]Status{"TestA": Pass})
	fail := runOf(map[string]Status{"TestA": Fail})
	skip := runOf(map[string]Status{"TestA": Skip})
	for _, tc := range []struct {
		name string
		c    programCheck
		ok   bool
	}{
		{"passes on the correct program", programCheck{Run: pass}, true},
		{"fails on the correct program", programCheck{Run: fail}, false},
		{"skips on the correct program", programCheck{Run: skip}, false},
		{"no test at all", programCheck{Run: &Run{}}, false},
		{"catches a broken program", programCheck{Broken: true, Run: fail}, true},
		{"passes on a broken program", programCheck{Broken: true, Run: pass}, false},
		{"a skip is not a pass (the correct program check rejects it)", programCheck{Broken: true, Run: skip}, true},
		{"hangs on a broken program", programCheck{Broken: true, Run: &Run{TimedOut: true, Tests: fail.Tests}}, false},
	} {
		if got := tc.c.OK(); got != tc.ok {
			t.Errorf("%s: OK() = %v, want %v", tc.name, got, tc.ok)
		}
	}
}

func TestBrokenProgramsAreNotJudgedUntilTheTestPassesOnTheCorrectOne(t *testing.T) {
	fail := runOf(map[string]Status{"TestA": Fail})
	checks := []*programCheck{{Run: fail}, {Broken: true, Run: fail}, {Broken: true, Run: fail}}
	if n := judgedOK(checks); n != 0 {
		t.Errorf("a test failing everywhere scored %d, want 0", n)
	}
	checks[0].Run = runOf(map[string]Status{"TestA": Pass})
	if n := judgedOK(checks); n != 3 {
		t.Errorf("a test passing on the correct program and failing on both broken ones scored %d, want 3", n)
	}
}
