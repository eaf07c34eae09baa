// Package labtest is what every task's tests share: it starts the task's
// program as a real process, reads the events it logs, and talks to it over
// real connections, so that each main_test.go can read like the task's
// specification.
package labtest

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// childEnv marks a process started by Start: in it, the test binary is the
// task's program and runs main instead of the tests.
const childEnv = "GRACEFUL_LAB_PROGRAM"

// Main is a task's TestMain. In a process started by Start it runs the
// program's main, so the program under test is exactly the code that go test
// compiled (overlays included) and no toolchain runs inside a test.
// Otherwise it runs the tests and then fails the run if any goroutine is
// left behind.
func Main(m *testing.M, program func()) {
	if os.Getenv(childEnv) == "1" {
		program()
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}
