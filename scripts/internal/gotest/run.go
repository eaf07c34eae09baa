// Package gotest runs `go test -json` on a task folder and reads what it
// reports: each test's status and what it said, a build failure, a time-out,
// or a failure after the tests (goleak).
package gotest

import (
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
	Name   string `json:"name"`
	Status Status `json:"status"`
	// Seconds is the test's own time, to the millisecond.
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
	// LeftRunning counts the processes that the tests started and that
	// were still running when the test binary ended: a test that does not
	// stop its program in a cleanup leaves it behind when it fails. The
	// lab stops them; this says that it had to.
	LeftRunning int
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

// FailedOnly is the top-level tests that failed outright: not skipped, not
// cut off by a time-out.
func (r *Run) FailedOnly() []string {
	var out []string
	for _, t := range r.Top() {
		if t.Status == Fail {
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

// Explain is what a test that did not pass said, for a person: the test's
// own lines, indented under a subtest's name where it has subtests.
func (r *Run) Explain(test string) []string {
	var lines []string
	for _, t := range r.Tests {
		if t.Name != test && !strings.HasPrefix(t.Name, test+"/") {
			continue
		}
		if t.Status == Timeout && t.Name == test {
			lines = append(lines, "still running when the time limit ran out: something waits forever (a wait with no bound, in the test or the program)")
		}
		if t.Status == Pass || len(t.Output) == 0 {
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

// markRunning marks every test that never finished as timed out.
func (r *Run) markRunning() {
	for _, t := range r.Tests {
		if t.Status == "" {
			t.Status = Timeout
		}
	}
}

// FirstError is the line of a build's output that a person needs: the
// first compiler error (./main.go:76:2: undefined: ready), not the "# pkg"
// header that go test prints above it.
func FirstError(buildOutput string) string {
	var first string
	for line := range strings.SplitSeq(buildOutput, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if first == "" {
			first = line
		}
		if isCompilerError(line) {
			return line
		}
	}
	return first
}

// isCompilerError reports whether line is file.go:line:col: message.
func isCompilerError(line string) bool {
	file, rest, ok := strings.Cut(line, ".go:")
	if !ok || file == "" || strings.ContainsAny(file, " \t") {
		return false
	}
	return len(rest) > 0 && rest[0] >= '0' && rest[0] <= '9'
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
