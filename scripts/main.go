// Command scripts is the lab tool: go run ./scripts <command>.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
)

const usage = `Graceful Shutdown Lab

usage: go run ./scripts <command> [arguments]

  check [N]                    test your copy of task N (default: the first unsolved one)
                               and explain each criterion
  list                         progress over the twenty tasks
  hint N [--level K]           hint K (1 to 3) for task N
  run N [--solution] [-- F…]   run task N's program (or its reference answer) with flags F
  grade [DIR] [--json FILE]    grade every task of the workspace at DIR (default: this one)
  verify [N…]                  prove the lab: references pass, starters fail as documented,
                               catalogued bugs are caught

Exit codes: 0 success, 1 a check did not pass, 2 usage error.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := lab(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// errUsage marks a mistake on the command line (exit 2).
var errUsage = errors.New("usage")

// lab runs one command and returns the exit code.
func lab(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if runtime.GOOS == "windows" {
		fmt.Fprintln(stderr, "lab: the tasks send Unix signals (SIGINT, SIGTERM) to real processes, which Windows does not have; run the lab inside WSL (Windows Subsystem for Linux)")
		return 2
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		return 0
	}
	ok, err := dispatch(ctx, args[0], args[1:], stdout)
	switch {
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "lab: %v\nRun `go run ./scripts help` for the commands.\n", err)
		return 2
	case err != nil:
		fmt.Fprintf(stderr, "lab: %v\n", err)
		return 1
	case !ok:
		return 1
	}
	return 0
}

func dispatch(ctx context.Context, cmd string, args []string, w io.Writer) (bool, error) {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	jobs := fs.Int("j", 6, "how many go test runs at once")
	level := fs.Int("level", 1, "hint level")
	solution := fs.Bool("solution", false, "run the reference answer")
	jsonPath := fs.String("json", "", "also write the report as JSON to this file")
	positional, err := parseInterleaved(fs, args)
	if err != nil {
		return false, fmt.Errorf("%s: %v: %w", cmd, err, errUsage)
	}
	if *jobs < 1 {
		return false, fmt.Errorf("-j must be at least 1: %w", errUsage)
	}

	root, err := findRoot(".")
	if err != nil {
		return false, err
	}
	ws, err := openWorkspace(root)
	if err != nil {
		return false, err
	}

	switch cmd {
	case "check":
		n, err := optionalTask(positional)
		if err != nil {
			return false, err
		}
		return check(ctx, ws, n, *jobs, w)
	case "list":
		if err := noArgs(positional); err != nil {
			return false, err
		}
		return true, list(ctx, ws, *jobs, w)
	case "hint":
		n, err := requiredTask(positional)
		if err != nil {
			return false, err
		}
		return true, hint(ws, n, *level, w)
	case "run":
		n, err := requiredTask(positional[:min(1, len(positional))])
		if err != nil {
			return false, err
		}
		return true, runTask(ctx, ws, n, *solution, positional[1:])
	case "grade":
		target := ws
		if len(positional) > 0 {
			if target, err = openTarget(positional[0]); err != nil {
				return false, err
			}
			positional = positional[1:]
		}
		if err := noArgs(positional); err != nil {
			return false, err
		}
		return grade(ctx, ws, target, *jobs, *jsonPath, w)
	case "verify":
		var only []int
		for _, a := range positional {
			n, err := taskNumber(a)
			if err != nil {
				return false, err
			}
			only = append(only, n)
		}
		return verify(ctx, ws, only, *jobs, w), nil
	default:
		return false, fmt.Errorf("unknown command %q: %w", cmd, errUsage)
	}
}

// parseInterleaved parses flags that may come before or after the
// positional arguments (`hint 3 --level 2`); everything after "--" is
// positional, for `run N -- -addr :9000`.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(positional, rest...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// openTarget opens the workspace at dir, which must be a lab's root.
func openTarget(dir string) (*Workspace, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(abs, "go.work")); err != nil {
		return nil, fmt.Errorf("%s is not a lab workspace (no go.work there)", dir)
	}
	return openWorkspace(abs)
}

func taskNumber(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > len(catalogue) {
		return 0, fmt.Errorf("%q is not a task number (1 to %d): %w", s, len(catalogue), errUsage)
	}
	return n, nil
}

func optionalTask(args []string) (int, error) {
	if len(args) == 0 {
		return 0, nil
	}
	return requiredTask(args)
}

func requiredTask(args []string) (int, error) {
	if len(args) != 1 {
		return 0, fmt.Errorf("give one task number: %w", errUsage)
	}
	return taskNumber(args[0])
}

func noArgs(args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("unexpected argument %q: %w", args[0], errUsage)
	}
	return nil
}
