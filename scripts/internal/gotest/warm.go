package gotest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
)

// Progress hears how a warm-up goes: done of total packages compiled, pkg
// the last one. It is called with done == 0 before the first.
type Progress func(done, total int, pkg string)

// Warm compiles, with the race detector and once, every package that the
// tests under dirs need and the build cache lacks: the standard library's
// race build and the task's dependencies (SQLite's C-to-Go translation, the
// OpenTelemetry SDK, Kubernetes' types...). One go command, using every
// core, does it, so that the go test runs that fan out afterwards find it
// all compiled instead of each compiling the same packages at the same
// time. On a warm cache it only asks go list, and returns. It reports how
// many packages it compiled.
func Warm(ctx context.Context, root string, dirs []string, progress Progress) (int, error) {
	stale, err := stalePackages(ctx, root, dirs)
	if err != nil || len(stale) == 0 {
		return 0, err
	}
	progress(0, len(stale), "")
	// -o to the null device: compile and discard, even a single main
	// package, which go build would otherwise write out as a binary.
	cmd := exec.CommandContext(ctx, "go", append([]string{"build", "-race", "-v", "-o", os.DevNull}, stale...)...)
	cmd.Dir = root
	cmd.Env = Env()
	out, err := cmd.StderrPipe()
	if err != nil {
		return 0, err
	}
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	// -v names each package as it is compiled; other lines are errors.
	done, want := 0, map[string]bool{}
	for _, p := range stale {
		want[p] = true
	}
	var problems []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if strings.ContainsAny(line, " :") {
			problems = append(problems, line)
			continue
		}
		done++
		progress(min(done, len(stale)), len(stale), line)
	}
	if err := cmd.Wait(); err != nil {
		// A learner's task that does not compile is for its own run to
		// report, in its own words; the rest of the cache is warm anyway.
		return done, fmt.Errorf("compiling: %v: %s", err, strings.Join(problems, "; "))
	}
	return done, nil
}

// stalePackages lists, by import path, the packages that the tests under
// dirs need and that the build cache does not have.
func stalePackages(ctx context.Context, root string, dirs []string) ([]string, error) {
	// Not the tasks' main packages: each run compiles its own version of
	// them anyway (a reference, a bug), and go test compiles them apart
	// from go build, so they would seem stale every time.
	args := []string{"list", "-e", "-deps", "-test", "-race", "-f", `{{if and .Stale (ne .Name "main")}}{{.ImportPath}}{{end}}`}
	for _, d := range dirs {
		args = append(args, "./"+d+"/...")
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Env = Env()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	var stale []string
	for line := range strings.SplitSeq(string(out), "\n") {
		// Test variants ("p [p.test]") and test mains ("p.test") are
		// built by go test itself; the packages under them are what
		// they share.
		if line == "" || strings.Contains(line, " [") || strings.HasSuffix(line, ".test") {
			continue
		}
		stale = append(stale, line)
	}
	slices.Sort(stale)
	return slices.Compact(stale), nil
}
