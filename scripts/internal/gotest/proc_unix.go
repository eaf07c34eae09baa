//go:build unix

package gotest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"time"
)

// ownProcessGroup puts cmd and everything it starts in a process group of
// its own, so that sweepProcessGroup can end them all.
func ownProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}

// sweepProcessGroup ends whatever is left of cmd's process group, once cmd
// has exited, and says how many processes were still running: the
// programs a test started and did not stop before it ended.
func sweepProcessGroup(cmd *exec.Cmd) (left int) {
	if cmd.Process == nil {
		return 0
	}
	pgid := cmd.Process.Pid
	left = countGroup(pgid)
	if left == 0 {
		return 0
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	// A signal is delivered, not obeyed at once: wait, a little, until the
	// group is gone, so that nothing the run started outlives the run
	// (its port, its files). There is no event to wait on for processes
	// that are not our children, so look again every few milliseconds.
	for deadline := time.Now().Add(2 * time.Second); countGroup(pgid) > 0 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	return left
}

// countGroup counts the live processes of process group pgid. On Linux it
// reads /proc and leaves zombies out: a process that has exited, and whose
// parent has not reaped it yet (a container's first process may never),
// is not running. Elsewhere it can only tell whether any process is left.
func countGroup(pgid int) int {
	if runtime.GOOS != "linux" {
		if syscall.Kill(-pgid, 0) == nil {
			return 1
		}
		return 0
	}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	n := 0
	for _, path := range stats {
		b, err := os.ReadFile(path)
		if err != nil {
			continue // it exited while we looked
		}
		// pid (comm) state ppid pgrp ...: comm may hold spaces and
		// parentheses, so the fields are read after its last ')'.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := bytes.Fields(b[i+1:])
		if len(f) < 3 || string(f[0]) == "Z" || string(f[0]) == "X" {
			continue
		}
		if g, err := strconv.Atoi(string(f[2])); err == nil && g == pgid {
			n++
		}
	}
	return n
}
