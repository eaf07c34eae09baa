//go:build promtool

// This test needs Prometheus' promtool (Debian: apt-get install prometheus),
// so it runs only with the build tag: go test -tags promtool -run TestPromtool.

package main

import (
	"bytes"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"gracefulshutdown.lab/labtest"
)

// TestPromtoolFindsNoLintProblems: the last scrape of a shutdown in which a
// drain was forced, so that every series exists, passes
// `promtool check metrics`, Prometheus' own linter for metric and label
// names, units, _total counters and help texts, with nothing to report.
func TestPromtoolFindsNoLintProblems(t *testing.T) {
	t.Parallel()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool is not on PATH (%v): install Prometheus' tools (Debian: apt-get install prometheus), "+
			"or run the tests without -tags promtool.", err)
	}
	s := start(t, "-delay", "20s", "-phase-timeout", "300ms")
	resp := s.slowRequest()
	s.Signal(syscall.SIGTERM)
	for _, phase := range []string{"readiness", "api server"} {
		s.phaseEnd(phase)
	}
	s.WaitFor("lingering", budget+margin)
	// The exposition exactly as a scrape gets it, text format.
	r := <-labtest.Get("http://"+s.admin+"/metrics", 10*time.Second)
	if r.Err != nil || r.Status != 200 {
		t.Fatalf("GET /metrics while the admin listener lingers got %v; want 200.\n%s", shorten(r), s.Transcript())
	}
	// A lint of nothing passes: the phase metrics must be there to be
	// linted, or this test would pass on a program that has none.
	for _, family := range []string{"shutdown_phase_duration_seconds", "shutdown_phase_started_total", "shutdown_phase_failed_total"} {
		if !strings.Contains(r.Body, "# TYPE "+family+" ") {
			t.Fatalf("the last scrape has no %s, so there is nothing of the task's to lint; want the three phase metrics.\n%s", family, s.Transcript())
		}
	}

	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(r.Body)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil || strings.TrimSpace(out.String()) != "" {
		t.Fatalf("promtool check metrics on the last scrape: %v\n%s\nwant no findings: fix each metric it names.\n%s",
			err, out.String(), s.Transcript())
	}
	s.exit(1, "the drain was forced")
	<-resp // cut off by the forced close; nothing to check
}
