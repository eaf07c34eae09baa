package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
)

// runTask builds task n (or its reference) and replaces this process with
// it, so that Ctrl+C and kill reach the program itself, and its exit code is
// the one the shell sees.
func runTask(ctx context.Context, ws *Workspace, n int, solution bool, flags []string) error {
	t, err := ws.Task(n)
	if err != nil {
		return err
	}
	binDir, err := os.UserCacheDir()
	if err != nil {
		binDir = os.TempDir()
	}
	binDir = filepath.Join(binDir, "graceful-shutdown-lab")
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return err
	}
	bin := filepath.Join(binDir, t.Dir)
	args := []string{"build", "-o", bin}
	if solution {
		// The reference is built as verify tests it: the task folder with
		// the solution's files swapped in.
		bin += "-solution"
		overlayPath, err := referenceOverlay(binDir, t)
		if err != nil {
			return err
		}
		args = []string{"build", "-overlay", overlayPath, "-o", bin}
	}
	build := exec.CommandContext(ctx, "go", append(args, ".")...)
	build.Dir = t.Path
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("%s does not build (see above)", t.Dir)
	}
	which := "your " + t.Dir
	if solution {
		which = "the reference answer of " + t.Dir
	}
	fmt.Fprintf(os.Stderr, "lab: running %s; press Ctrl+C to shut it down\n", which)
	return syscall.Exec(bin, append([]string{bin}, flags...), os.Environ())
}
