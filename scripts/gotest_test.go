package main

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// A trimmed stream of `go test -json` for a package with a passing test, a
// failing test with subtests, and a skipped test.
const sampleStream = `{"Action":"start","Package":"lab/t"}
{"Action":"run","Package":"lab/t","Test":"TestOK"}
{"Action":"output","Package":"lab/t","Test":"TestOK","Output":"=== RUN   TestOK\n"}
{"Action":"output","Package":"lab/t","Test":"TestOK","Output":"--- PASS: TestOK (0.20s)\n"}
{"Action":"pass","Package":"lab/t","Test":"TestOK","Elapsed":0.2}
{"Action":"run","Package":"lab/t","Test":"TestDrain"}
{"Action":"run","Package":"lab/t","Test":"TestDrain/SIGINT"}
{"Action":"output","Package":"lab/t","Test":"TestDrain/SIGINT","Output":"=== PAUSE TestDrain/SIGINT\n"}
{"Action":"output","Package":"lab/t","Test":"TestDrain/SIGINT","Output":"    main_test.go:39: the request was cut off\n"}
{"Action":"output","Package":"lab/t","Test":"TestDrain/SIGINT","Output":"        call srv.Shutdown\n"}
{"Action":"output","Package":"lab/t","Test":"TestDrain/SIGINT","Output":"--- FAIL: TestDrain/SIGINT (0.01s)\n"}
{"Action":"fail","Package":"lab/t","Test":"TestDrain/SIGINT","Elapsed":0.01}
{"Action":"run","Package":"lab/t","Test":"TestDrain/SIGTERM"}
{"Action":"pass","Package":"lab/t","Test":"TestDrain/SIGTERM","Elapsed":0.3}
{"Action":"fail","Package":"lab/t","Test":"TestDrain","Elapsed":0.31}
{"Action":"run","Package":"lab/t","Test":"TestLater"}
{"Action":"output","Package":"lab/t","Test":"TestLater","Output":"    main_test.go:80: not written yet\n"}
{"Action":"skip","Package":"lab/t","Test":"TestLater","Elapsed":0}
{"Action":"output","Package":"lab/t","Output":"FAIL\n"}
{"Action":"fail","Package":"lab/t","Elapsed":0.5}
`

func TestParseTestJSONReadsEveryTest(t *testing.T) {
	run := parseTestJSON(strings.NewReader(sampleStream))
	var got []string
	for _, tr := range run.Tests {
		got = append(got, tr.Name+"="+string(tr.Status))
	}
	want := []string{"TestOK=pass", "TestDrain=fail", "TestDrain/SIGINT=fail", "TestDrain/SIGTERM=pass", "TestLater=skip"}
	if !slices.Equal(got, want) {
		t.Fatalf("tests = %v, want %v", got, want)
	}
	if len(run.Top()) != 3 {
		t.Errorf("Top() has %d tests, want 3 (subtests are not criteria)", len(run.Top()))
	}
	if failed := run.Failed(); !slices.Equal(failed, []string{"TestDrain", "TestLater"}) {
		t.Errorf("Failed() = %v: a skipped test must count as not passed", failed)
	}
	if run.OK() || run.BuildFailed || run.TimedOut {
		t.Errorf("OK=%v BuildFailed=%v TimedOut=%v, want all false", run.OK(), run.BuildFailed, run.TimedOut)
	}
}

func TestExplainKeepsWhatTheTestSaidUnderItsSubtest(t *testing.T) {
	run := parseTestJSON(strings.NewReader(sampleStream))
	got := run.Explain("TestDrain")
	want := []string{"SIGINT:", "  main_test.go:39: the request was cut off", "      call srv.Shutdown"}
	if !slices.Equal(got, want) {
		t.Fatalf("Explain = %q, want %q", got, want)
	}
}

func TestParseTestJSONBuildFailure(t *testing.T) {
	stream := `{"ImportPath":"lab/t","Action":"build-output","Output":"# lab/t\n"}
{"ImportPath":"lab/t","Action":"build-output","Output":"./main.go:12:2: undefined: srv\n"}
{"ImportPath":"lab/t","Action":"build-fail"}
{"Action":"start","Package":"lab/t"}
{"Action":"output","Package":"lab/t","Output":"FAIL\tlab/t [build failed]\n"}
{"Action":"fail","Package":"lab/t","Elapsed":0,"FailedBuild":"lab/t"}
`
	run := parseTestJSON(strings.NewReader(stream))
	if !run.BuildFailed {
		t.Fatal("BuildFailed = false for a build-fail stream")
	}
	if !strings.Contains(run.BuildOutput, "undefined: srv") {
		t.Errorf("BuildOutput = %q, want the compiler's error", run.BuildOutput)
	}
}

