// Package workspace reads a checkout of the lab: its tasks, each task's
// task.toml, and the files that make up a task's reference, its catalogued
// bugs and the lab's own copies of what a learner does not edit.
package workspace

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Catalogue is the twenty tasks in order; a task is present once its folder
// has a task.toml. The titles of absent tasks come from here.
var Catalogue = []struct{ dir, title string }{
	{"task01-ctrlc", "Make Ctrl+C exit cleanly"},
	{"task02-deadline", "Add a deadline"},
	{"task03-errserverclosed", "errors.Is(err, http.ErrServerClosed)"},
	{"task04-ticker", "Background ticker"},
	{"task05-readiness", "Readiness probe"},
	{"task06-errgroup", "Multiple subsystems with errgroup"},
	{"task07-dependency-order", "Dependency order"},
	{"task08-phase-machine", "Phase machine"},
	{"task09-handler-timeout", "Per-handler timeout"},
	{"task10-integration-test", "Integration test"},
	{"task11-websocket", "WebSocket registry"},
	{"task12-redis-lock", "Distributed lock release"},
	{"task13-kafka-flush", "Kafka producer flush"},
	{"task14-basecontext", "BaseContext and handler cancellation"},
	{"task15-phase-metrics", "Per-phase metrics"},
	{"task16-chaos-downstream", "Chaos test for slow downstream"},
	{"task17-prestop", "preStop HTTP hook"},
	{"task18-goleak", "Goroutine leak detection"},
	{"task19-tracing", "Tracing per phase"},
	{"task20-signal-storm", "Resilience under signal storm"},
}

// Task is one task folder of a workspace.
type Task struct {
	Number  int
	Dir     string // folder name, e.g. task01-ctrlc
	Title   string
	Present bool
	Meta    *Meta  // nil when absent
	Path    string // absolute path of the task folder
	SolPath string // absolute path of its reference answer
}

// Workspace is a checkout of the lab: the folder that holds go.work.
type Workspace struct {
	Root  string
	Tasks []*Task
}

// FindRoot walks up from dir to the folder that holds go.work.
func FindRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.work")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.work in %s or any folder above it: run the lab tool inside the lab's workspace", dir)
		}
	}
}

// Open reads the task list of the workspace at root.
func Open(root string) (*Workspace, error) {
	ws := &Workspace{Root: root}
	for i, c := range Catalogue {
		t := &Task{
			Number:  i + 1,
			Dir:     c.dir,
			Title:   c.title,
			Path:    filepath.Join(root, c.dir),
			SolPath: filepath.Join(root, "solutions", c.dir),
		}
		meta, err := loadMeta(filepath.Join(t.Path, "task.toml"))
		switch {
		case errors.Is(err, os.ErrNotExist):
		case err != nil:
			return nil, err
		default:
			t.Present, t.Meta = true, meta
			if meta.Title != "" {
				t.Title = meta.Title
			}
		}
		ws.Tasks = append(ws.Tasks, t)
	}
	return ws, nil
}

// Present is the tasks that exist in this workspace, in order.
func (ws *Workspace) Present() []*Task {
	var out []*Task
	for _, t := range ws.Tasks {
		if t.Present {
			out = append(out, t)
		}
	}
	return out
}

// Task returns task n, or an error a person can act on.
func (ws *Workspace) Task(n int) (*Task, error) {
	if n < 1 || n > len(ws.Tasks) {
		return nil, fmt.Errorf("there is no task %d: tasks are numbered 1 to %d", n, len(ws.Tasks))
	}
	t := ws.Tasks[n-1]
	if !t.Present {
		return nil, fmt.Errorf("task %d (%s) is not in this workspace yet", n, t.Dir)
	}
	return t, nil
}
