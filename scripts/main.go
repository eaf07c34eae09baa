// Command scripts is the lab tool: go tool lab <command>.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"syscall"

	"gracefulshutdown.lab/scripts/internal/workspace"
)

const usage = `Graceful Shutdown Lab

usage: go tool lab <command> [arguments]

For learners:
  prepare                      compile what every task's tests need, once, before a workshop
  check [N]                    test your copy of task N (default: the first unsolved one)
                               and explain each criterion
  watch [N]                    check again on every save, and move on when a task passes
  list                         progress over the twenty tasks
  hint N [--level K]           hint K (1 to 3) for task N
  diff N                       once task N passes: your files beside the reference
  reset N                      put task N's starter back (your files are kept first)
  run N [--solution] [--probes] [-- F…]
                               run task N's program (or its reference answer) with flags F;
                               its last line gives the program's exit code and its meaning

For presenters:
  run N --solution --probes    the reference, with /readyz and /healthz polled and shown
  timeline N [--solution] [--svg FILE] [-- F…]
                               play task N's demo and draw its shutdown on a time axis

For instructors:
  grade [DIR…] [--json PATH] [--csv FILE] [--markdown FILE]
                               grade learners' copies (default: this workspace); a DIR
                               without go.work holds one copy per learner
        [--tasks 1,4-6]        only these tasks
        [--shard K/N]          only every N-th copy, from the K-th (a CI matrix's job K)
        [--format exercism]    --json writes exercism's results.json (version 3)
  grade --merge REPORT…        one table from the JSON reports of several shards

For maintainers:
  verify [N…] [--json FILE] [--all-tests]
                               prove the lab: references pass, starters fail as documented,
                               catalogued bugs are caught by the tests task.toml names
                               (--all-tests: by any test)
  manifest                     record the lab's own files, after changing a test

Every command takes -j N: how many go test runs at once (default 6; for
verify, five per core).
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
	if len(args) == 0 || isHelp(args[0]) || args[0] == "help" || wantsHelp(args[1:]) {
		fmt.Fprint(stdout, usage)
		return 0
	}
	ok, code, err := dispatch(ctx, args[0], args[1:], stdout, stderr)
	switch {
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "lab: %v\nRun `go tool lab help` for the commands.\n", err)
		return 2
	case err != nil:
		fmt.Fprintf(stderr, "lab: %v\n", err)
		return 1
	case code >= 0:
		return code
	case !ok:
		return 1
	}
	return 0
}

func isHelp(a string) bool { return a == "-h" || a == "-help" || a == "--help" }

// wantsHelp reports whether a command's arguments ask for help, before any
// "--" (after it, -h is the program's flag, for run).
func wantsHelp(args []string) bool {
	if i := slices.Index(args, "--"); i >= 0 {
		args = args[:i]
	}
	return slices.ContainsFunc(args, isHelp)
}

// defaultJobs is how many go test runs a command has going at once. Most of
// a run is the tests waiting on the programs' real time; what computes is
// the build. verify builds little on a warm cache (it keeps its test
// binaries, and builds at most one per core at a time), so it keeps more
// runs going: its proofs use a fifth of a core each, on average.
func defaultJobs(cmd string) int {
	if cmd == "verify" {
		return max(6, 5*runtime.NumCPU())
	}
	return 6
}

// dispatch runs one command. It returns whether it succeeded, or an exit
// code of its own (run passes the program's on), or an error.
func dispatch(ctx context.Context, cmd string, args []string, stdout, stderr io.Writer) (ok bool, code int, err error) {
	code = -1
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	jobs := fs.Int("j", defaultJobs(cmd), "how many go test runs at once")
	level := fs.Int("level", 1, "hint level")
	solution := fs.Bool("solution", false, "run the reference answer")
	probes := fs.Bool("probes", false, "poll /readyz and /healthz while the program runs")
	jsonPath := fs.String("json", "", "also write the report as JSON")
	csvPath := fs.String("csv", "", "also write the class table as CSV")
	svgPath := fs.String("svg", "", "also draw the timeline as SVG")
	allTests := fs.Bool("all-tests", false, "verify: run every test on each bug, not only its caught_by")
	tasks := fs.String("tasks", "", "grade: only these tasks (5, 1,4 or 11-20)")
	shard := fs.String("shard", "", "grade: only shard K/N of the copies")
	mergeFlag := fs.Bool("merge", false, "grade: merge JSON reports instead of grading")
	markdownPath := fs.String("markdown", "", "grade: also append the table as Markdown")
	format := fs.String("format", "lab", "grade: what --json writes (lab or exercism)")
	positional, err := parseInterleaved(fs, args)
	if err != nil {
		return false, code, fmt.Errorf("%s: %v: %w", cmd, err, errUsage)
	}
	if *jobs < 1 {
		return false, code, fmt.Errorf("-j must be at least 1: %w", errUsage)
	}

	root, err := workspace.FindRoot(".")
	if err != nil {
		return false, code, err
	}
	ws, err := workspace.Open(root)
	if err != nil {
		return false, code, err
	}

	switch cmd {
	case "check":
		n, err := optionalTask(positional)
		if err != nil {
			return false, code, err
		}
		ok, err := check(ctx, ws, n, *jobs, stdout)
		return ok, code, err
	case "watch":
		n, err := optionalTask(positional)
		if err != nil {
			return false, code, err
		}
		return true, code, watch(ctx, ws, n, *jobs, stdout)
	case "reset":
		n, err := requiredTask(positional)
		if err != nil {
			return false, code, err
		}
		return true, code, reset(ctx, ws, n, stdout)
	case "diff":
		n, err := requiredTask(positional)
		if err != nil {
			return false, code, err
		}
		ok, err := diffTask(ctx, ws, n, *jobs, stdout)
		return ok, code, err
	case "timeline":
		n, err := requiredTask(positional[:min(1, len(positional))])
		if err != nil {
			return false, code, err
		}
		return true, code, timelineTask(ctx, ws, n, runOptions{solution: *solution, flags: positional[1:]}, *svgPath, stdout, stderr)
	case "list":
		if err := noArgs(positional); err != nil {
			return false, code, err
		}
		return true, code, list(ctx, ws, *jobs, stdout)
	case "hint":
		n, err := requiredTask(positional)
		if err != nil {
			return false, code, err
		}
		return true, code, hint(ws, n, *level, stdout)
	case "run":
		n, err := requiredTask(positional[:min(1, len(positional))])
		if err != nil {
			return false, code, err
		}
		// The program's exit code is on run's last line, with what it
		// means. run itself exits 0 once it has run the program: its own
		// codes (1 a check failed, 2 a usage error) would be mistaken for
		// the program's.
		_, err = runTask(ctx, ws, n, runOptions{solution: *solution, probes: *probes, flags: positional[1:]}, stdout, stderr)
		return err == nil, code, err
	case "grade":
		opts := gradeOptions{jobs: *jobs, jsonPath: *jsonPath, csvPath: *csvPath, markdownPath: *markdownPath, format: *format}
		if err := opts.check(); err != nil {
			return false, code, err
		}
		if *tasks != "" {
			if opts.tasks, err = parseTaskList(*tasks); err != nil {
				return false, code, err
			}
		}
		if *mergeFlag {
			if *shard != "" || *tasks != "" {
				return false, code, fmt.Errorf("--merge reads reports that are graded already: --shard and --tasks belong to the grading: %w", errUsage)
			}
			ok, err := mergeReports(ws, positional, opts, stdout)
			return ok, code, err
		}
		copies, err := gradeTargets(ws, positional)
		if err != nil {
			return false, code, err
		}
		opts.perLearner = len(copies) > 1
		if *shard != "" {
			k, n, err := parseShard(*shard)
			if err != nil {
				return false, code, err
			}
			all := len(copies)
			copies, opts.perLearner = shardOf(copies, k, n), true
			if len(copies) == 0 {
				fmt.Fprintf(stdout, "shard %d/%d has no copies to grade (%d in all)\n", k, n, all)
				return true, code, nil
			}
		}
		ok, err := grade(ctx, ws, copies, opts, stdout)
		return ok, code, err
	case "verify":
		var only []int
		for _, a := range positional {
			n, err := taskNumber(a)
			if err != nil {
				return false, code, err
			}
			only = append(only, n)
		}
		return verify(ctx, ws, only, verifyOptions{jobs: *jobs, allTests: *allTests, jsonPath: *jsonPath}, stdout), code, nil
	case "prepare":
		if err := noArgs(positional); err != nil {
			return false, code, err
		}
		return true, code, prepare(ctx, ws, stdout)
	case "manifest":
		if err := noArgs(positional); err != nil {
			return false, code, err
		}
		return true, code, writeManifest(ws, stdout)
	default:
		return false, code, fmt.Errorf("unknown command %q: %w", cmd, errUsage)
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

func taskNumber(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > len(workspace.Catalogue) {
		return 0, fmt.Errorf("%q is not a task number (1 to %d): %w", s, len(workspace.Catalogue), errUsage)
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
