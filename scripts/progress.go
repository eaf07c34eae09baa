package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"gracefulshutdown.lab/scripts/internal/gotest"
	"gracefulshutdown.lab/scripts/internal/workspace"
)

// lineEvery is how often a warm-up says how far it is when it cannot
// redraw a line in place (CI, a pipe): nothing stays silent for long.
const lineEvery = 5 * time.Second

// warmUp compiles what the tests of tasks share, once, before their runs
// start, and shows how far it is: one line redrawn in place on a terminal,
// a line every few seconds elsewhere. On a warm cache it prints nothing.
func warmUp(ctx context.Context, ws *workspace.Workspace, tasks []*workspace.Task, w io.Writer) {
	var dirs []string
	for _, t := range tasks {
		dirs = append(dirs, t.Dir)
	}
	if len(dirs) == 0 {
		return
	}
	p := &progressLine{w: w, live: isTerminal(os.Stderr) && w == io.Writer(os.Stderr), start: time.Now()}
	n, err := gotest.Warm(ctx, ws.Root, dirs, p.update)
	p.finish(n, err)
}

// progressLine draws a warm-up's progress.
type progressLine struct {
	w     io.Writer
	live  bool // redraw one line in place
	start time.Time

	mu        sync.Mutex
	lastPrint time.Time
}

func (p *progressLine) update(done, total int, pkg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if done == 0 {
		fmt.Fprintf(p.w, "lab: compiling %s with the race detector, once; later runs reuse Go's build cache\n", packages(total))
		p.lastPrint = time.Now()
		return
	}
	if p.live {
		fmt.Fprintf(p.w, "\r\x1b[K  [%d/%d] %s", done, total, pkg)
		return
	}
	if time.Since(p.lastPrint) >= lineEvery || done == total {
		fmt.Fprintf(p.w, "lab: compiled %d of %d packages (%s)\n", done, total, time.Since(p.start).Round(time.Second))
		p.lastPrint = time.Now()
	}
}

func (p *progressLine) finish(n int, err error) {
	if n == 0 && err == nil {
		return
	}
	if p.live {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
	if err != nil {
		// The runs that follow report a compile error in the learner's
		// words; here it only means the warm-up stopped short.
		fmt.Fprintf(p.w, "lab: compiled %s in %s; the rest is compiled by the runs\n", packages(n), time.Since(p.start).Round(time.Second))
		return
	}
	fmt.Fprintf(p.w, "lab: compiled %s in %s\n", packages(n), time.Since(p.start).Round(time.Second))
}

// packages counts packages in words: "1 package", "15 packages".
func packages(n int) string {
	if n == 1 {
		return "1 package"
	}
	return fmt.Sprintf("%d packages", n)
}
