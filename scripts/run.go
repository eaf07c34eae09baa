package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"gracefulshutdown.lab/scripts/internal/events"
	"gracefulshutdown.lab/scripts/internal/workspace"
)

type runOptions struct {
	solution bool     // the reference answer instead of the learner's copy
	probes   bool     // poll /readyz and /healthz and show their changes
	flags    []string // the program's own flags
}

// runTask builds task n (or its reference) and runs it in the foreground
// for a person at a terminal: Ctrl+C reaches the program itself, its events
// are drawn one per line with the time since the signal, and the last line
// says how the shutdown went and what the exit code means (the shell's $?
// is the lab tool's own). It returns the program's exit code.
func runTask(ctx context.Context, ws *workspace.Workspace, n int, opts runOptions, stdout, stderr io.Writer) (int, error) {
	t, bin, which, err := buildTask(ctx, ws, n, opts.solution, stderr)
	if err != nil {
		return -1, err
	}

	// Events are drawn for people unless the person asked for a log
	// format, which they then get exactly as the program writes it.
	render := !hasFlag(opts.flags, "log-format")
	args := opts.flags
	if render {
		args = append([]string{"-log-format", "json"}, args...)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdin, cmd.Stdout = os.Stdin, stdout
	var logs io.ReadCloser
	if render {
		if logs, err = cmd.StderrPipe(); err != nil {
			return -1, err
		}
	} else {
		cmd.Stderr = stderr
	}
	// Ctrl+C at the terminal goes to the whole foreground process group:
	// the program gets it directly, and this tool only watches. A SIGTERM
	// sent to this tool is passed on, since the program would not see it.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		return -1, fmt.Errorf("start %s: %w", bin, err)
	}
	fmt.Fprintf(stderr, "lab: running %s (pid %d): Ctrl+C, or kill -TERM %d from another terminal, shuts it down\n", which, cmd.Process.Pid, cmd.Process.Pid)

	sty := styleFor(os.Stderr)
	if f, ok := stderr.(*os.File); !ok || f != os.Stderr {
		sty = style{}
	}
	d := &display{w: stderr, style: sty}
	var wg sync.WaitGroup
	read := make(chan struct{})
	if render {
		go func() {
			defer close(read)
			d.readEvents(logs)
		}()
	} else {
		close(read)
	}
	probeCtx, stopProbes := context.WithCancel(context.Background())
	if opts.probes {
		wg.Go(func() { d.probe(probeCtx) })
	}
	exited := make(chan error, 1)
	go func() {
		// Wait closes the log's pipe: only once every line has been read
		// from it (os/exec's rule), or the last events could be lost.
		<-read
		exited <- cmd.Wait()
	}()

	var waitErr error
wait:
	for {
		select {
		case s := <-sigs:
			d.signalled(s)
			if s == syscall.SIGTERM {
				_ = cmd.Process.Signal(syscall.SIGTERM)
			}
		case waitErr = <-exited:
			break wait
		}
	}
	end := time.Now()
	stopProbes()
	wg.Wait()
	code := exitCode(waitErr)
	d.finish(t.Dir, code, end)
	return code, nil
}

// buildTask builds task n's program, or its reference, saying so, and
// returns the task, the binary and how to call it ("your task05-…").
func buildTask(ctx context.Context, ws *workspace.Workspace, n int, solution bool, stderr io.Writer) (t *workspace.Task, bin, which string, err error) {
	if t, err = ws.Task(n); err != nil {
		return nil, "", "", err
	}
	which = "your " + t.Dir
	if solution {
		which = "the reference answer of " + t.Dir
	}
	fmt.Fprintf(stderr, "lab: building %s…\n", which)
	bin, err = buildProgram(ctx, t, solution, stderr)
	return t, bin, which, err
}

// buildProgram builds the task's program, or its reference as verify tests
// it (the task folder with the solution's files swapped in), into the
// user's cache, and returns the binary's path.
func buildProgram(ctx context.Context, t *workspace.Task, solution bool, stderr io.Writer) (string, error) {
	binDir, err := os.UserCacheDir()
	if err != nil {
		binDir = os.TempDir()
	}
	binDir = filepath.Join(binDir, "graceful-shutdown-lab")
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return "", err
	}
	bin := filepath.Join(binDir, t.Dir)
	args := []string{"build", "-o", bin}
	if solution {
		bin += "-solution"
		overlayPath, err := t.ReferenceOverlay(binDir)
		if err != nil {
			return "", err
		}
		args = []string{"build", "-overlay", overlayPath, "-o", bin}
	}
	build := exec.CommandContext(ctx, "go", append(args, ".")...)
	build.Dir = t.Path
	build.Stdout, build.Stderr = stderr, stderr
	if err := build.Run(); err != nil {
		return "", fmt.Errorf("%s does not build (see above)", t.Dir)
	}
	return bin, nil
}

// hasFlag reports whether the program's command line sets flag name.
func hasFlag(args []string, name string) bool {
	for _, a := range args {
		a = strings.TrimLeft(a, "-")
		if a == name || strings.HasPrefix(a, name+"=") {
			return true
		}
	}
	return false
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	return -1
}

