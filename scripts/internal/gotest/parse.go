package gotest

import (
	"bufio"
	"encoding/json"
	"io"
	"math"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action      string
	Package     string
	Test        string
	Elapsed     float64
	Output      string
	FailedBuild string
}

// timeoutPanic starts the line the testing package prints when -timeout
// runs out. Since Go 1.26 it arrives as output of the test that was
// running, not of the package, and that test gets no fail event at all.
const timeoutPanic = "panic: test timed out after"

// Parse reads the event stream of the task whose root package is root, and
// of its sub-packages, whose tests it names with their package below root
// (lifecycle.TestLIFO). Lines that are not events (older toolchains print
// build errors that way) are kept as build output.
func Parse(r io.Reader, root string) *Run {
	run := &Run{}
	packageFailed := false
	byName := map[string]*TestResult{}
	var buildOut []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		line := sc.Bytes()
		var ev event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &ev) != nil {
			buildOut = append(buildOut, string(line))
			continue
		}
		if ev.Action == "output" && strings.HasPrefix(ev.Output, timeoutPanic) {
			run.TimedOut = true
		}
		switch {
		case ev.Action == "build-output":
			buildOut = append(buildOut, strings.TrimRight(ev.Output, "\n"))
			continue
		case ev.Action == "build-fail", ev.FailedBuild != "":
			run.BuildFailed = true
			continue
		case ev.Test == "":
			if ev.Action == "output" && isProblemOutput(ev.Output) {
				buildOut = append(buildOut, strings.TrimRight(ev.Output, "\n"))
			}
			if ev.Action == "fail" {
				packageFailed = true
			}
			continue
		}
		key := ev.Package + " " + ev.Test
		t := byName[key]
		if t == nil {
			t = &TestResult{Name: ev.Test, pkg: ev.Package}
			byName[key] = t
			run.Tests = append(run.Tests, t)
		}
		switch ev.Action {
		case "pass", "fail", "skip":
			t.Status = Status(ev.Action)
			// No test ends after the time-out's panic: test2json, run
			// on a binary by itself, fails the tests left running.
			if run.TimedOut && ev.Action == "fail" {
				t.Status = Timeout
			}
			t.Seconds = math.Round(ev.Elapsed*1000) / 1000
		case "output":
			// After a time-out's panic the rest is the goroutine dump: it
			// belongs to the whole binary, not to what the test said.
			if run.TimedOut {
				continue
			}
			if line, ok := testOutputLine(ev.Output); ok {
				t.Output = append(t.Output, line)
			}
		}
	}
	if run.TimedOut {
		run.markRunning()
	}
	run.BuildOutput = strings.TrimSpace(strings.Join(buildOut, "\n"))
	qualifyNames(run.Tests, root)
	// A package fails whenever a test does; if none did, something after
	// the tests failed it: goleak's check of leftover goroutines, a panic.
	run.AfterTestsFailed = packageFailed && !run.BuildFailed && !run.TimedOut && len(run.Failed()) == 0 && len(run.Top()) > 0
	return run
}

// qualifyNames prefixes the tests of a task's sub-packages with the
// package's path below the task's root package (lifecycle.TestLIFO), so that
// each criterion has one name, however the run was cut: all packages, or
// one sub-package alone.
func qualifyNames(tests []*TestResult, root string) {
	for _, t := range tests {
		if rel, ok := strings.CutPrefix(t.pkg, root+"/"); ok {
			t.Name = strings.ReplaceAll(rel, "/", ".") + "." + t.Name
		}
	}
}

// isProblemOutput picks, from package-level output, the lines a person needs
// when no test could report: leaked goroutines, panics, a failing TestMain.
func isProblemOutput(s string) bool {
	for _, p := range []string{"goleak", "found unexpected goroutines", "panic:", "FAIL\t", "exit status", "WARNING: DATA RACE", "Goroutine "} {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}

// testOutputLine strips the framework's bookkeeping lines from a test's
// output and keeps what the test itself said.
func testOutputLine(s string) (string, bool) {
	trimmed := strings.TrimSpace(s)
	for _, p := range []string{"=== RUN", "=== PAUSE", "=== CONT", "=== NAME", "--- PASS", "--- FAIL", "--- SKIP"} {
		if strings.HasPrefix(trimmed, p) {
			return "", false
		}
	}
	if trimmed == "" {
		return "", false
	}
	return strings.TrimRight(s, "\n"), true
}
