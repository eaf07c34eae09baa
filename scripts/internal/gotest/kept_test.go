package gotest

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A kept binary is only worth keeping if a change can never be missed: each
// run must test the files as they are now, swapped in by the overlay or
// saved in the folder, including a deletion of a sub-package's tests, with
// the binaries of earlier versions in the store.
func TestAKeptRunTestsTheFilesAsTheyAreNow(t *testing.T) {
	dir, files := t.TempDir(), t.TempDir()
	write := func(root, name, content string) string {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write(dir, "go.mod", "module kept\n\ngo 1.26\n")
	write(dir, "answer.go", "package kept\n\nconst answer = 42\n")
	write(dir, "answer_test.go", `package kept

import "testing"

func TestAnswer(t *testing.T) {
	if answer != 42 {
		t.Errorf("answer = %d, want 42", answer)
	}
}
`)
	write(dir, "sub/sub_test.go", "package sub\n\nimport \"testing\"\n\nfunc TestSub(t *testing.T) {}\n")
	t.Setenv("GOWORK", "off")
	t.Setenv("GOFLAGS", "")
	keep := t.TempDir()
	// Each overlay in a folder of its own, as each of verify's proofs has.
	overlay := func(replace map[string]string) string {
		b, err := json.Marshal(map[string]any{"Replace": replace})
		if err != nil {
			t.Fatal(err)
		}
		return write(t.TempDir(), "overlay.json", string(b))
	}
	exec := func(overlayPath string) *Run {
		t.Helper()
		run, err := Invocation{Dir: dir, Overlay: overlayPath, Keep: keep, Limit: 2 * time.Minute}.Exec(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if run.BuildFailed || run.TimedOut {
			t.Fatalf("the run did not complete: %s", run.BuildOutput)
		}
		return run
	}

	if run := exec(""); !run.OK() || run.Test("sub.TestSub") == nil {
		t.Fatalf("the files as they are: tests %v, want TestAnswer and sub.TestSub passed", run.Tests)
	}
	wrong := overlay(map[string]string{filepath.Join(dir, "answer.go"): write(files, "answer.go", "package kept\n\nconst answer = 41\n")})
	if run := exec(wrong); run.Test("TestAnswer") == nil || run.Test("TestAnswer").Status != Fail {
		t.Errorf("with answer = 41 swapped in, the kept binary was run as it was: tests %v", run.Tests)
	}
	noSub := overlay(map[string]string{filepath.Join(dir, "sub", "sub_test.go"): ""})
	if run := exec(noSub); run.Test("sub.TestSub") != nil || !run.OK() {
		t.Errorf("with sub's test deleted, its kept binary still ran: tests %v", run.Tests)
	}
	if run := exec(""); !run.OK() || run.Test("sub.TestSub") == nil {
		t.Errorf("back to the files as they are: tests %v, want both passed", run.Tests)
	}
	// The same swap again, from another folder.
	wrong = overlay(map[string]string{filepath.Join(dir, "answer.go"): write(t.TempDir(), "answer.go", "package kept\n\nconst answer = 41\n")})
	if run := exec(wrong); run.Test("TestAnswer") == nil || run.Test("TestAnswer").Status != Fail {
		t.Errorf("with answer = 41 swapped in again, tests %v", run.Tests)
	}
	// Four versions of the inputs so far, the first one twice: three
	// builds in the store, the first one used again.
	if n := builds(t, keep); n != 3 {
		t.Errorf("the store holds %d builds after three versions of the files, want 3", n)
	}
	write(dir, "answer.go", "package kept\n\nconst answer = 43\n")
	if run := exec(""); run.Test("TestAnswer") == nil || run.Test("TestAnswer").Status != Fail {
		t.Errorf("with answer = 43 saved in the folder, the kept binary was run as it was: tests %v", run.Tests)
	}
}

// builds counts the builds in a store.
func builds(t *testing.T, store string) int {
	t.Helper()
	entries, err := os.ReadDir(store)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if isKey(e.Name()) {
			n++
		}
	}
	return n
}

func TestTrimKeptRemovesWhatNoRunUsedLately(t *testing.T) {
	store := t.TempDir()
	old := time.Now().Add(-48 * time.Hour)
	mkdir := func(name string, mtime time.Time) string {
		p := filepath.Join(store, name)
		if err := os.MkdirAll(filepath.Join(p, "bin"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
		return p
	}
	key := func(c byte) string { return strings.Repeat(string(c), 64) }
	unused := mkdir(key('a'), old)
	used := mkdir(key('b'), time.Now())
	cutOff := mkdir(buildingPrefix+"123", old)
	building := mkdir(buildingPrefix+"456", time.Now())
	notOurs := mkdir("notes", old)
	if err := TrimKept(store, 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]bool{unused: false, used: true, cutOff: false, building: true, notOurs: true} {
		if _, err := os.Stat(path); (err == nil) != want {
			t.Errorf("%s: kept = %v, want %v", filepath.Base(path), err == nil, want)
		}
	}
}
