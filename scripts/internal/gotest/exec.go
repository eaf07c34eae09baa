package gotest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Invocation describes one `go test` of one task folder.
type Invocation struct {
	Dir     string // the task folder
	Overlay string // an overlay file, or ""
	Race    bool
	Cached  bool   // allow go test's result cache (check, list)
	Run     string // -run pattern, or ""
	// Parallel is go test's -parallel: how many of a package's parallel
	// tests run at once; zero leaves go test's default, GOMAXPROCS.
	Parallel int
	// Packages are the packages to test, relative to Dir; none means
	// "./...", every package of the task.
	Packages []string
	// NoVet turns off the vet checks go test runs before the tests: for
	// the lab's own proofs, whose programs are vetted once elsewhere, and
	// where a catalogued bug must fail a test, not vet.
	NoVet bool
	// TestTimeout is go test's -timeout: how long the test binary may run
	// before it panics and names the tests still running. Zero means three
	// quarters of Limit.
	TestTimeout time.Duration
	// Limit bounds the whole invocation, build included: the backstop for
	// a test binary that hangs past its own -timeout, or a build that
	// never ends.
	Limit time.Duration
	// Keep is a store of test binaries, by their inputs, that runs share
	// (see execKept), or "": go test builds and runs them in a temporary
	// folder. A kept run is never a cached one: its tests always run.
	Keep string
}

// Args is the go command line.
func (g Invocation) Args() []string {
	args := []string{"test", "-json"}
	if !g.Cached {
		args = append(args, "-count=1")
	}
	args = append(args, g.buildFlags()...)
	if g.Run != "" {
		args = append(args, "-run", g.Run)
	}
	if g.Parallel > 0 {
		args = append(args, "-parallel", strconv.Itoa(g.Parallel))
	}
	// The test binary's own limit comes first, so that a hang shows up as
	// a panic that names the running tests; ours is the backstop.
	args = append(args, "-timeout", g.testTimeout().String())
	return append(args, g.packages()...)
}

// buildFlags are the flags that decide how the test binaries are built.
func (g Invocation) buildFlags() []string {
	var flags []string
	if g.Race {
		flags = append(flags, "-race")
	}
	if g.Overlay != "" {
		flags = append(flags, "-overlay", g.Overlay)
	}
	if g.NoVet {
		flags = append(flags, "-vet=off")
	}
	// No DWARF: nobody debugs these binaries, and leaving it out shortens
	// every link. Panics and race reports still name functions and lines,
	// from the binary's own tables.
	return append(flags, "-ldflags=-w")
}

// testTimeout is the test binary's -timeout.
func (g Invocation) testTimeout() time.Duration {
	if g.TestTimeout > 0 {
		return g.TestTimeout.Round(time.Second)
	}
	return (g.Limit * 3 / 4).Round(time.Second)
}

// packages are the package patterns to test.
func (g Invocation) packages() []string {
	if len(g.Packages) == 0 {
		return []string{"./..."}
	}
	return g.Packages
}

// Exec runs go test and parses what it reports.
func (g Invocation) Exec(ctx context.Context) (*Run, error) {
	if g.Keep != "" {
		return g.execKept(ctx)
	}
	ctx, cancel := context.WithTimeout(ctx, g.Limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", g.Args()...)
	cmd.Dir = g.Dir
	cmd.Env = Env()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	ownProcessGroup(cmd)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("go test in %s: %w", g.Dir, err)
	}
	err := cmd.Wait()
	// The programs that tests start are grandchildren; a test binary that
	// panicked or was killed leaves them running. Sweep the whole group.
	left := sweepProcessGroup(cmd)
	// The root package by name: a run of a sub-package alone still
	// qualifies its tests' names (service.TestX).
	module, _ := modulePath(filepath.Join(g.Dir, "go.mod"))
	run := Parse(&stdout, module)
	run.Elapsed = time.Since(start)
	run.LeftRunning = left
	if ctx.Err() != nil {
		run.TimedOut = true
		run.markRunning()
	}
	if s := strings.TrimSpace(stderr.String()); s != "" {
		run.BuildOutput = strings.TrimSpace(run.BuildOutput + "\n" + s)
	}
	if len(run.Tests) == 0 && !run.TimedOut && run.BuildOutput != "" {
		run.BuildFailed = true
	}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) && !run.TimedOut {
		return nil, fmt.Errorf("go test in %s: %w", g.Dir, err)
	}
	return run, nil
}

// Env is the environment of every go command the lab runs. A race-enabled
// binary sleeps a second before it exits so that late race reports get
// printed (GORACE atexit_sleep_ms). A race in a task shows up while its
// test runs, so that second is pure wait, per run.
func Env() []string {
	return append(os.Environ(), "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
}
