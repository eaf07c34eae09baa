package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestLab grades this copy of the lab as `go tool lab grade` does,
// with the lab's own tests and the race detector: one subtest per task
// (TestLab/task04-ticker), one per criterion under it, each failing with
// the criterion's own message. A task whose folder this copy lacks is
// skipped, never passed. `go test -run 'TestLab/task05' .` grades task 5
// alone: the tasks the -run pattern leaves out are not graded at all.
func TestLab(t *testing.T) {
	if goTestWork() {
		t.Skip("go test work runs each module's own tests; the grade is `go test ./...` at the root")
	}
	tasks, err := tasksToGrade()
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) == 0 {
		t.Skipf("no task of this copy matches -run %q", flag.Lookup("test.run").Value.String())
	}
	report := grade(t, tasks)
	for _, g := range report.Tasks {
		t.Run(g.Task, func(t *testing.T) { g.judge(t) })
	}
}

// report and taskGrade are the parts of grade --json's report that the
// test reads (scripts/grade.go has the rest).
type report struct {
	Tasks []taskGrade `json:"tasks"`
	Error string      `json:"error"`
}

type taskGrade struct {
	Task     string       `json:"task"`
	Status   string       `json:"status"` // pass, fail, timeout, build-error, missing
	Problem  string       `json:"problem"`
	Tests    []testResult `json:"tests"`
	Replaced []string     `json:"lab_files_replaced"`
}

type testResult struct {
	Name   string   `json:"name"`
	Status string   `json:"status"` // pass, fail, skip, timeout
	Output []string `json:"output"`
}

// judge is one task's subtest: a subtest per criterion, and the task's own
// problem when no criterion says it (a build error, a package that failed
// outside its tests).
func (g taskGrade) judge(t *testing.T) {
	if g.Status == "missing" {
		t.Skip("not in this copy: its folder is missing, so there is nothing to grade yet")
	}
	if len(g.Replaced) > 0 {
		t.Logf("graded with the lab's copy of %s (this copy's differs: only the files a learner edits count)", strings.Join(g.Replaced, ", "))
	}
	failed := 0
	for _, tr := range g.Tests {
		if strings.Contains(tr.Name, "/") {
			continue // a criterion's subtest: its output goes with the criterion's
		}
		for _, sub := range g.Tests {
			if strings.HasPrefix(sub.Name, tr.Name+"/") {
				tr.Output = append(tr.Output, sub.Output...)
			}
		}
		if tr.Status != "pass" {
			failed++
		}
		t.Run(tr.Name, func(t *testing.T) { tr.judge(t) })
	}
	if g.Status != "pass" && failed == 0 {
		problem := g.Problem
		if problem == "" {
			problem = "the task's tests did not pass"
		}
		t.Errorf("%s: %s", g.Status, problem)
	}
}

func (tr testResult) judge(t *testing.T) {
	msg := strings.TrimSpace(strings.Join(tr.Output, "\n"))
	switch tr.Status {
	case "pass":
		if msg != "" {
			t.Log(msg)
		}
	case "skip":
		t.Skip(msg)
	case "timeout":
		t.Errorf("time-out: still running when its time ran out, so it neither passed nor failed\n%s", msg)
	default:
		if msg == "" {
			msg = "failed"
		}
		t.Error(msg)
	}
}

// grade runs the lab tool's grade on this copy, for the task numbers
// given, within the time go test allows, and reads its report.
func grade(t *testing.T, tasks []string) report {
	ctx := t.Context()
	if deadline, ok := t.Deadline(); ok {
		// Leave time to report, rather than be killed by go test's panic.
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline.Add(-15*time.Second))
		defer cancel()
	}
	dir := t.TempDir()
	// Built, not go run: go run would add its own "exit status 1" to a
	// grade that fails. go test puts its GOROOT/bin first on PATH, so
	// "go" is the go that runs this test.
	tool := filepath.Join(dir, "lab")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", tool, "./scripts").CombinedOutput(); err != nil {
		t.Fatalf("cannot build the lab tool: %v\n%s", err, out)
	}
	path := filepath.Join(dir, "report.json")
	cmd := exec.CommandContext(ctx, tool, "grade", "--json", path, "--tasks", strings.Join(tasks, ","))
	// An interrupt lets grade stop its go test runs and the programs they
	// started.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	t.Logf("graded in %.0fs:\n%s", time.Since(start).Seconds(), out.String())
	b, readErr := os.ReadFile(path)
	if ctx.Err() != nil {
		// What it graded before the time ran out is still reported below.
		t.Errorf("the grading ran out of go test's time (-timeout, 10m by default) after %.0fs: grade fewer tasks at once (-run 'TestLab/task0[1-5]') or allow more (-timeout 30m)", time.Since(start).Seconds())
	}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("cannot run the lab tool: %v", err)
	}
	if readErr != nil {
		t.Fatalf("the lab tool wrote no report (%v); its output is above", err)
	}
	var r report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("the lab tool's report %s: %v", path, err)
	}
	if r.Error != "" {
		t.Fatalf("cannot grade this copy: %s", r.Error)
	}
	return r
}

// taskFolder is a task's folder name; its number is its first two digits.
var taskFolder = regexp.MustCompile(`^task(\d\d)-[a-z0-9-]+$`)

// tasksToGrade is the numbers of this copy's tasks whose names the -run
// pattern's second element matches (every task when it has none), so that
// -run 'TestLab/task05' grades task 5 and no other.
func tasksToGrade() ([]string, error) {
	match := func(string) bool { return true }
	if elems := splitPattern(flag.Lookup("test.run").Value.String()); len(elems) > 1 {
		re, err := regexp.Compile(elems[1])
		if err != nil {
			return nil, fmt.Errorf("-run: %v", err)
		}
		match = re.MatchString
	}
	entries, err := os.ReadDir(".")
	if err != nil {
		return nil, err
	}
	var tasks []string
	for _, e := range entries {
		m := taskFolder.FindStringSubmatch(e.Name())
		if e.IsDir() && m != nil && match(e.Name()) {
			tasks = append(tasks, strings.TrimPrefix(m[1], "0"))
		}
	}
	return tasks, nil
}

// splitPattern splits a -run pattern into its elements, one per level of
// subtests, as the testing package does: at each slash that is not
// escaped and not inside brackets or parentheses.
func splitPattern(p string) []string {
	if p == "" {
		return nil
	}
	var elems []string
	depth, start := 0, 0
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '\\':
			i++
		case '[', '(':
			depth++
		case ']', ')':
			depth--
		case '/':
			if depth == 0 {
				elems = append(elems, p[start:i])
				start = i + 1
			}
		}
	}
	return append(elems, p[start:])
}
