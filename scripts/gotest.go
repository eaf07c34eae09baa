package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strings"
	"time"
)

// Status is what happened to one test.
type Status string

const (
	Pass    Status = "pass"
	Fail    Status = "fail"
	Skip    Status = "skip"
	Timeout Status = "timeout" // still running when the time ran out
)

// TestResult is one test (or subtest) of a run.
type TestResult struct {
	Name    string  `json:"name"`
	Status  Status  `json:"status"`
	Seconds float64 `json:"seconds"`
	// Output is what the test printed (t.Log, t.Error, ...), without the
	// framework's own === RUN / --- FAIL lines.
	Output []string `json:"output,omitempty"`
	pkg    string
}

// TopLevel reports whether the result is a test rather than a subtest.
func (r *TestResult) TopLevel() bool { return !strings.Contains(r.Name, "/") }

// Run is the outcome of one `go test` of one task folder.
type Run struct {
	Tests       []*TestResult // in the order they started
	BuildFailed bool
	BuildOutput string // compiler errors, or what go test printed outside the JSON stream
	TimedOut    bool
	// AfterTestsFailed: every test passed, yet the package failed, as when
	// goleak finds goroutines left behind; BuildOutput says what.
	AfterTestsFailed bool
	Elapsed          time.Duration
}

// Top is the top-level tests: the task's criteria.
func (r *Run) Top() []*TestResult {
	var out []*TestResult
	for _, t := range r.Tests {
		if t.TopLevel() {
			out = append(out, t)
		}
	}
	return out
}

