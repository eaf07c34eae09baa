package main

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// A fileWatch reports when a task's files change.
type fileWatch interface {
	// Next returns once a file has changed (a save, a new file, a
	// deletion), or with ctx's error when ctx ends first.
	Next(ctx context.Context) error
	Close() error
	// How names the mechanism, for the person watching.
	How() string
}

// settle is how long a burst of file events is given to end before the
// change counts: an editor's save is a write, a rename and a chmod, and
// one check should follow it, not three.
const settle = 150 * time.Millisecond

// pollEvery is how often the polling fallback looks at the files.
const pollEvery = 500 * time.Millisecond

// watchTaskFiles watches the Go files under dir: with file-system
// notifications where the system gives them, else by polling, as when
// inotify's limit on watches is used up.
func watchTaskFiles(dir string) fileWatch {
	if w, err := notifyWatch(dir); err == nil {
		return w
	}
	return newPollWatch(dir)
}

// relevant reports whether a change to path matters to a check: Go source,
// module files and what the tests read (a Kubernetes manifest), not an
// editor's swap and backup files.
func relevant(path string) bool {
	base := filepath.Base(path)
	if strings.HasPrefix(base, ".") || strings.HasSuffix(base, "~") {
		return false
	}
	for _, ext := range []string{".go", ".yaml", ".yml", ".json"} {
		if strings.HasSuffix(base, ext) {
			return true
		}
	}
	return base == "go.mod" || base == "task.toml"
}

type notifier struct{ w *fsnotify.Watcher }

func notifyWatch(dir string) (*notifier, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	// fsnotify watches one directory, not a tree: add each folder of the
	// task (the task's own packages, such as lifecycle/).
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		if path != dir && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		return w.Add(path)
	})
	if err != nil {
		w.Close()
		return nil, err
	}
	return &notifier{w: w}, nil
}

func (n *notifier) How() string  { return "file-system notifications" }
func (n *notifier) Close() error { return n.w.Close() }

func (n *notifier) Next(ctx context.Context) error {
	var settled <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev, ok := <-n.w.Events:
			if !ok {
				return fmt.Errorf("file watch closed")
			}
			if relevant(ev.Name) && !ev.Has(fsnotify.Chmod) {
				settled = time.After(settle)
			}
		case err, ok := <-n.w.Errors:
			if !ok {
				return fmt.Errorf("file watch closed")
			}
			return err
		case <-settled:
			return nil
		}
	}
}

// poller finds changes by looking: each file's size and modification time.
type poller struct {
	dir  string
	last string
}

func newPollWatch(dir string) *poller {
	return &poller{dir: dir, last: fingerprint(dir)}
}

func (p *poller) How() string  { return "polling every " + pollEvery.String() }
func (p *poller) Close() error { return nil }

func (p *poller) Next(ctx context.Context) error {
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			if now := fingerprint(p.dir); now != p.last {
				p.last = now
				return nil
			}
		}
	}
}

// fingerprint sums up the relevant files under dir: any save changes it.
func fingerprint(dir string) string {
	var b strings.Builder
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !relevant(path) {
			return nil
		}
		if info, err := os.Stat(path); err == nil {
			fmt.Fprintf(&b, "%s %d %d\n", path, info.Size(), info.ModTime().UnixNano())
		}
		return nil
	})
	return b.String()
}
