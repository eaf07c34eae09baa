package workspace

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// ManifestFile records, for every file of every task that a learner does
// not edit, the git blob id of the lab's copy. With it, check and list can
// tell when a learner's copy of a test has changed (a deleted criterion, a
// t.Skip) and run the lab's copy instead, which git still has.
const ManifestFile = "scripts/labfiles.txt"

// Manifest maps a file's path from the workspace root (task01-ctrlc/
// main_test.go) to the git blob id of the lab's copy.
type Manifest map[string]string

// BlobID is the id git gives content as a blob: what `git hash-object`
// prints, and what `git cat-file blob` takes back.
func BlobID(content []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(content))
	h.Write(content)
	return hex.EncodeToString(h.Sum(nil))
}

// ReadManifest reads the workspace's manifest; a workspace without one has
// an empty manifest.
func (ws *Workspace) ReadManifest() (Manifest, error) {
	m := Manifest{}
	b, err := os.ReadFile(filepath.Join(ws.Root, ManifestFile))
	if errors.Is(err, os.ErrNotExist) {
		return m, nil
	}
	if err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, path, ok := strings.Cut(line, " ")
		if !ok || len(id) != 40 {
			return nil, fmt.Errorf("%s: bad line %q", ManifestFile, line)
		}
		m[strings.TrimSpace(path)] = id
	}
	return m, sc.Err()
}

// BuildManifest records the lab's files of every present task as they are
// now.
func (ws *Workspace) BuildManifest() (Manifest, error) {
	m := Manifest{}
	for _, t := range ws.Present() {
		files, err := t.LabFiles()
		if err != nil {
			return nil, err
		}
		for rel, content := range files {
			m[t.Dir+"/"+rel] = BlobID(content)
		}
	}
	return m, nil
}

// WriteManifest saves m as the workspace's manifest.
func (ws *Workspace) WriteManifest(m Manifest) error {
	var b strings.Builder
	b.WriteString("# The lab's own files of each task (everything a learner does not edit), as git\n")
	b.WriteString("# blob ids. Made by `go run ./scripts manifest`; `verify` checks it is current.\n")
	for _, path := range slices.Sorted(maps.Keys(m)) {
		fmt.Fprintf(&b, "%s %s\n", m[path], path)
	}
	return os.WriteFile(filepath.Join(ws.Root, ManifestFile), []byte(b.String()), 0o644)
}

// A Drift is a file of the lab's that differs in this copy of a task.
type Drift struct {
	Rel     string // relative to the task folder
	Missing bool   // deleted, rather than changed
	BlobID  string // the lab's copy, in git
	// Lab is the lab's copy, if git still has it; nil if not.
	Lab []byte
}

// Drifts lists the lab's files of task t that differ from the manifest m,
// with the lab's copy of each that git can give back.
func (ws *Workspace) Drifts(t *Task, m Manifest) ([]Drift, error) {
	var out []Drift
	prefix := t.Dir + "/"
	for _, path := range slices.Sorted(maps.Keys(m)) {
		rel, ok := strings.CutPrefix(path, prefix)
		if !ok {
			continue
		}
		d := Drift{Rel: rel, BlobID: m[path]}
		content, err := os.ReadFile(filepath.Join(t.Path, rel))
		switch {
		case errors.Is(err, os.ErrNotExist):
			d.Missing = true
		case err != nil:
			return nil, err
		case BlobID(content) == d.BlobID:
			continue
		}
		d.Lab = ws.gitBlob(d.BlobID)
		out = append(out, d)
	}
	return out, nil
}

// gitBlob is the content of blob id in the workspace's git history, or nil
// if there is no git, no history, or no such blob.
func (ws *Workspace) gitBlob(id string) []byte {
	cmd := exec.Command("git", "cat-file", "blob", id)
	cmd.Dir = ws.Root
	out, err := cmd.Output()
	if err != nil || BlobID(out) != id {
		return nil
	}
	return out
}

// GitCommit is the commit the workspace has checked out, with "+changes"
// when its files differ from it, or "" when it is not a git checkout.
func GitCommit(dir string) string {
	head, err := exec.Command("git", "-C", dir, "rev-parse", "HEAD").Output()
	if err != nil {
		return ""
	}
	commit := strings.TrimSpace(string(head))
	status, err := exec.Command("git", "-C", dir, "status", "--porcelain", "--untracked-files=no").Output()
	if err == nil && len(bytes.TrimSpace(status)) > 0 {
		commit += "+changes"
	}
	return commit
}
