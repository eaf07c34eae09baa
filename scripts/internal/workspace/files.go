package workspace

import (
	"io/fs"
	"path/filepath"
	"slices"
	"strings"

	"gracefulshutdown.lab/scripts/internal/overlay"
)

// ReferenceFiles is the reference answer: the solution's copy of each file
// the learner edits.
func (t *Task) ReferenceFiles() (overlay.Files, error) {
	out := overlay.Files{}
	for _, rel := range t.Meta.Files {
		b, err := ReadFile(filepath.Join(t.SolPath, rel))
		if err != nil {
			return nil, err
		}
		out[rel] = b
	}
	return out, nil
}

// ReferenceOverlay points the task's files straight at the solution's.
func (t *Task) ReferenceOverlay(dir string) (string, error) {
	ov := overlay.Overlay{Replace: map[string]string{}}
	for _, rel := range t.Meta.Files {
		ov.Replace[filepath.Join(t.Path, rel)] = filepath.Join(t.SolPath, rel)
	}
	return ov.Save(dir)
}

// BugFiles is the reference answer with bug b's patch applied.
func (t *Task) BugFiles(b Bug) (overlay.Files, error) {
	ref, err := t.ReferenceFiles()
	if err != nil {
		return nil, err
	}
	return t.WithBug(b, ref)
}

// WithBug applies bug b's patch on top of base. A file that base holds is
// patched as base has it; any other as the task folder has it (a broken
// program under a learner-written test patches the task's own main.go).
func (t *Task) WithBug(b Bug, base overlay.Files) (overlay.Files, error) {
	return t.withPatch(t.BugPatch(b), base)
}

// WithVariant applies variant v's patch on top of base, as WithBug does.
func (t *Task) WithVariant(v Variant, base overlay.Files) (overlay.Files, error) {
	return t.withPatch(t.VariantPatch(v), base)
}

// WithWeakTest applies weak test w's patch on top of base, as WithBug does.
func (t *Task) WithWeakTest(w WeakTest, base overlay.Files) (overlay.Files, error) {
	return t.withPatch(t.WeakTestPatch(w), base)
}

// WithProgram applies the patch of the program that name names (a
// variant's or a bug's) on top of base; "correct" is base itself.
func (t *Task) WithProgram(name string, base overlay.Files) (overlay.Files, error) {
	if v, ok := t.Meta.Variant(name); ok {
		return t.WithVariant(v, base)
	}
	if b, ok := t.Meta.Bug(name); ok {
		return t.WithBug(b, base)
	}
	return base.Clone(), nil
}

func (t *Task) withPatch(path string, base overlay.Files) (overlay.Files, error) {
	patch, err := ReadFile(path)
	if err != nil {
		return nil, err
	}
	return overlay.ApplyPatch(patch, func(rel string) ([]byte, error) {
		if content, ok := base[rel]; ok {
			return content, nil
		}
		return ReadFile(filepath.Join(t.Path, rel))
	}, base)
}

// LabOwnedFiles lists, relative to the task's folder, every file of the
// task that the build reads and a learner does not edit: the tests above
// all, in every package, and what they embed (a manifest, say). The task's
// README and task.toml are documents, not program; go.mod and go.sum
// cannot be swapped by an overlay.
func (t *Task) LabOwnedFiles() ([]string, error) {
	var rels []string
	err := filepath.WalkDir(t.Path, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != t.Path && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		switch d.Name() {
		case "README.md", "task.toml", "go.mod", "go.sum":
			if filepath.Dir(path) == t.Path {
				return nil
			}
		}
		if strings.HasPrefix(d.Name(), ".") {
			return nil
		}
		rel, err := filepath.Rel(t.Path, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if !slices.Contains(t.Meta.Files, rel) {
			rels = append(rels, rel)
		}
		return nil
	})
	return rels, err
}

// WithoutLearnerTests is fs with the learner's tests deleted: what the
// lab's tests of a program+test task run with. (The learner's test may
// have a TestMain of its own, which would clash with the lab's.)
func (t *Task) WithoutLearnerTests(fs overlay.Files) overlay.Files {
	out := fs.Clone()
	if t.Meta.Kind == "program+test" {
		for _, rel := range t.Meta.TestFiles {
			out[rel] = overlay.Deleted
		}
	}
	return out
}

// WithoutLabTests is fs with the lab's own tests of the learner's test's
// package deleted: what a program+test task's learner test runs with, so
// that what it catches, it catches itself.
func (t *Task) WithoutLabTests(fs overlay.Files) (overlay.Files, error) {
	out := fs.Clone()
	if t.Meta.Kind != "program+test" {
		return out, nil
	}
	rels, err := t.LabOwnedFiles()
	if err != nil {
		return nil, err
	}
	dirs := map[string]bool{}
	for _, f := range t.Meta.TestFiles {
		dirs[filepath.Dir(f)] = true
	}
	for _, rel := range rels {
		if strings.HasSuffix(rel, "_test.go") && dirs[filepath.Dir(rel)] {
			out[rel] = overlay.Deleted
		}
	}
	return out, nil
}

// LabFiles is the content of every file of labTask that a learner does not
// edit, as the lab has it, by path relative to the task folder.
func (t *Task) LabFiles() (overlay.Files, error) {
	rels, err := t.LabOwnedFiles()
	if err != nil {
		return nil, err
	}
	out := overlay.Files{}
	for _, rel := range rels {
		b, err := ReadFile(filepath.Join(t.Path, rel))
		if err != nil {
			return nil, err
		}
		out[rel] = b
	}
	return out, nil
}
