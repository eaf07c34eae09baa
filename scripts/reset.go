package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"gracefulshutdown.lab/scripts/internal/workspace"
)

// backupDir is where reset keeps a learner's files before it restores a
// starter, one folder per reset, under the workspace root. .gitignore
// leaves it out of the learner's commits.
const backupDir = ".lab-backups"

// reset restores the starter of task n as the lab ships it, after keeping a
// copy of the learner's files in a new folder, which it names. Nothing is
// overwritten until every file has been copied and every starter has been
// found: reset never loses work.
func reset(_ context.Context, ws *workspace.Workspace, n int, w io.Writer) error {
	t, err := ws.Task(n)
	if err != nil {
		return err
	}
	m, err := ws.ReadManifest()
	if err != nil {
		return err
	}
	starters := map[string][]byte{}
	for _, rel := range t.Meta.Files {
		content, err := ws.Starter(t, m, rel)
		if err != nil {
			return fmt.Errorf("cannot reset task %d, nothing was changed: %w", n, err)
		}
		starters[rel] = content
	}

	keep := filepath.Join(ws.Root, backupDir, fmt.Sprintf("%s-%s", t.Dir, time.Now().Format("20060102-150405.000")))
	for _, rel := range t.Meta.Files {
		mine, err := os.ReadFile(filepath.Join(t.Path, rel))
		if os.IsNotExist(err) {
			continue // nothing of the learner's to keep
		}
		if err != nil {
			return fmt.Errorf("cannot reset task %d, nothing was changed: %w", n, err)
		}
		dst := filepath.Join(keep, rel)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return fmt.Errorf("cannot keep a copy of your files, nothing was changed: %w", err)
		}
		if err := os.WriteFile(dst, mine, 0o644); err != nil {
			return fmt.Errorf("cannot keep a copy of your files, nothing was changed: %w", err)
		}
	}

	for _, rel := range t.Meta.Files {
		if err := os.WriteFile(filepath.Join(t.Path, rel), starters[rel], 0o644); err != nil {
			return fmt.Errorf("restoring %s/%s: %w (your files are kept in %s)", t.Dir, rel, err, relTo(ws.Root, keep))
		}
	}
	fmt.Fprintf(w, "Task %d is back to its starter: %s.\n", n, edits(t))
	fmt.Fprintf(w, "Your files are kept in %s/ (copy them back to undo).\n", relTo(ws.Root, keep))
	return nil
}

// relTo is path relative to root, for messages, or path itself.
func relTo(root, path string) string {
	if rel, err := filepath.Rel(root, path); err == nil {
		return rel
	}
	return path
}
