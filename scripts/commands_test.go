package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gracefulshutdown.lab/scripts/internal/gotest"
)

func TestResetKeepsTheLearnersFilesThenRestoresTheStarter(t *testing.T) {
	ws := tinyLab(t)
	mine := strings.Replace(tinyProgram, "return 42", "return 6 * 7", 1)
	edit(t, ws, "main.go", mine)

	var out bytes.Buffer
	if err := reset(context.Background(), ws, 1, &out); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(filepath.Join(ws.Tasks[0].Path, "main.go"))
	if string(got) != tinyProgram {
		t.Errorf("after reset, main.go is not the starter as shipped")
	}
	kept, _ := filepath.Glob(filepath.Join(ws.Root, backupDir, "task01-ctrlc-*", "main.go"))
	if len(kept) != 1 {
		t.Fatalf("kept copies %v, want one", kept)
	}
	if b, _ := os.ReadFile(kept[0]); string(b) != mine {
		t.Errorf("the kept copy is not the learner's main.go")
	}
	if rel := relTo(ws.Root, filepath.Dir(kept[0])); !strings.Contains(out.String(), rel) {
		t.Errorf("reset said %q; want it to name where the learner's files are: %s", out.String(), rel)
	}
}

func TestResetWithoutGitHistoryChangesNothing(t *testing.T) {
	ws := tinyLab(t)
	if err := os.RemoveAll(filepath.Join(ws.Root, ".git")); err != nil {
		t.Fatal(err)
	}
	mine := strings.Replace(tinyProgram, "return 42", "return 6 * 7", 1)
	edit(t, ws, "main.go", mine)
	err := reset(context.Background(), ws, 1, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "nothing was changed") {
		t.Fatalf("reset without git = %v, want an error saying nothing was changed", err)
	}
	if got, _ := os.ReadFile(filepath.Join(ws.Tasks[0].Path, "main.go")); string(got) != mine {
		t.Error("reset that could not find the starter changed the learner's file")
	}
}

func TestDiffDeclinesUntilTheTaskPassesThenShowsTheReference(t *testing.T) {
	ws := tinyLab(t)
	edit(t, ws, "main.go", strings.Replace(tinyProgram, "return 42", "return 41", 1))
	var out bytes.Buffer
	ok, err := diffTask(context.Background(), ws, 1, 1, &out)
	if err != nil || ok {
		t.Fatalf("diff of a failing task = %v, %v; want it declined", ok, err)
	}
	if !strings.Contains(out.String(), "hint 1") || strings.Contains(out.String(), "+++") {
		t.Errorf("the decline said:\n%s\nwant a pointer to hint and no diff", out.String())
	}

	edit(t, ws, "main.go", tinyProgram)
	out.Reset()
	ok, err = diffTask(context.Background(), ws, 1, 1, &out)
	if err != nil || !ok {
		t.Fatalf("diff of a passing task = %v, %v\n%s", ok, err, out.String())
	}
	for _, want := range []string{"--- yours/task01-ctrlc/main.go", "+++ reference/solutions/task01-ctrlc/main.go", "+// The reference says a little more."} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the diff has no %q:\n%s", want, out.String())
		}
	}
}

func TestTimelinePlaysTheDemoAndDrawsAnSVG(t *testing.T) {
	ws := tinyLab(t)
	svg := filepath.Join(t.TempDir(), "t.svg")
	var out, errs bytes.Buffer
	if err := timelineTask(context.Background(), ws, 1, runOptions{}, svg, &out, &errs); err != nil {
		t.Fatalf("timeline: %v\n%s", err, errs.String())
	}
	for _, want := range []string{"GET /", "200 hello 42", "shutdown started", "↑ SIGTERM", "exit code 0"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the timeline has no %q:\n%s", want, out.String())
		}
	}
	f, err := os.Open(svg)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var doc struct {
		XMLName xml.Name
		Texts   []string `xml:"text"`
	}
	if err := xml.NewDecoder(f).Decode(&doc); err != nil || doc.XMLName.Local != "svg" {
		t.Fatalf("the SVG does not parse as an svg document: %v (root %q)", err, doc.XMLName.Local)
	}
	if !strings.Contains(strings.Join(doc.Texts, "|"), "SIGTERM") {
		t.Errorf("the SVG's texts %q do not mark the signal", doc.Texts)
	}
}

func TestWatchSeesARealSave(t *testing.T) {
	for name, open := range map[string]func(string) fileWatch{
		"notifications": func(dir string) fileWatch {
			w, err := notifyWatch(dir)
			if err != nil {
				t.Fatalf("no file-system notifications here: %v", err)
			}
			return w
		},
		"polling": func(dir string) fileWatch { return newPollWatch(dir) },
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.MkdirAll(filepath.Join(dir, "lifecycle"), 0o755); err != nil {
				t.Fatal(err)
			}
			w := open(dir)
			defer w.Close()
			saved := make(chan error, 1)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			go func() { saved <- w.Next(ctx) }()
			// A save in a sub-package: the watch covers the task's tree.
			if err := os.WriteFile(filepath.Join(dir, "lifecycle", "lifecycle.go"), []byte("package lifecycle\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := <-saved; err != nil {
				t.Fatalf("%s: no change seen after a save: %v", w.How(), err)
			}
		})
	}
}

func TestWatchIgnoresEditorDroppings(t *testing.T) {
	for path, want := range map[string]bool{
		"main.go": true, "lifecycle/lifecycle.go": true, "go.mod": true, "deploy/deployment.yaml": true,
		".main.go.swp": false, "main.go~": false, "notes.txt": false,
	} {
		if got := relevant(path); got != want {
			t.Errorf("relevant(%q) = %v, want %v", path, got, want)
		}
	}
}

// prepare compiles every task's test dependencies, so that the first
// check after it finds nothing left to compile.
func TestPrepareLeavesNothingToCompile(t *testing.T) {
	ws := tinyLab(t)
	var out bytes.Buffer
	if err := prepare(context.Background(), ws, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "lab: ready in") {
		t.Errorf("prepare said %q; want it to say it is ready, and in how long", out.String())
	}
	stale, err := gotest.Warm(context.Background(), ws.Root, []string{ws.Tasks[0].Dir}, func(int, int, string) {})
	if err != nil || stale != 0 {
		t.Errorf("after prepare, a warm-up compiled %d packages (%v); want none", stale, err)
	}
}
