// Package overlay builds what the lab tool swaps into a task folder for one
// go test: a set of files (a reference, a bug, the lab's own tests) and the
// go build -overlay file that points the task's paths at them.
package overlay

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/bluekeyes/go-gitdiff/gitdiff"
)

// Files is a set of file contents by path relative to the task folder. A
// file whose content is Deleted is left out of the build.
type Files map[string][]byte

// Deleted marks a file of Files as deleted: go build -overlay takes an
// empty replacement path to mean that the file does not exist.
var Deleted []byte = nil

// Clone is a copy of fs that can be changed without changing fs.
func (fs Files) Clone() Files {
	out := Files{}
	for k, v := range fs {
		out[k] = v
	}
	return out
}

// ApplyPatch applies a unified diff to the files base returns and adds the
// results to a copy of into.
func ApplyPatch(patch []byte, base func(rel string) ([]byte, error), into Files) (Files, error) {
	diffs, _, err := gitdiff.Parse(bytes.NewReader(patch))
	if err != nil {
		return nil, fmt.Errorf("parse patch: %w", err)
	}
	if len(diffs) == 0 {
		return nil, fmt.Errorf("the patch changes no file")
	}
	out := into.Clone()
	for _, d := range diffs {
		rel := stripPrefix(d.OldName)
		if d.IsNew || d.IsDelete || d.IsRename || rel == "" || rel != stripPrefix(d.NewName) {
			return nil, fmt.Errorf("patch of %q: only changes to existing files are supported", d.OldName)
		}
		src, err := base(rel)
		if err != nil {
			return nil, err
		}
		var dst bytes.Buffer
		if err := gitdiff.Apply(&dst, bytes.NewReader(src), d); err != nil {
			return nil, fmt.Errorf("patch of %s does not apply (has the reference changed? remake the patch): %w", rel, err)
		}
		out[rel] = dst.Bytes()
	}
	return out, nil
}

// stripPrefix drops the a/ or b/ that diff labels carry.
func stripPrefix(name string) string {
	for _, p := range []string{"a/", "b/"} {
		if rest, ok := strings.CutPrefix(name, p); ok {
			return rest
		}
	}
	return name
}

// Overlay is a go build -overlay file: each task file named in Replace is
// compiled from the other path instead (or added, if it does not exist).
// Paths are absolute, as the go command requires.
type Overlay struct {
	Replace map[string]string
}

// Write writes fs to dir and an overlay that swaps them in for the task
// folder's own files; it returns the overlay's path.
func Write(dir, taskPath string, fs Files) (string, error) {
	ov := Overlay{Replace: map[string]string{}}
	for rel, content := range fs {
		if content == nil {
			ov.Replace[filepath.Join(taskPath, rel)] = ""
			continue
		}
		dst := filepath.Join(dir, "files", rel)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(dst, content, 0o644); err != nil {
			return "", err
		}
		ov.Replace[filepath.Join(taskPath, rel)] = dst
	}
	return ov.Save(dir)
}

// Save writes the overlay file into dir and returns its path.
func (ov Overlay) Save(dir string) (string, error) {
	b, err := json.MarshalIndent(ov, "", "  ")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "overlay.json")
	return path, os.WriteFile(path, b, 0o644)
}
