package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gracefulshutdown.lab/scripts/internal/labfixture"
)

// The program of a tiny test task: answer() is correct, and takes as long
// as delay() says.
const answerProgram = `package main

import "time"

func delay() time.Duration { return 0 }

func answer() int {
	time.Sleep(delay())
	return 42
}

func main() {}
`

// answerTest is the reference test: it waits for the answer, with a bound.
const answerTest = `package main

import (
	"testing"
	"time"
)

func TestAnswer(t *testing.T) {
	got := make(chan int, 1)
	go func() { got <- answer() }()
	select {
	case n := <-got:
		if n != 42 {
			t.Fatalf("answer() = %d, want 42", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no answer within 5s")
	}
}
`

// TestVerifyProvesVariantsAndWeakTests: in a task whose learner writes the
// test, verify proves that the reference's test passes on every correct
// variant, and that the grading rejects each catalogued weak test, on the
// program its rejected_by names and for the reason it gives; a weak test
// that the grading would accept fails its row.
func TestVerifyProvesVariantsAndWeakTests(t *testing.T) {
	sleepy := strings.Replace(answerTest, `	case <-time.After(5 * time.Second):
		t.Fatal("no answer within 5s")`, `	case <-time.After(100 * time.Millisecond): // long enough, here
		t.Fatal("no answer yet")`, 1)
	files := map[string]string{
		"go.work":                              "go 1.26.0\n\nuse ./task10-integration-test\n",
		"task10-integration-test/go.mod":       "module tiny\n\ngo 1.26.0\n",
		"task10-integration-test/main.go":      answerProgram,
		"task10-integration-test/main_test.go": "package main\n\nimport \"testing\"\n\n// TODO(task10)\nfunc TestAnswer(t *testing.T) { t.Fatal(\"write me\") }\n",
		"task10-integration-test/task.toml": `number = 10
title = "Tiny"
level = "easy"
kind = "test"
files = ["main_test.go"]
starter_fails = ["TestAnswer"]
learner_test_timeout = "20s"

[[variants]]
name = "slow"
what = "answers after 300 ms"

[[bugs]]
name = "wrong"
what = "answers 41"

[[weak_tests]]
name = "sleeps"
what = "sleeps 100 ms, then reads the answer once"
rejected_by = "slow"

[[weak_tests]]
name = "believes-anything"
what = "checks nothing"
rejected_by = "wrong"

[[weak_tests]]
name = "accepted"
what = "a weak test that this catalogue's programs cannot tell: its row must fail"
rejected_by = "slow"
`,
		"solutions/task10-integration-test/main_test.go":            answerTest,
		"solutions/task10-integration-test/variants/slow.patch":     patchOf(t, "main.go", answerProgram, strings.Replace(answerProgram, "return 0", "return 300 * time.Millisecond", 1)),
		"solutions/task10-integration-test/bugs/wrong.patch":        patchOf(t, "main.go", answerProgram, strings.Replace(answerProgram, "return 42", "return 41", 1)),
		"solutions/task10-integration-test/weak-tests/sleeps.patch": patchOf(t, "main_test.go", answerTest, sleepy),
		"solutions/task10-integration-test/weak-tests/believes-anything.patch": patchOf(t, "main_test.go", answerTest,
			"package main\n\nimport \"testing\"\n\nfunc TestAnswer(t *testing.T) { t.Log(answer()) }\n"),
		"solutions/task10-integration-test/weak-tests/accepted.patch": patchOf(t, "main_test.go", answerTest,
			strings.Replace(answerTest, "5 * time.Second", "4 * time.Second", 1)),
	}
	ws := labfixture.Lab(t, files)
	var out strings.Builder
	ok := verify(context.Background(), ws, nil, verifyOptions{jobs: 4}, &out)
	report := out.String()
	for _, want := range []string{
		"ok    task10-integration-test  reference ",
		"ok    task10-integration-test  variant slow ",
		"ok    task10-integration-test  bug wrong ",
		"ok    task10-integration-test  weak test sleeps ",
		"ok    task10-integration-test  weak test believes-anything ",
		"FAIL  task10-integration-test  weak test accepted ",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("verify's report has no row %q:\n%s", want, report)
		}
	}
	if line := lineWith(report, "weak test sleeps"); !strings.Contains(line, "correct too") {
		t.Errorf("the weak test's row does not say why it is rejected: %q", line)
	}
	if line := lineWith(report, "weak test believes-anything"); !strings.Contains(line, "answers 41") {
		t.Errorf("the weak test's row does not say which broken program it passed: %q", line)
	}
	if ok {
		t.Errorf("verify passed with a weak test that the grading accepts:\n%s", report)
	}
}

// patchOf is the unified diff of file rel from old to new, as the
// catalogue's patches are made (diff -u).
func patchOf(t *testing.T, rel, old, new string) string {
	t.Helper()
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	if err := os.WriteFile(a, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b, []byte(new), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("diff", "-u", "--label", "a/"+rel, "--label", "b/"+rel, a, b).Output()
	if len(out) == 0 {
		t.Fatalf("diff of %s: %v", rel, err)
	}
	return string(out)
}
