package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// lineEvery is how often progress is printed where a line cannot be
// redrawn in place (CI, a pipe).
const lineEvery = 5 * time.Second

// progress tells a person what the build is doing: one line when it
// starts, then how many packages are compiled, redrawn in place on a
// terminal and a line every few seconds elsewhere.
type progress struct {
	w    io.Writer
	live bool

	mu        sync.Mutex
	started   time.Time // zero until begin
	lastPrint time.Time
	fetched   int
	done      int
	total     int // stale packages, once go list has said; 0 before
}

func newProgress(f *os.File) *progress {
	info, err := f.Stat()
	live := err == nil && info.Mode()&os.ModeCharDevice != 0 && os.Getenv("TERM") != "dumb"
	return &progress{w: f, live: live}
}

// begin says, once, that the tool is being built, and asks go list in the
// background how many packages that takes.
func (p *progress) begin(ctx context.Context, root string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.started.IsZero() {
		return
	}
	p.started, p.lastPrint = time.Now(), time.Now()
	fmt.Fprintln(p.w, "lab: building the lab tool, once, with the race detector that the tasks' tests use too (some 25 s on a cold 2-core machine; later commands start at once)")
	go p.count(ctx, root)
}

// count asks go list how many packages the build cache lacks.
func (p *progress) count(ctx context.Context, root string) {
	cmd := exec.CommandContext(ctx, "go", "list", "-race", "-e", "-deps", "-f", "{{if .Stale}}{{.ImportPath}}{{end}}", toolPackage)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return // progress without a total is still progress
	}
	n := strings.Count(strings.TrimSpace(string(out)), "\n") + 1
	p.mu.Lock()
	defer p.mu.Unlock()
	p.total = max(n, p.done)
}

func (p *progress) downloaded(module string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fetched++
	p.show(module)
}

func (p *progress) compiled(pkg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done++
	p.total = max(p.total, p.done)
	p.show(pkg)
}

// show draws the progress; the caller holds p.mu.
func (p *progress) show(last string) {
	if p.live {
		fmt.Fprintf(p.w, "\r\x1b[K  [%s] %s", p.counts(), last)
		return
	}
	if time.Since(p.lastPrint) >= lineEvery {
		fmt.Fprintf(p.w, "lab: %s (%s)\n", p.counts(), p.elapsed())
		p.lastPrint = time.Now()
	}
}

func (p *progress) counts() string {
	s := fmt.Sprintf("compiled %d", p.done)
	if p.total > 0 {
		s += fmt.Sprintf(" of %d", p.total)
	}
	s += " packages"
	if p.fetched > 0 {
		s = fmt.Sprintf("fetched %d modules, %s", p.fetched, s)
	}
	return s
}

func (p *progress) elapsed() time.Duration {
	return time.Since(p.started).Round(time.Second)
}

// end closes what begin opened; silent if nothing was said.
func (p *progress) end(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.started.IsZero() {
		return
	}
	if p.live {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
	if err == nil {
		fmt.Fprintf(p.w, "lab: built the lab tool in %s\n", p.elapsed())
	}
}
