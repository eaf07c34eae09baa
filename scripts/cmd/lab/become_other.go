//go:build !unix

package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
)

// become runs the lab tool and returns its exit code; without exec(2) it
// is a child of this process. (The tool itself then says that the lab needs
// Unix signals.)
func become(bin string, args []string) int {
	cmd := exec.Command(bin, args...)
	cmd.Env = toolEnv()
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "lab: starting %s: %v\n", bin, err)
		return 1
	}
	return 0
}
