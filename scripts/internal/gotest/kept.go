package gotest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"
)

// execKept is Exec for an invocation with a Keep folder: a store of test
// binaries shared by every run on the machine. go test links a fresh
// binary on every run, and the race detector's link costs more than
// running a proof's few tests; go test -c builds the binaries once per
// version of their inputs (see buildKey), into the store, and they run
// under test2json, as go test would run them. The tests themselves run
// afresh every time.
func (g Invocation) execKept(ctx context.Context) (*Run, error) {
	ctx, cancel := context.WithTimeout(ctx, g.Limit)
	defer cancel()
	start := time.Now()
	module, pkgs, err := testPackages(g.Dir, g.Packages, g.Overlay)
	if err != nil {
		return nil, err
	}
	run := &Run{}
	if len(pkgs) == 0 {
		run.BuildOutput = "no test files"
		return run, nil
	}
	key, err := g.buildKey(pkgs)
	if err != nil {
		return nil, err
	}
	entry := filepath.Join(g.Keep, key)
	if !complete(entry, pkgs) {
		out, err := g.buildInSlot(ctx, entry, pkgs)
		if err != nil {
			run.BuildOutput = out
			if ctx.Err() != nil {
				run.TimedOut = true
			} else {
				run.BuildFailed = true
			}
			run.Elapsed = time.Since(start)
			return run, nil
		}
	}
	// Its time of last use, for TrimKept.
	now := time.Now()
	if err := os.Chtimes(entry, now, now); err != nil {
		return nil, err
	}
	streams, problems, left, err := g.runBinaries(ctx, filepath.Join(entry, "bin"), pkgs)
	if err != nil {
		return nil, err
	}
	run = Parse(streams, module)
	run.LeftRunning = left
	run.Elapsed = time.Since(start)
	if ctx.Err() != nil {
		run.TimedOut = true
		run.markRunning()
	}
	if problems != "" {
		run.BuildOutput = strings.TrimSpace(run.BuildOutput + "\n" + problems)
	}
	return run, nil
}

// complete reports whether entry holds the test binary of each of pkgs.
func complete(entry string, pkgs []testPackage) bool {
	for _, p := range pkgs {
		if _, err := os.Stat(filepath.Join(entry, "bin", p.binary())); err != nil {
			return false
		}
	}
	return true
}

// buildSlots bounds the kept builds under way at once to the cores: a
// build computes for as long as it runs, so more of them only share the
// cores and add up their memory (a race link takes a few hundred
// megabytes), where the runs, which mostly wait, are what a caller's own
// limit counts.
var buildSlots = make(chan struct{}, runtime.NumCPU())

// buildInSlot is build, once a build slot is free.
func (g Invocation) buildInSlot(ctx context.Context, entry string, pkgs []testPackage) (string, error) {
	select {
	case buildSlots <- struct{}{}:
		defer func() { <-buildSlots }()
	case <-ctx.Done():
		return "", ctx.Err()
	}
	return g.build(ctx, entry, pkgs)
}

