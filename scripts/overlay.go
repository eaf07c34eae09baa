package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/bluekeyes/go-gitdiff/gitdiff"
)

// files is a set of file contents by path relative to the task folder.
type files map[string][]byte

// referenceFiles is the reference answer: the solution's copy of each file
// the learner edits.
func referenceFiles(t *Task) (files, error) {
	out := files{}
	for _, rel := range t.Meta.Files {
		b, err := readFile(filepath.Join(t.SolPath, rel))
		if err != nil {
			return nil, err
		}
		out[rel] = b
	}
	return out, nil
}

// bugFiles is the reference answer with bug b's patch applied.
func bugFiles(t *Task, b Bug) (files, error) {
	ref, err := referenceFiles(t)
	if err != nil {
		return nil, err
	}
	return withBug(t, b, ref)
}

// withBug applies bug b's patch on top of base. A file that base holds is
// patched as base has it; any other as the task folder has it (a broken
// program under a learner-written test patches the task's own main.go).
func withBug(t *Task, b Bug, base files) (files, error) {
	patch, err := readFile(t.bugPatch(b))
	if err != nil {
		return nil, err
	}
	return applyPatch(patch, func(rel string) ([]byte, error) {
		if content, ok := base[rel]; ok {
			return content, nil
		}
		return readFile(filepath.Join(t.Path, rel))
	}, base)
}

// applyPatch applies a unified diff to the files base returns and adds the
// results to (a copy of) into.
func applyPatch(patch []byte, base func(rel string) ([]byte, error), into files) (files, error) {
	diffs, _, err := gitdiff.Parse(bytes.NewReader(patch))
	if err != nil {
		return nil, fmt.Errorf("parse patch: %w", err)
	}
	if len(diffs) == 0 {
		return nil, fmt.Errorf("the patch changes no file")
	}
	out := files{}
	for k, v := range into {
		out[k] = v
	}
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

// overlay is a go build -overlay file: each task file named in Replace is
// compiled from the other path instead. Paths are absolute, as the go
// command requires.
type overlay struct {
	Replace map[string]string
}

// writeOverlay writes fs to dir and an overlay that swaps them in for the
// task folder's own files; it returns the overlay's path.
func writeOverlay(dir, taskPath string, fs files) (string, error) {
	ov := overlay{Replace: map[string]string{}}
	for rel, content := range fs {
		dst := filepath.Join(dir, "files", rel)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(dst, content, 0o644); err != nil {
			return "", err
		}
		ov.Replace[filepath.Join(taskPath, rel)] = dst
	}
	return writeOverlayFile(dir, ov)
}

// referenceOverlay points the task's files straight at the solution's.
func referenceOverlay(dir string, t *Task) (string, error) {
	ov := overlay{Replace: map[string]string{}}
	for _, rel := range t.Meta.Files {
		ov.Replace[filepath.Join(t.Path, rel)] = filepath.Join(t.SolPath, rel)
	}
	return writeOverlayFile(dir, ov)
}

func writeOverlayFile(dir string, ov overlay) (string, error) {
	b, err := json.MarshalIndent(ov, "", "  ")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "overlay.json")
	return path, os.WriteFile(path, b, 0o644)
}

// labOwnedFiles lists, relative to labTask's folder, every Go file of the
// task that a learner does not edit: the tests above all, in every package.
func labOwnedFiles(labTask *Task) ([]string, error) {
	var rels []string
	err := filepath.WalkDir(labTask.Path, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") {
			return err
		}
		rel, err := filepath.Rel(labTask.Path, path)
		if err != nil {
			return err
		}
		if !slices.Contains(labTask.Meta.Files, filepath.ToSlash(rel)) {
			rels = append(rels, rel)
		}
		return nil
	})
	return rels, err
}

// labFilesOverlay swaps the lab's own copy of every file of labTask that a
// learner does not edit into the learner's task t.
func labFilesOverlay(dir string, labTask, t *Task) (string, error) {
	rels, err := labOwnedFiles(labTask)
	if err != nil {
		return "", err
	}
	ov := overlay{Replace: map[string]string{}}
	for _, rel := range rels {
		ov.Replace[filepath.Join(t.Path, rel)] = filepath.Join(labTask.Path, rel)
	}
	return writeOverlayFile(dir, ov)
}
