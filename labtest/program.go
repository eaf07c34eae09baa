package labtest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// StartBound is how long a program may take to log "listening". It is
// generous because the race detector and a busy machine slow start-up; a
// healthy program needs a few milliseconds.
const StartBound = 10 * time.Second

// Program is the task's program running as a child process.
type Program struct {
	t    testing.TB
	cmd  *exec.Cmd
	log  *EventLog
	out  *syncBuffer // stdout, kept for failure messages
	done chan struct{}
	err  error // from cmd.Wait, valid once done is closed
}

// Start runs the task's program with args, the way a person would from a
// terminal, and stops it when the test ends if it is still running. The
// program's standard error is read as JSON log events, so pass
// "-log-format", "json".
func Start(t testing.TB, args ...string) *Program {
	t.Helper()
	return StartEnv(t, nil, args...)
}

// StartEnv is Start with extra environment variables ("KEY=value"), which
// override the test's own: StartEnv(t, []string{"DATABASE_URL=..."}, ...).
func StartEnv(t testing.TB, env []string, args ...string) *Program {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatalf("cannot find the test binary to re-run as the program: %v", err)
	}
	cmd := exec.Command(exe, args...)
	// Under -race the runtime sleeps a second before exiting by default
	// (GORACE atexit_sleep_ms); a program under test must exit when it says.
	gorace := strings.TrimSpace(os.Getenv("GORACE") + " atexit_sleep_ms=0")
	cmd.Env = append(append(os.Environ(), env...), childEnv+"=1", "GORACE="+gorace)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatalf("stderr pipe: %v", err)
	}
	p := &Program{t: t, cmd: cmd, log: newEventLog(), out: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout = p.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("cannot start the program: %v", err)
	}
	go func() {
		p.log.read(stderr)
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// Log is everything the program has logged so far.
func (p *Program) Log() *EventLog { return p.log }

// Stdout is what the program has written to its standard output so far
// (its log goes to standard error): a usage text, an exporter's output.
func (p *Program) Stdout() string { return p.out.String() }

// WaitFor returns the first event with message msg, waiting up to within for
// it. If the program exits or the time runs out first, the test fails with
// what the program did log.
func (p *Program) WaitFor(msg string, within time.Duration) Event {
	p.t.Helper()
	ev, err := p.log.WaitFor(msg, within, p.done)
	if err != nil {
		p.t.Fatalf("%v\n%s", err, p.Transcript())
	}
	return ev
}

// WaitForMatch returns the first event that match accepts, waiting up to
// within for it, as WaitFor does; what describes such an event for the
// failure message, e.g. `"listening" with server="metrics"`.
func (p *Program) WaitForMatch(what string, within time.Duration, match func(Event) bool) Event {
	p.t.Helper()
	ev, err := p.log.WaitForMatch(what, match, within, p.done)
	if err != nil {
		p.t.Fatalf("%v\n%s", err, p.Transcript())
	}
	return ev
}

// Listening waits for the "listening" event and returns the address the
// program bound (tests pass -addr 127.0.0.1:0, so this is the real port).
func (p *Program) Listening() string {
	p.t.Helper()
	ev := p.WaitFor("listening", StartBound)
	addr := ev.Str("addr")
	if addr == "" {
		p.t.Fatalf("the \"listening\" event has no addr attribute; log the address you bound, e.g. slog.Info(\"listening\", \"addr\", ln.Addr().String())\n%s", p.Transcript())
	}
	return addr
}

// Signal sends sig to the program, as Ctrl+C (SIGINT) or an orchestrator
// (SIGTERM) would.
func (p *Program) Signal(sig syscall.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("cannot send %v to the program: %v (did it exit already?)\n%s", sig, err, p.Transcript())
	}
}

// Exited reports whether the program has exited, and its exit code if so.
func (p *Program) Exited() (code int, exited bool) {
	select {
	case <-p.done:
		return p.exitCode(), true
	default:
		return 0, false
	}
}

// ExitWithin waits up to within for the program to exit and returns its
// exit code. A program still running then is killed, and the test fails
// with why that matters.
func (p *Program) ExitWithin(within time.Duration, why string) int {
	p.t.Helper()
	select {
	case <-p.done:
		return p.exitCode()
	case <-time.After(within):
		_ = p.cmd.Process.Kill()
		<-p.done
		p.t.Fatalf("the program was still running %v later, so it was killed: %s\n%s", within, why, p.Transcript())
		return -1
	}
}

// Done is closed when the program has exited.
func (p *Program) Done() <-chan struct{} { return p.done }

func (p *Program) exitCode() int {
	var exitErr *exec.ExitError
	switch {
	case p.err == nil:
		return 0
	case errors.As(p.err, &exitErr):
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return exitErr.ExitCode()
	default:
		return -1
	}
}

// transcriptWait is how long Transcript gives a program that is still
// running to exit before it reports: a program that is dying (just
// signalled, killed, or failing a test's deadline) finishes its last lines
// and its exit within it, and one that is not dying costs a failure message
// only this much.
const transcriptWait = 500 * time.Millisecond

// Transcript is what the program printed and how it ended, for failure
// messages. It first waits, briefly, for a program that is still running to
// exit, so that the transcript ends with its last events and its exit code
// rather than stopping short of them.
func (p *Program) Transcript() string {
	select {
	case <-p.done:
	case <-time.After(transcriptWait):
		// A program that has logged "exited" is past its last line and
		// only ending (the race runtime's bookkeeping can take a moment
		// on a busy machine): give it longer, so the transcript does not
		// show "exited" and "still running" together.
		if p.log.Has("exited") {
			select {
			case <-p.done:
			case <-time.After(4 * transcriptWait):
			}
		}
	}
	var b strings.Builder
	logged := p.log.Text()
	if strings.Contains(logged, raceWarning) {
		// First, since a race report is long and a failure message may be
		// shown cut: whatever the test saw, this is the bug to fix.
		b.WriteString(raceHeadline)
	}
	b.WriteString("--- what the program logged (standard error) ---\n")
	b.WriteString(logged)
	if out := p.out.String(); out != "" {
		b.WriteString("--- standard output ---\n")
		b.WriteString(out)
	}
	if code, exited := p.Exited(); exited {
		fmt.Fprintf(&b, "--- exit code %d%s ---", code, describeExit(code))
	} else {
		b.WriteString("--- (still running) ---")
	}
	return b.String()
}

// raceWarning starts each report of the race detector.
const raceWarning = "WARNING: DATA RACE"

// raceHeadline explains a race report to someone who has not read one.
const raceHeadline = "--- the race detector found a data race, and exits 66 for it: two goroutines used one variable, " +
	"at least one writing, with nothing ordering them. Its report below names both lines (\"Write at\", \"Previous read at\"). " +
	"Hand the value over on a channel, or guard it with a sync.Mutex or a sync/atomic type ---\n"

func describeExit(code int) string {
	switch code {
	case 128 + int(syscall.SIGINT), 128 + int(syscall.SIGTERM):
		return ": killed by the signal itself, the program did not handle it"
	case 128 + int(syscall.SIGKILL):
		return ": killed"
	case 66:
		return ": the race detector found a data race (see the WARNING: DATA RACE above)"
	default:
		return ""
	}
}

// syncBuffer is a bytes.Buffer safe for the process's writer and the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// scanLines calls fn for each line of r until r ends.
func scanLines(r interface{ Read([]byte) (int, error) }, fn func(line string)) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fn(sc.Text())
	}
}
