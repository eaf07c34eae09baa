package workspace_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gracefulshutdown.lab/scripts/internal/labfixture"
	"gracefulshutdown.lab/scripts/internal/workspace"
)

func TestBlobIDIsGits(t *testing.T) {
	content := []byte("package main\n\nfunc TestX(t *testing.T) {}\n")
	cmd := exec.Command("git", "hash-object", "--stdin")
	cmd.Stdin = strings.NewReader(string(content))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git hash-object: %v", err)
	}
	if got, want := workspace.BlobID(content), strings.TrimSpace(string(out)); got != want {
		t.Errorf("BlobID = %s, git says %s", got, want)
	}
}

// labClone is a one-task lab, as a learner's clone of it would be.
func labClone(t *testing.T) (*workspace.Workspace, *workspace.Task) {
	t.Helper()
	ws := labfixture.Lab(t, map[string]string{
		"go.work":                   "go 1.26.0\n",
		"task01-ctrlc/task.toml":    "number = 1\nfiles = [\"main.go\"]\n",
		"task01-ctrlc/main.go":      "package main\n\n// TODO(task01)\nfunc main() {}\n",
		"task01-ctrlc/main_test.go": "package main\n\nimport \"testing\"\n\nfunc TestDrains(t *testing.T) { t.Fatal(\"not yet\") }\n",
	})
	return ws, ws.Tasks[0]
}

func TestDriftsFindAChangedTestAndGitGivesItBack(t *testing.T) {
	ws, task := labClone(t)
	m, err := ws.ReadManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 2 || m["task01-ctrlc/main_test.go"].Starter || !m["task01-ctrlc/main.go"].Starter {
		t.Fatalf("manifest = %v, want main_test.go as the lab's and main.go as a starter", m)
	}
	if drifts, err := ws.Drifts(task, m); err != nil || len(drifts) != 0 {
		t.Fatalf("a fresh clone has drifts %v (err %v), want none", drifts, err)
	}

	testFile := filepath.Join(task.Path, "main_test.go")
	lab, _ := os.ReadFile(testFile)
	// The learner's way out: the failing criterion, skipped.
	if err := os.WriteFile(testFile, []byte("package main\n\nimport \"testing\"\n\nfunc TestDrains(t *testing.T) { t.Skip() }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	drifts, err := ws.Drifts(task, m)
	if err != nil || len(drifts) != 1 {
		t.Fatalf("drifts = %v (err %v), want the changed main_test.go", drifts, err)
	}
	if d := drifts[0]; d.Rel != "main_test.go" || d.Missing || string(d.Lab) != string(lab) {
		t.Errorf("drift = %+v, want main_test.go, changed, with the lab's copy from git", d)
	}

	if err := os.Remove(testFile); err != nil {
		t.Fatal(err)
	}
	drifts, _ = ws.Drifts(task, m)
	if len(drifts) != 1 || !drifts[0].Missing || string(drifts[0].Lab) != string(lab) {
		t.Errorf("after deleting the test: drifts = %+v, want it missing, with the lab's copy", drifts)
	}
}

func TestGitCommitSaysWhenTheCopyHasChanges(t *testing.T) {
	ws, task := labClone(t)
	clean := workspace.GitCommit(ws.Root)
	if len(clean) != 40 {
		t.Fatalf("GitCommit of a clean clone = %q, want a commit id", clean)
	}
	if err := os.WriteFile(filepath.Join(task.Path, "main.go"), []byte("package main\n\nfunc main() {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := workspace.GitCommit(ws.Root); got != clean+"+changes" {
		t.Errorf("GitCommit after an edit = %q, want %q", got, clean+"+changes")
	}
	if got := workspace.GitCommit(t.TempDir()); got != "" {
		t.Errorf("GitCommit outside git = %q, want empty", got)
	}
}

func TestStarterComesBackFromGit(t *testing.T) {
	ws, task := labClone(t)
	m, err := ws.ReadManifest()
	if err != nil {
		t.Fatal(err)
	}
	shipped, _ := os.ReadFile(filepath.Join(task.Path, "main.go"))
	if err := os.WriteFile(filepath.Join(task.Path, "main.go"), []byte("package main\n\nfunc main() { /* solved */ }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := ws.Starter(task, m, "main.go")
	if err != nil || string(got) != string(shipped) {
		t.Errorf("Starter = %q, %v; want the shipped main.go", got, err)
	}
	if _, err := ws.Starter(task, m, "main_test.go"); err == nil {
		t.Error("Starter of a lab file succeeded; only the learner's files have starters")
	}
}
