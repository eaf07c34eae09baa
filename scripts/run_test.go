package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestRunDrawsEventsForPeople feeds the display a program's JSON lines and
// a signal, as run does, and reads what a person sees.
func TestRunDrawsEventsForPeople(t *testing.T) {
	var out bytes.Buffer
	d := &display{w: &out}
	zero := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	d.readEvents(strings.NewReader(`{"time":"2026-11-26T11:59:59Z","level":"INFO","msg":"listening","addr":"127.0.0.1:8080"}
panic: something that is not JSON
`))
	d.zero, d.zeroFrom = zero, "the signal" // the ^C, as signalled would mark it
	d.readEvents(strings.NewReader(`{"time":"2026-11-26T12:00:00.001Z","level":"INFO","msg":"shutdown started"}
{"time":"2026-11-26T12:00:05.002Z","level":"ERROR","msg":"forced close","err":"context deadline exceeded"}
{"time":"2026-11-26T12:00:05.004Z","level":"INFO","msg":"exited","code":1}
`))
	d.finish("task02-deadline", 1, zero.Add(5006*time.Millisecond))
	got := out.String()
	for _, want := range []string{
		"listening  addr=127.0.0.1:8080",
		"panic: something that is not JSON",
		"+0.001s",
		"+5.002s       ERROR forced close  err=\"context deadline exceeded\"",
		"lab: task02-deadline shut down in 5.006s after the signal; requests were cut off (forced close); exit code 1: a runtime error, or a shutdown that had to be forced",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("run's display has no %q:\n%s", want, got)
		}
	}
	if lines := strings.Split(strings.TrimSpace(got), "\n"); !strings.HasPrefix(lines[len(lines)-1], "lab: ") {
		t.Errorf("the last line is %q, want run's summary", lines[len(lines)-1])
	}
}

func TestRunNeverClaimsMoreThanTheEventsSay(t *testing.T) {
	var out bytes.Buffer
	d := &display{w: &out}
	d.readEvents(strings.NewReader(`{"time":"2026-11-26T12:00:00Z","level":"INFO","msg":"shutdown started"}
{"time":"2026-11-26T12:00:00.5Z","level":"INFO","msg":"exited"}
`))
	d.finish("task13-kafka-flush", 0, time.Date(2026, 11, 26, 12, 0, 1, 0, time.UTC))
	got := out.String()
	if strings.Contains(got, "drained") || !strings.Contains(got, "no forced close") {
		t.Errorf("run's last line is:\n%s\nwant it to say what the events show (no forced close), not that everything was drained: a program can lose work without logging it", got)
	}
	if !strings.Contains(got, "after shutdown started") {
		t.Errorf("with no signal seen, run's last line is:\n%s\nwant the time counted from \"shutdown started\", and said so", got)
	}
}

func TestRunSaysWhenTheProgramCrashed(t *testing.T) {
	var out bytes.Buffer
	d := &display{w: &out}
	d.readEvents(strings.NewReader("SIGQUIT: quit\nPC=0x4721e1 m=0 sigcode=0\n\ngoroutine 1 [select]:\n"))
	d.finish("task18-goleak", 2, time.Now())
	if got := out.String(); !strings.Contains(got, "exit code 2: the Go runtime ended the program") {
		t.Errorf("after a goroutine dump, run's last line is:\n%s\nwant it to say the runtime ended the program, not a usage error", got)
	}
}

func TestExitMeanings(t *testing.T) {
	for code, want := range map[int]string{
		0:   "clean",
		1:   "forced",
		2:   "usage",
		130: "killed by interrupt: the program did not handle the signal",
		143: "killed by terminated",
		137: "SIGKILL",
	} {
		if got := exitMeaning(code); !strings.Contains(got, want) {
			t.Errorf("exitMeaning(%d) = %q, want it to say %q", code, got, want)
		}
	}
}
