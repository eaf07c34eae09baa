package lab

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
)

// goTestWork reports whether this test runs under `go test work`, which
// runs every workspace module's own tests: the grade there would run the
// whole lab a second time, slowly, among them. The test binary's parent is
// the go command, so its arguments say which patterns were asked for.
func goTestWork() bool {
	args := parentArgs()
	i := slices.Index(args, "test")
	if i < 0 {
		return false
	}
	return slices.Contains(testPatterns(args[i+1:]), "work")
}

// parentArgs is the parent process's command line, or nil if it cannot be
// read: /proc on Linux, ps on macOS.
func parentArgs() []string {
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", os.Getppid())); err == nil {
		return strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	}
	out, err := exec.Command("ps", "-o", "args=", "-p", fmt.Sprint(os.Getppid())).Output()
	if err != nil {
		return nil
	}
	return strings.Fields(string(bytes.TrimSpace(out)))
}

// boolFlags are the go test and build flags that take no value.
var boolFlags = map[string]bool{
	"a": true, "asan": true, "benchmem": true, "cover": true, "failfast": true, "json": true,
	"linkshared": true, "msan": true, "n": true, "race": true, "short": true, "trimpath": true,
	"v": true, "work": true, "x": true,
}

// testPatterns is the package patterns among go test's arguments: what is
// left once flags and their values are taken out.
func testPatterns(args []string) []string {
	var patterns []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "-args" || a == "--" {
			break
		}
		if !strings.HasPrefix(a, "-") {
			patterns = append(patterns, a)
			continue
		}
		name := strings.TrimLeft(a, "-")
		if !strings.Contains(name, "=") && !boolFlags[name] {
			i++ // the flag's value
		}
	}
	return patterns
}
