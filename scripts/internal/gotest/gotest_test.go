package gotest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
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
	run := Parse(strings.NewReader(sampleStream), "lab/t")
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
	run := Parse(strings.NewReader(sampleStream), "lab/t")
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
	run := Parse(strings.NewReader(stream), "lab/t")
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
	run := Parse(strings.NewReader(stream), "lab/t")
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
	got := Invocation{Overlay: "/tmp/o.json", Race: true, Limit: 40 * time.Second}.Args()
	want := []string{"test", "-json", "-count=1", "-race", "-overlay", "/tmp/o.json", "-ldflags=-w", "-timeout", "30s", "./..."}
	if !slices.Equal(got, want) {
		t.Errorf("args = %q, want %q", got, want)
	}
	if got := (Invocation{Cached: true, Limit: time.Minute}).Args(); slices.Contains(got, "-count=1") {
		t.Errorf("a cached run must not pass -count=1: %q", got)
	}
	if got := (Invocation{Parallel: 8, Limit: time.Minute}).Args(); !slices.Contains(got, "-parallel") || !slices.Contains(got, "8") {
		t.Errorf("-parallel 8 is not passed on: %q", got)
	}
	if got := (Invocation{Packages: []string{"."}, Limit: time.Minute}).Args(); got[len(got)-1] != "." || slices.Contains(got, "./...") {
		t.Errorf("a run of the root package only must name it alone: %q", got)
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
	run := Parse(strings.NewReader(stream), "lab/t8")
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

// A run of one sub-package's test (verify's caught_by) has no event of the
// root package at all: the name keeps its package.
func TestASubPackageTestRunAloneKeepsItsQualifiedName(t *testing.T) {
	stream := `{"Action":"start","Package":"lab/t8/lifecycle"}
{"Action":"run","Package":"lab/t8/lifecycle","Test":"TestLIFO"}
{"Action":"fail","Package":"lab/t8/lifecycle","Test":"TestLIFO","Elapsed":0.1}
{"Action":"fail","Package":"lab/t8/lifecycle","Elapsed":0.2}
`
	run := Parse(strings.NewReader(stream), "lab/t8")
	if run.Test("lifecycle.TestLIFO") == nil {
		t.Fatalf("tests = %v, want lifecycle.TestLIFO by its qualified name", run.Failed())
	}
}

func TestLeftoverGoroutinesFailARunWhoseTestsPassed(t *testing.T) {
	run := Parse(strings.NewReader(leakStream), "lab/t")
	if !run.AfterTestsFailed || run.OK() {
		t.Fatalf("AfterTestsFailed=%v OK=%v, want a goleak failure after passing tests to fail the run", run.AfterTestsFailed, run.OK())
	}
}

// leakStream is a run whose tests passed and whose binary then failed: goleak
// found goroutines left behind.
const leakStream = `{"Action":"run","Package":"lab/t","Test":"TestOK"}
{"Action":"pass","Package":"lab/t","Test":"TestOK","Elapsed":0.1}
{"Action":"output","Package":"lab/t","Output":"goleak: Errors on successful test run: found unexpected goroutines:\n"}
{"Action":"fail","Package":"lab/t","Elapsed":0.6}
`

// TestGo126TimeoutIsATimeoutNotAFailure reads what go test -json printed,
// on Go 1.26, for a test that waited forever: the time-out's panic arrives
// as the running test's own output, and that test never gets a fail event.
// It must come out as a time-out, never a failure (a hang is not a catch).
func TestGo126TimeoutIsATimeoutNotAFailure(t *testing.T) {
	f, err := os.Open("testdata/timeout-go1.26.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	run := Parse(f, "lab/t")
	if !run.TimedOut {
		t.Fatal("TimedOut = false for a run cut off by -timeout")
	}
	if s := run.Test("TestHang").Status; s != Timeout {
		t.Errorf("TestHang has status %q, want %q", s, Timeout)
	}
	if s := run.Test("TestQuick").Status; s != Pass {
		t.Errorf("TestQuick has status %q, want pass", s)
	}
	if got := run.FailedOnly(); len(got) != 0 {
		t.Errorf("FailedOnly() = %q: a time-out is not a failure", got)
	}
	explained := strings.Join(run.Explain("TestHang"), "\n")
	if !strings.Contains(explained, "time limit") || strings.Contains(explained, "goroutine ") {
		t.Errorf("Explain(TestHang) = %q, want the time-out said in words, without the goroutine dump", explained)
	}
	if !strings.Contains(explained, "waiting") {
		t.Errorf("Explain(TestHang) = %q, want what the test logged before it hung", explained)
	}
}

// TestFirstErrorSkipsThePackageHeader: the table shows the compiler's line.
func TestFirstErrorSkipsThePackageHeader(t *testing.T) {
	out := "# gracefulshutdown.lab/task05-readiness [gracefulshutdown.lab/task05-readiness.test]\n./main.go:76:2: undefined: ready\n./main.go:80:2: undefined: srv"
	if got, want := FirstError(out), "./main.go:76:2: undefined: ready"; got != want {
		t.Errorf("FirstError = %q, want %q", got, want)
	}
	if got := FirstError("go: no such tool\n"); got != "go: no such tool" {
		t.Errorf("FirstError of a non-compiler message = %q, want the message", got)
	}
}

// TestAHangingTestIsReportedAsATimeout runs a real go test whose test waits
// forever, the way a learner's test with a bare <-done hangs on a broken
// program: the run must come back as a time-out, on this Go's JSON shape,
// and the hanging test must not count as failed (a failure on a broken
// program would be a catch).
func TestAHangingTestIsReportedAsATimeout(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module hang\n\ngo 1.26\n")
	write("hang_test.go", `package hang

import "testing"

func TestQuick(t *testing.T) {}

func TestWaitsForever(t *testing.T) {
	t.Log("waiting for the program to exit")
	select {}
}
`)
	t.Setenv("GOWORK", "off")
	t.Setenv("GOFLAGS", "")
	// Every way the lab runs go test: with its result cache (check),
	// without (grade), and with kept binaries (verify).
	ways := map[string]Invocation{
		"cached": {Cached: true},
		"fresh":  {},
		"kept":   {Keep: t.TempDir()},
	}
	for way, inv := range ways {
		inv.Dir, inv.TestTimeout, inv.Limit = dir, 2*time.Second, 2*time.Minute
		run, err := inv.Exec(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !run.TimedOut {
			t.Fatalf("%s: TimedOut = false; tests: %v; output: %s", way, run.Tests, run.BuildOutput)
		}
		if s := run.Test("TestWaitsForever").Status; s != Timeout {
			t.Errorf("%s: the hanging test has status %q, want %q", way, s, Timeout)
		}
		if s := run.Test("TestQuick").Status; s != Pass {
			t.Errorf("%s: the quick test has status %q, want pass", way, s)
		}
		if got := run.FailedOnly(); len(got) != 0 {
			t.Errorf("%s: FailedOnly() = %q, want none: a hang is not a failure", way, got)
		}
	}
}

// TestAProgramLeftRunningIsCountedAndStopped: a test that starts a process
// and ends without stopping it, as a learner's test without t.Cleanup does
// when it fails, leaves it running; every way the lab runs go test counts
// it, and stops it. A process that the test stopped and waited for is not
// counted.
func TestAProgramLeftRunningIsCountedAndStopped(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	src := `package orphan

import (
	"os"
	"os/exec"
	"strconv"
	"testing"
)

func TestStopsItsProgram(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	cmd.Process.Kill()
	cmd.Wait()
}

func TestLeavesItsProgramRunning(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(PIDFILE, []byte(strconv.Itoa(cmd.Process.Pid)), 0o644)
}
`
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module orphan\n\ngo 1.26\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "orphan_test.go"), []byte(strings.Replace(src, "PIDFILE", strconv.Quote(pidFile), 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GOWORK", "off")
	t.Setenv("GOFLAGS", "")
	for way, inv := range map[string]Invocation{"fresh": {}, "kept": {Keep: t.TempDir()}} {
		inv.Dir, inv.Limit = dir, 2*time.Minute
		for _, tc := range []struct {
			test string
			left int
		}{{"TestStopsItsProgram", 0}, {"TestLeavesItsProgramRunning", 1}} {
			inv.Run = "^" + tc.test + "$"
			run, err := inv.Exec(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if !run.OK() {
				t.Fatalf("%s %s: the run failed: %v %s", way, tc.test, run.Failed(), run.BuildOutput)
			}
			if run.LeftRunning != tc.left {
				t.Errorf("%s %s: LeftRunning = %d, want %d", way, tc.test, run.LeftRunning, tc.left)
			}
		}
		b, err := os.ReadFile(pidFile)
		if err != nil {
			t.Fatal(err)
		}
		pid, _ := strconv.Atoi(string(b))
		if alive(pid) {
			t.Errorf("%s: the program the test left behind (pid %d) is still running after the run", way, pid)
		}
		os.Remove(pidFile)
	}
}

// alive reports whether process pid runs (a zombie does not).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	return i >= 0 && !strings.HasPrefix(strings.TrimSpace(string(b[i+1:])), "Z")
}
