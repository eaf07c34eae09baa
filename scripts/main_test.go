package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gracefulshutdown.lab/scripts/internal/workspace"
)

func TestCriterionReadsLikeWords(t *testing.T) {
	for in, want := range map[string]string{
		"TestInFlightRequestFinishes":                "in flight request finishes",
		"TestBadFlagsExitTwo":                        "bad flags exit two",
		"TestHTTPServerDrains":                       "HTTP server drains",
		"TestReadyzIs503":                            "readyz is 503",
		"TestLongPollAnswers503AtTheSignal":          "long poll answers 503 at the signal",
		"TestSIGUSR1TogglesDebugLogging":             "SIGUSR1 toggles debug logging",
		"TestPreStopFlipsReadinessAtOnce":            "preStop flips readiness at once",
		"TestForcedHTTPDrainStillWaitsForWebSockets": "forced HTTP drain still waits for WebSockets",
		"TestExitsWithin_Deadline":                   "exits within deadline",
		"lifecycle.TestPanicIsReported":              "lifecycle: panic is reported",
	} {
		if got := criterion(in); got != want {
			t.Errorf("criterion(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseInterleavedFlags(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	level := fs.Int("level", 1, "")
	solution := fs.Bool("solution", false, "")
	got, err := parseInterleaved(fs, []string{"3", "--level", "2", "--solution", "--", "-delay", "10s"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"3", "-delay", "10s"}; !slices.Equal(got, want) || *level != 2 || !*solution {
		t.Errorf("positional %q level %d solution %v; want %q, 2, true", got, *level, *solution, want)
	}
}

func TestUsageErrorsExitTwo(t *testing.T) {
	for _, args := range [][]string{{"frobnicate"}, {"hint"}, {"hint", "21"}, {"check", "one"}, {"list", "extra"}, {"hint", "1", "--level"}} {
		var stdout, stderr bytes.Buffer
		if code := lab(context.Background(), args, &stdout, &stderr); code != 2 {
			t.Errorf("lab %q exited %d, want 2 (stderr: %s)", args, code, stderr.String())
		}
		if lines := strings.Count(strings.TrimSpace(stderr.String()), "\n"); lines > 1 {
			t.Errorf("lab %q explained itself in %d lines; keep it short:\n%s", args, lines+1, stderr.String())
		}
	}
}

// TestEveryTaskMetadataIsConsistent loads each task of this workspace and
// applies each catalogued bug, without running a test: the cheap half of
// verify, for the tool's own suite. It must hold on any learner's copy too
// (go test work at the root runs it), so it checks nothing a learner
// changes by solving a task: the starter's TODO marker is verify's to
// check.
func TestEveryTaskMetadataIsConsistent(t *testing.T) {
	root, err := workspace.FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	ws, err := workspace.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(ws.Present()) == 0 {
		t.Fatal("no task found in the workspace")
	}
	for _, task := range ws.Present() {
		m := task.Meta
		if m.Number != task.Number {
			t.Errorf("%s: task.toml says number %d", task.Dir, m.Number)
		}
		if len(m.Hints) != 3 {
			t.Errorf("%s: %d hint levels, want 3", task.Dir, len(m.Hints))
		}
		if len(m.Bugs) < 2 {
			t.Errorf("%s: %d catalogued bugs, want at least 2", task.Dir, len(m.Bugs))
		}
		if len(m.StarterFails) == 0 {
			t.Errorf("%s: starter_fails is empty: the starter must fail something", task.Dir)
		}
		for _, f := range m.Files {
			if _, err := os.Stat(filepath.Join(task.SolPath, f)); err != nil {
				t.Errorf("%s: no reference for %s: %v", task.Dir, f, err)
			}
		}
		for _, b := range m.Bugs {
			if _, err := task.BugFiles(b); err != nil {
				t.Errorf("%s: bug %s: %v", task.Dir, b.Name, err)
			}
		}
		ref, err := task.ReferenceFiles()
		if err != nil {
			t.Fatalf("%s: %v", task.Dir, err)
		}
		for _, v := range m.Variants {
			if _, err := task.WithVariant(v, ref); err != nil {
				t.Errorf("%s: variant %s: %v", task.Dir, v.Name, err)
			}
		}
		for _, w := range m.WeakTests {
			weak, err := task.WithWeakTest(w, ref)
			if err == nil {
				_, err = task.WithProgram(w.RejectedBy, weak)
			}
			if err != nil {
				t.Errorf("%s: weak test %s: %v", task.Dir, w.Name, err)
			}
		}
		if m.Kind == "test" {
			// The reference of a test task carries a copy of the program so
			// that its folder builds on its own; it must be the same program.
			prog, _ := os.ReadFile(filepath.Join(task.Path, "main.go"))
			if copy, err := os.ReadFile(filepath.Join(task.SolPath, "main.go")); err == nil && !bytes.Equal(copy, prog) {
				t.Errorf("%s: solutions/%s/main.go differs from the task's main.go; copy it again", task.Dir, task.Dir)
			}
		}
	}
}

func TestRerunCommandFindsTheTestsPackage(t *testing.T) {
	for test, want := range map[string]string{
		"TestInFlightRequestFinishes":           "cd task01-ctrlc && go test -race -v -run '^TestInFlightRequestFinishes$' .",
		"lifecycle.TestPhasesRunInReverseOrder": "cd task01-ctrlc && go test -race -v -run '^TestPhasesRunInReverseOrder$' ./lifecycle",
	} {
		if got := rerunCommand("task01-ctrlc", test); got != want {
			t.Errorf("rerunCommand(%q) = %q, want %q", test, got, want)
		}
	}
}
