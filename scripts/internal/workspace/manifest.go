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

// ManifestFile records the git blob id of every file of every task as the
// lab ships it: the files a learner does not edit, and the starters of
// those they do. With it, check and list can tell when a learner's copy of
// a test has changed (a deleted criterion, a t.Skip) and run the lab's copy
// instead, which git still has; and reset can give back a starter.
const ManifestFile = "scripts/labfiles.txt"

// Manifest maps a file's path from the workspace root (task01-ctrlc/
// main_test.go) to what the lab ships there.
type Manifest map[string]Entry

// Entry is one shipped file.
type Entry struct {
	ID      string // its git blob id
	Starter bool   // a file the learner edits, as it ships; else the lab's own
}

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
		fields := strings.Fields(line)
		if len(fields) < 2 || len(fields) > 3 || len(fields[0]) != 40 || (len(fields) == 3 && fields[2] != "starter") {
			return nil, fmt.Errorf("%s: bad line %q", ManifestFile, line)
		}
		m[fields[1]] = Entry{ID: fields[0], Starter: len(fields) == 3}
	}
	return m, sc.Err()
}

// BuildManifest records the files of every present task as they are now:
// the lab's own, and the starters.
func (ws *Workspace) BuildManifest() (Manifest, error) {
	m := Manifest{}
	for _, t := range ws.Present() {
		files, err := t.LabFiles()
		if err != nil {
			return nil, err
		}
		for rel, content := range files {
			m[t.Dir+"/"+rel] = Entry{ID: BlobID(content)}
		}
		for _, rel := range t.Meta.Files {
			content, err := ReadFile(filepath.Join(t.Path, rel))
			if err != nil {
				return nil, err
			}
			m[t.Dir+"/"+rel] = Entry{ID: BlobID(content), Starter: true}
		}
	}
	return m, nil
}

// WriteManifest saves m as the workspace's manifest.
func (ws *Workspace) WriteManifest(m Manifest) error {
	var b strings.Builder
	b.WriteString("# Every file of each task as the lab ships it, as git blob ids: the lab's own\n")
	b.WriteString("# files, and the starters of the files a learner edits (marked starter).\n")
	b.WriteString("# Made by `go tool lab manifest`; `verify` checks it is current.\n")
	for _, path := range slices.Sorted(maps.Keys(m)) {
		e := m[path]
		if e.Starter {
			fmt.Fprintf(&b, "%s %s starter\n", e.ID, path)
			continue
		}
		fmt.Fprintf(&b, "%s %s\n", e.ID, path)
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
		if !ok || m[path].Starter {
			continue
		}
		d := Drift{Rel: rel, BlobID: m[path].ID}
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

// Starter is the starter of file rel of task t as the lab ships it, from
// git, or an error that says why it cannot be had.
func (ws *Workspace) Starter(t *Task, m Manifest, rel string) ([]byte, error) {
	e, ok := m[t.Dir+"/"+rel]
	if !ok || !e.Starter {
		return nil, fmt.Errorf("%s does not record the starter of %s/%s", ManifestFile, t.Dir, rel)
	}
	content := ws.gitBlob(e.ID)
	if content == nil {
		return nil, fmt.Errorf("this copy's git history does not have the starter of %s/%s (blob %s): is it a git clone of the lab?", t.Dir, rel, e.ID[:12])
	}
	return content, nil
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
