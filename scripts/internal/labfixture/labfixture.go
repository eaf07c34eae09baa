// Package labfixture makes small labs for the lab tool's own tests: real
// folders in a real git repository, as a learner's clone would be.
package labfixture

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"gracefulshutdown.lab/scripts/internal/workspace"
)

// Lab writes files (by path from the lab's root) into a new folder, records
// the lab's manifest, commits it all to a new git repository, and returns
// the lab opened.
func Lab(t testing.TB, files map[string]string) *workspace.Workspace {
	t.Helper()
	root := t.TempDir()
	for rel, content := range files {
		path := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ws, err := workspace.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	m, err := ws.BuildManifest()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, filepath.Dir(workspace.ManifestFile)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := ws.WriteManifest(m); err != nil {
		t.Fatal(err)
	}
	Git(t, root, "init", "-q")
	Git(t, root, "add", ".")
	Git(t, root, "-c", "user.name=lab", "-c", "user.email=lab@example.com", "commit", "-q", "-m", "the lab")
	return ws
}

// Git runs git in dir and fails the test if it fails.
func Git(t testing.TB, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}