// Test is the result named name, or nil.
func (r *Run) Test(name string) *TestResult {
	for _, t := range r.Tests {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// Failed is the top-level tests that did not pass, sorted.
func (r *Run) Failed() []string {
	var out []string
	for _, t := range r.Top() {
		if t.Status != Pass {
			out = append(out, t.Name)
		}
	}
	sort.Strings(out)
	return out
}

// Passed counts the top-level tests that passed.
func (r *Run) Passed() int { return len(r.Top()) - len(r.Failed()) }

// OK reports whether the run built, ran at least one test, and every test
// passed. A skipped test is not a passed one.
func (r *Run) OK() bool {
	return !r.BuildFailed && !r.TimedOut && !r.AfterTestsFailed && len(r.Top()) > 0 && len(r.Failed()) == 0
}

// Explain is what the tests that did not pass said, for a person: each
// failing test's own lines, indented under a subtest's name where it has
// subtests.
func (r *Run) Explain(test string) []string {
	var lines []string
	for _, t := range r.Tests {
		if t.Name != test && !strings.HasPrefix(t.Name, test+"/") {
			continue
		}
		if t.Status == Pass || len(t.Output) == 0 {
			if t.Status == Timeout && t.Name == test {
				lines = append(lines, "still running when the time limit ran out: something waits forever")
			}
			continue
		}
		if t.Name == test {
			lines = append(lines, dedent(t.Output)...)
			continue
		}
		lines = append(lines, strings.TrimPrefix(t.Name, test+"/")+":")
		for _, l := range dedent(t.Output) {
			lines = append(lines, "  "+l)
		}
	}
	return lines
}

// goTest describes one `go test` invocation.
type goTest struct {
	Dir     string // the task folder
	Overlay string // an overlay file, or ""
	Race    bool
	Cached  bool          // allow go test's result cache (check, list)
	Run     string        // -run pattern, or ""
	Limit   time.Duration // for the whole invocation, build included
}

// args is the go command line.
func (g goTest) args() []string {
	args := []string{"test", "-json"}
	if g.Race {
		args = append(args, "-race")
	}
	if !g.Cached {
		args = append(args, "-count=1")
	}
	if g.Overlay != "" {
		args = append(args, "-overlay", g.Overlay)
	}
	if g.Run != "" {
		args = append(args, "-run", g.Run)
	}
	// The test binary's own limit comes first, so that a hang shows up as
	// a panic that names the running tests; ours is the backstop.
	args = append(args, "-timeout", (g.Limit * 3 / 4).Round(time.Second).String(), "./...")
	return args
}

// run runs go test and parses what it reports.
func (g goTest) run(ctx context.Context) (*Run, error) {
	ctx, cancel := context.WithTimeout(ctx, g.Limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", g.args()...)
	cmd.Dir = g.Dir
	// A race-enabled binary sleeps a second before it exits so that late
	// race reports get printed (GORACE atexit_sleep_ms). A race in a task
	// shows up while its test runs, so that second is pure wait, per run.
	cmd.Env = append(os.Environ(), "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	ownProcessGroup(cmd)
	start := time.Now()
	err := cmd.Start()
	if err != nil {
		return nil, fmt.Errorf("go test in %s: %w", g.Dir, err)
	}
	err = cmd.Wait()
	// The programs that tests start are grandchildren; a test binary that
	// panicked or was killed leaves them running. Sweep the whole group.
	killProcessGroup(cmd)
	run := parseTestJSON(&stdout)
	run.Elapsed = time.Since(start)
	if ctx.Err() != nil {
		run.TimedOut = true
		run.markRunning()
	}
	if s := strings.TrimSpace(stderr.String()); s != "" {
		run.BuildOutput = strings.TrimSpace(run.BuildOutput + "\n" + s)
	}
	if len(run.Tests) == 0 && !run.TimedOut && run.BuildOutput != "" {
		run.BuildFailed = true
	}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) && !run.TimedOut {
		return nil, fmt.Errorf("go test in %s: %w", g.Dir, err)
	}
	return run, nil
}

// testEvent is one line of `go test -json` (cmd/test2json).
type testEvent struct {
	Action      string
	Package     string
	Test        string
	Elapsed     float64
	Output      string
	FailedBuild string
}

// parseTestJSON reads the event stream of one package. Lines that are not
// events (older toolchains print build errors that way) are kept as build
// output.
func parseTestJSON(r io.Reader) *Run {
	run := &Run{}
	packageFailed := false
	byName := map[string]*TestResult{}
	var buildOut []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		line := sc.Bytes()
		var ev testEvent
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &ev) != nil {
			buildOut = append(buildOut, string(line))
			continue
		}
		switch {
		case ev.Action == "build-output":
			buildOut = append(buildOut, strings.TrimRight(ev.Output, "\n"))
			continue
		case ev.Action == "build-fail", ev.FailedBuild != "":
			run.BuildFailed = true
			continue
		case ev.Test == "":
			if ev.Action == "output" && strings.HasPrefix(ev.Output, "panic: test timed out") {
				run.TimedOut = true
			}
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
			t.Seconds = ev.Elapsed
		case "output":
			if line, ok := testOutputLine(ev.Output); ok {
				t.Output = append(t.Output, line)
			}
		}
	}
	if run.TimedOut {
		run.markRunning()
	}
	run.BuildOutput = strings.TrimSpace(strings.Join(buildOut, "\n"))
	qualifyNames(run.Tests)
	// A package fails whenever a test does; if none did, something after
	// the tests failed it: goleak's check of leftover goroutines, a panic.
	run.AfterTestsFailed = packageFailed && !run.BuildFailed && !run.TimedOut && len(run.Failed()) == 0 && len(run.Top()) > 0
	return run
}

// qualifyNames prefixes the tests of a task's sub-packages with the
// package's path below the task's root package (lifecycle.TestLIFO), so that
// each criterion has one name. The root package is the shortest path seen.
func qualifyNames(tests []*TestResult) {
	root := ""
	for _, t := range tests {
		if root == "" || len(t.pkg) < len(root) {
			root = t.pkg
		}
	}
	for _, t := range tests {
		if rel, ok := strings.CutPrefix(t.pkg, root+"/"); ok {
			t.Name = strings.ReplaceAll(rel, "/", ".") + "." + t.Name
		}
	}
}

// markRunning marks every test that never finished as timed out.
func (r *Run) markRunning() {
	for _, t := range r.Tests {
		if t.Status == "" {
			t.Status = Timeout
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

// dedent removes the first line's indent from every line: go test indents
// a test's output by its nesting, which means nothing to a reader.
func dedent(lines []string) []string {
	if len(lines) == 0 {
		return nil
	}
	first := lines[0]
	pad := first[:len(first)-len(strings.TrimLeft(first, " "))]
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = strings.TrimPrefix(l, pad)
	}
	return out
}