func TestParseTestJSONTimeoutMarksRunningTests(t *testing.T) {
	stream := `{"Action":"run","Package":"lab/t","Test":"TestHangs"}
{"Action":"run","Package":"lab/t","Test":"TestQuick"}
{"Action":"pass","Package":"lab/t","Test":"TestQuick","Elapsed":0.1}
{"Action":"output","Package":"lab/t","Output":"panic: test timed out after 45s\n"}
{"Action":"fail","Package":"lab/t","Elapsed":45}
`
	run := parseTestJSON(strings.NewReader(stream))
	if !run.TimedOut {
		t.Fatal("TimedOut = false after a test timed out panic")
	}
	if s := run.Test("TestHangs").Status; s != Timeout {
		t.Errorf("the test still running has status %q, want %q", s, Timeout)
	}
	if s := run.Test("TestQuick").Status; s != Pass {
		t.Errorf("the finished test has status %q, want pass", s)
	}
}

func TestGoTestArgs(t *testing.T) {
	got := goTest{Overlay: "/tmp/o.json", Race: true, Limit: 40 * time.Second}.args()
	want := []string{"test", "-json", "-race", "-count=1", "-overlay", "/tmp/o.json", "-timeout", "30s", "./..."}
	if !slices.Equal(got, want) {
		t.Errorf("args = %q, want %q", got, want)
	}
	if got := (goTest{Cached: true, Limit: time.Minute}).args(); slices.Contains(got, "-count=1") {
		t.Errorf("a cached run must not pass -count=1: %q", got)
	}
}

func TestSubPackageTestsAreQualified(t *testing.T) {
	stream := `{"Action":"run","Package":"lab/t8","Test":"TestProgram"}
{"Action":"pass","Package":"lab/t8","Test":"TestProgram","Elapsed":0.1}
{"Action":"run","Package":"lab/t8/lifecycle","Test":"TestLIFO"}
{"Action":"run","Package":"lab/t8/lifecycle","Test":"TestLIFO/three"}
{"Action":"output","Package":"lab/t8/lifecycle","Test":"TestLIFO/three","Output":"    lifecycle_test.go:9: ran a, b, c; want c, b, a\n"}
{"Action":"fail","Package":"lab/t8/lifecycle","Test":"TestLIFO/three","Elapsed":0.1}
{"Action":"fail","Package":"lab/t8/lifecycle","Test":"TestLIFO","Elapsed":0.1}
`
	run := parseTestJSON(strings.NewReader(stream))
	var names []string
	for _, tr := range run.Top() {
		names = append(names, tr.Name)
	}
	if want := []string{"TestProgram", "lifecycle.TestLIFO"}; !slices.Equal(names, want) {
		t.Fatalf("top-level names = %q, want %q", names, want)
	}
	if got := run.Explain("lifecycle.TestLIFO"); len(got) != 2 || got[0] != "three:" {
		t.Errorf("Explain of the qualified name = %q, want its subtest", got)
	}
}

func TestLeftoverGoroutinesFailARunWhoseTestsPassed(t *testing.T) {
	stream := `{"Action":"run","Package":"lab/t","Test":"TestOK"}
{"Action":"pass","Package":"lab/t","Test":"TestOK","Elapsed":0.1}
{"Action":"output","Package":"lab/t","Output":"goleak: Errors on successful test run: found unexpected goroutines:\n"}
{"Action":"fail","Package":"lab/t","Elapsed":0.6}
`
	run := parseTestJSON(strings.NewReader(stream))
	if !run.AfterTestsFailed || run.OK() {
		t.Fatalf("AfterTestsFailed=%v OK=%v, want a goleak failure after passing tests to fail the run", run.AfterTestsFailed, run.OK())
	}
	if v := judgeBug(run); !v.ok {
		t.Errorf("a bug caught by goleak was not counted as caught: %q", v.detail)
	}
	if v := judgeReference(run); v.ok {
		t.Error("a reference that leaks goroutines passed verify")
	}
}
