// Command lab is how the lab is started: go tool lab <command>.
//
// It is a launcher, small on purpose: on a machine whose build cache is
// empty, the go command compiles it in a few seconds, so the first thing a
// learner types answers at once. It builds the lab tool proper (the scripts
// package: net/http, TOML, diffs, file watching, over a hundred packages)
// into the checkout's .lab-bin folder, saying what it is doing and how far
// it is whenever that takes more than a moment, and then becomes that tool,
// so that the tool's exit code and signals are the command's own.
//
// The tool is built with the race detector, as every task's tests are: the
// race build of the standard library, which a first check needs anyway, is
// then compiled once instead of a plain build for the tool and a race build
// for the tests (on a cold 2-core machine, 28 s instead of 47 s before the
// first check of task 1 can run). The tool's own races would show too.
//
// Through `go tool`, unlike `go run`, the go command adds no "exit status N"
// line of its own and passes the exit code on unchanged.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
)

// toolPackage is the lab tool proper.
const toolPackage = "gracefulshutdown.lab/scripts"

func main() {
	root, err := findRoot()
	if err != nil {
		fmt.Fprintf(os.Stderr, "lab: %v\n", err)
		os.Exit(2)
	}
	bin := filepath.Join(root, ".lab-bin", "lab")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err = build(ctx, root, bin, newProgress(os.Stderr))
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "lab: %v\n", err)
		os.Exit(1)
	}
	os.Exit(become(bin, os.Args[1:]))
}

// findRoot walks up from the working folder to the lab's root: the folder
// that holds go.work and the lab tool's sources.
func findRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.work")); err == nil {
			if _, err := os.Stat(filepath.Join(d, "scripts", "go.mod")); err == nil {
				return d, nil
			}
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no lab checkout (a go.work beside scripts/) in %s or any folder above it: run `go tool lab` inside your clone of the lab", wd)
		}
	}
}

// toolEnv is the tool's environment: this one, with the race runtime told
// not to sleep a second at exit (its default, atexit_sleep_ms=1000, for
// other goroutines to report races) on every command.
func toolEnv() []string {
	return append(os.Environ(), "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
}