// isCrash reports whether a line the program printed outside its log is
// the start of a Go panic or goroutine dump.
func isCrash(line string) bool {
	for _, p := range []string{"panic: ", "fatal error: ", "SIGQUIT: quit", "goroutine 1 ["} {
		if strings.HasPrefix(line, p) {
			return true
		}
	}
	return false
}

// exitMeaning says what a task program's exit code means, by the lab's
// contract.
func exitMeaning(code int) string {
	switch {
	case code == 0:
		return "a clean shutdown"
	case code == 1:
		return "a runtime error, or a shutdown that had to be forced"
	case code == 2:
		return "a usage error (a bad flag)"
	case code == 128+int(syscall.SIGKILL):
		return "killed (SIGKILL): no program can handle that"
	case code > 128 && code < 128+65:
		sig := syscall.Signal(code - 128)
		return fmt.Sprintf("killed by %v: the program did not handle the signal", sig)
	}
	return "not one of the lab's exit codes (0, 1, 2)"
}

// display draws a running program's events for people, one line each.
type display struct {
	w     io.Writer
	style style

	mu   sync.Mutex
	zero time.Time // the signal, once it has come
	// zeroFrom is what zero is: "the signal", or "shutdown started" when
	// the signal went straight to the program, or there was none.
	zeroFrom string
	// interrupted: a Ctrl+C has come. Through `go tool`, which passes on
	// every signal it gets, this tool hears each Ctrl+C twice.
	interrupted bool
	evs         []events.Event
	lastCode    string // the probes' last answer, to show only changes
	// crashed: the program printed a Go panic or a goroutine dump (a
	// fatal error, SIGQUIT), after which it exits 2 whatever its own
	// exit codes mean.
	crashed bool
}

// readEvents draws each line the program logs until it closes its end.
func (d *display) readEvents(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		ev, ok := events.Parse(line)
		d.mu.Lock()
		if !ok {
			if isCrash(line) {
				d.crashed = true
			}
			fmt.Fprintln(d.w, line)
			d.mu.Unlock()
			continue
		}
		d.evs = append(d.evs, ev)
		if ev.Msg == "shutdown started" && d.zero.IsZero() {
			// The signal went straight to the program (kill -TERM PID),
			// or the program is stopping on its own (a failed start-up):
			// its own word is the best clock there is.
			d.zero, d.zeroFrom = ev.Time, "shutdown started"
		}
		fmt.Fprintln(d.w, d.line(ev))
		d.mu.Unlock()
	}
}

// line is one event for people: when, level, message, then its attributes.
func (d *display) line(ev events.Event) string {
	when := d.style.dim(ev.Time.Local().Format("15:04:05.000"))
	if !d.zero.IsZero() {
		when = fmt.Sprintf("%+.3fs", ev.Time.Sub(d.zero).Seconds())
	}
	var b strings.Builder
	// Pad before colouring: the escape codes have a width of their own.
	fmt.Fprintf(&b, "%-13s %s %s", when, d.style.level(fmt.Sprintf("%-5s", ev.Level)), d.style.bold(ev.Msg))
	for _, a := range ev.Attrs {
		v := a.Value
		if dur, ok := ev.Duration(a.Key); ok && (a.Key == "duration" || strings.HasSuffix(a.Key, "_ns")) {
			v = dur.Round(time.Microsecond).String()
		}
		if strings.ContainsAny(v, " \t") {
			v = fmt.Sprintf("%q", v)
		}
		fmt.Fprintf(&b, "  %s=%s", d.style.dim(a.Key), v)
	}
	return b.String()
}

// signalled marks the signal: time zero from now on. The terminal has
// echoed ^C where the cursor was; end that line so it stands alone.
func (d *display) signalled(s os.Signal) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.zero.IsZero() {
		d.zero, d.zeroFrom = time.Now(), "the signal"
	}
	if s == os.Interrupt && !d.interrupted && d.style.on {
		fmt.Fprintln(d.w) // past the terminal's ^C
	}
	d.interrupted = d.interrupted || s == os.Interrupt
}

// finish prints the last line: how long the shutdown took, what it did,
// and the exit code with its meaning.
func (d *display) finish(dir string, code int, end time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var parts []string
	if !d.zero.IsZero() {
		from := d.zeroFrom
		if from == "" {
			from = "the signal"
		}
		parts = append(parts, fmt.Sprintf("shut down in %.3fs after %s", end.Sub(d.zero).Seconds(), from))
	} else {
		parts = append(parts, "exited with no signal")
	}
	if s := events.Tell(d.evs).Summary(); s != "" {
		parts = append(parts, s)
	}
	meaning := exitMeaning(code)
	if d.crashed && code == 2 {
		meaning = "the Go runtime ended the program (a panic, a fatal error or SIGQUIT): see the trace above"
	}
	verdict := fmt.Sprintf("exit code %d: %s", code, meaning)
	switch {
	case code == 0:
		verdict = d.style.green(verdict)
	default:
		verdict = d.style.red(verdict)
	}
	parts = append(parts, verdict)
	fmt.Fprintf(d.w, "lab: %s %s\n", dir, strings.Join(parts, "; "))
}
