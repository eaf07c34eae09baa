//go:build unix

package main

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// launcher is this package built once, for the tests to run as a process.
var launcher = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "lab-launcher-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "lab")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", errors.New(string(out))
	}
	return bin, nil
})

// checkout is a folder the launcher takes for a lab checkout.
func checkout(t *testing.T) string {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "scripts"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"go.work", "scripts/go.mod"} {
		if err := os.WriteFile(filepath.Join(root, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// launch starts the launcher in dir with the stand-in go command, building
// as mode says, and returns the command, started, and its standard error.
func launch(t *testing.T, dir, mode string, env ...string) (*exec.Cmd, *bufio.Scanner, *strings.Builder) {
	t.Helper()
	bin, err := launcher()
	if err != nil {
		t.Fatalf("building the launcher: %v", err)
	}
	fake, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "check", "1")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), append(env, "PATH="+fake+string(os.PathListSeparator)+os.Getenv("PATH"), "FAKE_GO="+mode)...)
	stdout := &strings.Builder{}
	cmd.Stdout = stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return cmd, bufio.NewScanner(stderr), stdout
}

// finish reads the rest of standard error and waits for the exit code.
func finish(t *testing.T, cmd *exec.Cmd, stderr *bufio.Scanner) (int, []string) {
	t.Helper()
	var lines []string
	for stderr.Scan() {
		lines = append(lines, stderr.Text())
	}
	err := cmd.Wait()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), lines
}

// An up-to-date tool starts at once and in silence, and its exit code is
// the command's.
func TestWarmStartIsSilentAndTheToolsExitCodeIsKept(t *testing.T) {
	cmd, stderr, stdout := launch(t, checkout(t), "warm")
	code, lines := finish(t, cmd, stderr)
	if len(lines) > 0 {
		t.Errorf("the launcher said %q with the tool up to date; want nothing", lines)
	}
	if got := stdout.String(); got != "tool ran with: check 1\n" {
		t.Errorf("standard output %q; want the tool's own, run with the launcher's arguments", got)
	}
	if code != 3 {
		t.Errorf("exit code %d; want the tool's 3", code)
	}
}

// A build says what it is and how it went, and then the tool runs.
func TestBuildSaysWhatItIsDoing(t *testing.T) {
	cmd, stderr, stdout := launch(t, checkout(t), "cold")
	code, lines := finish(t, cmd, stderr)
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "lab: building the lab tool, once") {
		t.Fatalf("the launcher said %q; want it to begin with what it is building", lines)
	}
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "lab: built the lab tool in ") {
		t.Errorf("its last line is %q; want how long the build took", last)
	}
	if code != 3 || stdout.String() != "tool ran with: check 1\n" {
		t.Errorf("exit code %d, output %q; want the tool run once it is built", code, stdout.String())
	}
}

// A build that compiles in silence for longer than a moment is announced
// while it is still going.
func TestSilentBuildIsAnnouncedBeforeItEnds(t *testing.T) {
	gate := filepath.Join(t.TempDir(), "gate")
	if err := syscall.Mkfifo(gate, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd, stderr, _ := launch(t, checkout(t), "silent", "FAKE_GO_GATE="+gate)
	// The build cannot end before the gate opens, so a line now was said
	// during it. The gate opens in any case, so that a launcher that says
	// nothing fails here instead of hanging.
	said := make(chan string, 1)
	go func() {
		if stderr.Scan() {
			said <- stderr.Text()
		}
		close(said)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var first string
	select {
	case first = <-said:
	case <-ctx.Done():
		t.Error("the launcher said nothing within 10 s while the build went on")
	}
	gateFile, err := os.OpenFile(gate, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	gateFile.WriteString("go\n")
	gateFile.Close()
	if first != "" && !strings.HasPrefix(first, "lab: building the lab tool, once") {
		t.Errorf("the launcher's first line is %q; want what it is building", first)
	}
	if code, _ := finish(t, cmd, stderr); code != 3 {
		t.Errorf("exit code %d; want the tool's 3 once the build ended", code)
	}
}

// Sources that do not compile are reported in go build's words, with exit
// code 1, and nothing runs.
func TestToolThatDoesNotCompileIsReported(t *testing.T) {
	cmd, stderr, stdout := launch(t, checkout(t), "broken")
	code, lines := finish(t, cmd, stderr)
	text := strings.Join(lines, "\n")
	if !strings.Contains(text, "lab: could not build the lab tool") || !strings.Contains(text, "syntax error: non-declaration statement") {
		t.Errorf("the launcher said %q; want that the tool did not build, and the compiler's error", text)
	}
	if code != 1 || stdout.Len() > 0 {
		t.Errorf("exit code %d, output %q; want 1 and nothing run", code, stdout.String())
	}
}

// Outside a checkout the launcher says where it looked, with exit code 2.
func TestOutsideACheckoutIsAUsageError(t *testing.T) {
	cmd, stderr, _ := launch(t, t.TempDir(), "warm")
	code, lines := finish(t, cmd, stderr)
	if code != 2 || len(lines) != 1 || !strings.Contains(lines[0], "no lab checkout") {
		t.Errorf("exit code %d, said %q; want 2 and one line saying there is no checkout here", code, lines)
	}
}

func TestImportPathsAreToldFromMessages(t *testing.T) {
	for line, want := range map[string]bool{
		"net/http":                         true,
		"gracefulshutdown.lab/scripts":     true,
		"go: downloading golang.org/x/mod": false,
		"# gracefulshutdown.lab/scripts":   false,
		"main.go:3:1: syntax error":        false,
		"":                                 false,
	} {
		if got := isImportPath(line); got != want {
			t.Errorf("isImportPath(%q) = %v; want %v", line, got, want)
		}
	}
}