// build compiles the test binaries of pkgs into a folder of their own and
// renames it to entry, so that an entry, once there, is whole and never
// changes: runs on other task folders, or in other processes, can use it
// at the same time. It returns the compiler's errors when it fails.
func (g Invocation) build(ctx context.Context, entry string, pkgs []testPackage) (string, error) {
	if err := os.MkdirAll(g.Keep, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(g.Keep, buildingPrefix)
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp) // gone by then when all went well
	args := append([]string{"test", "-c", "-o", filepath.Join(tmp, "bin") + string(filepath.Separator)}, g.buildFlags()...)
	for _, p := range pkgs {
		args = append(args, p.pattern)
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = g.Dir
	cmd.Env = Env()
	ownProcessGroup(cmd)
	out, err := cmd.CombinedOutput()
	sweepProcessGroup(cmd)
	if err != nil {
		return strings.TrimSpace(string(out)), err
	}
	if err := os.Rename(tmp, entry); err != nil && !complete(entry, pkgs) {
		// Not another run's build of the same inputs, finished first.
		return "", err
	}
	return "", nil
}

// runBinaries runs each package's test binary, all at once as go test
// does, and returns their test2json streams one after the other, with what
// test2json itself had to say.
func (g Invocation) runBinaries(ctx context.Context, bin string, pkgs []testPackage) (io.Reader, string, int, error) {
	converter, err := test2json()
	if err != nil {
		return nil, "", 0, err
	}
	outs := make([]bytes.Buffer, len(pkgs))
	errs := make([]bytes.Buffer, len(pkgs))
	var wg sync.WaitGroup
	var startErr error
	var mu sync.Mutex
	left := 0 // processes still running when their test binary ended
	for i, p := range pkgs {
		args := append([]string{"-t", "-p", p.importPath, filepath.Join(bin, p.binary())}, g.binaryFlags()...)
		cmd := exec.CommandContext(ctx, converter, args...)
		// go test runs a package's tests in its source folder: tests
		// read files next to them (a manifest, testdata).
		cmd.Dir = p.dir
		cmd.Env = Env()
		cmd.Stdout, cmd.Stderr = &outs[i], &errs[i]
		ownProcessGroup(cmd)
		if err := cmd.Start(); err != nil {
			mu.Lock()
			startErr = errors.Join(startErr, err)
			mu.Unlock()
			continue
		}
		wg.Go(func() {
			// A failing binary is what the stream reports; test2json
			// exits with its status.
			_ = cmd.Wait()
			// The programs that tests start are grandchildren; a test
			// binary that panicked or was killed leaves them running.
			n := sweepProcessGroup(cmd)
			mu.Lock()
			left += n
			mu.Unlock()
		})
	}
	wg.Wait()
	if startErr != nil {
		return nil, "", 0, fmt.Errorf("running the tests of %s: %w", g.Dir, startErr)
	}
	var streams []io.Reader
	var problems []string
	for i := range pkgs {
		streams = append(streams, &outs[i])
		if s := strings.TrimSpace(errs[i].String()); s != "" {
			problems = append(problems, s)
		}
	}
	return io.MultiReader(streams...), strings.Join(problems, "\n"), left, nil
}

// binaryFlags are the flags go test -json would give a test binary.
func (g Invocation) binaryFlags() []string {
	flags := []string{"-test.v=test2json", "-test.paniconexit0", "-test.timeout=" + g.testTimeout().String()}
	if g.Run != "" {
		flags = append(flags, "-test.run="+g.Run)
	}
	if g.Parallel > 0 {
		flags = append(flags, fmt.Sprintf("-test.parallel=%d", g.Parallel))
	}
	return flags
}

// test2json is the path of the go command's own converter of a test
// binary's output into go test -json's events, built once and cached by
// the go command; asked for once per process.
var test2json = sync.OnceValues(func() (string, error) {
	out, err := exec.Command("go", "tool", "-n", "test2json").Output()
	if err != nil {
		return "", fmt.Errorf("go tool -n test2json: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
})

// buildingPrefix names the folders of builds under way in the store.
const buildingPrefix = "building-"

// TrimKept removes from the store in dir the binaries that no run has used
// for unusedFor, and what builds that were cut off left behind. A store
// holds one entry per version of each proof's inputs, each some ten
// megabytes of race-enabled binaries; the versions a maintainer moves past
// would pile up.
func TrimKept(dir string, unusedFor time.Duration) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !e.IsDir() {
			continue
		}
		age := time.Since(info.ModTime())
		stale := isKey(e.Name()) && age > unusedFor ||
			strings.HasPrefix(e.Name(), buildingPrefix) && age > time.Hour
		if stale {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// binary is the name go test -c -o DIR/ gives the package's test binary.
func (p testPackage) binary() string { return path.Base(p.importPath) + ".test" }
