//go:build unix

package main

import (
	"fmt"
	"os"
	"syscall"
)

// become replaces this process with the lab tool: one process, so the go
// command's exit code is the tool's and the signals it passes on reach the
// tool itself. It returns only if exec fails.
func become(bin string, args []string) int {
	err := syscall.Exec(bin, append([]string{"lab"}, args...), toolEnv())
	fmt.Fprintf(os.Stderr, "lab: starting %s: %v\n", bin, err)
	return 1
}
