package main

import (
	"syscall"
	"testing"
	"time"

	"gracefulshutdown.lab/labtest"
)

// TestMain lets each test start this very program as a real process (see
// labtest.Start) and checks that no test leaves a goroutine behind.
func TestMain(m *testing.M) { labtest.Main(m, main) }

// start runs the program on a free port with the given request delay and
// returns it with the address it bound.
func start(t *testing.T, delay time.Duration) (*labtest.Program, string) {
	t.Helper()
	p := labtest.Start(t, "-addr", "127.0.0.1:0", "-delay", delay.String(), "-log-format", "json")
	return p, p.Listening()
}

// TestInFlightRequestFinishes: a request that is being served when the
// signal arrives still gets its "hello", and then the process exits 0.
func TestInFlightRequestFinishes(t *testing.T) {
	for name, sig := range map[string]syscall.Signal{"SIGINT": syscall.SIGINT, "SIGTERM": syscall.SIGTERM} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			const delay = 300 * time.Millisecond
			p, addr := start(t, delay)

			resp := labtest.Get("http://"+addr+"/", delay+10*time.Second)
			p.WaitFor("request started", labtest.StartBound)
			p.Signal(sig)

			r := <-resp
			if r.Err != nil || r.Status != 200 || r.Body != "hello\n" {
				t.Fatalf("the request in flight when %s arrived got %v; want 200 \"hello\\n\".\n"+
					"Catch the signal with signal.NotifyContext and call srv.Shutdown, which waits for requests in flight.\n%s",
					name, r, p.Transcript())
			}
			code := p.ExitWithin(5*time.Second, "after Shutdown returns, run should return so that main can exit")
			if code != 0 {
				t.Fatalf("exit code %d after a clean shutdown; want 0.\n%s", code, p.Transcript())
			}
			for _, msg := range []string{"shutdown started", "exited"} {
				if !p.Log().Has(msg) {
					t.Errorf("the program never logged %q; log it so that people watching can follow the shutdown.", msg)
				}
			}
		})
	}
}

// TestNewConnectionsRefusedDuringDrain: once the signal has arrived, the
// server stops accepting connections even while it finishes old requests,
// so a load balancer or client retries elsewhere.
func TestNewConnectionsRefusedDuringDrain(t *testing.T) {
	t.Parallel()
	const delay = 600 * time.Millisecond
	p, addr := start(t, delay)

	resp := labtest.Get("http://"+addr+"/", delay+10*time.Second)
	p.WaitFor("request started", labtest.StartBound)
	p.Signal(syscall.SIGTERM)
	p.WaitFor("shutdown started", 5*time.Second)

	// "shutdown started" comes just before Shutdown closes the listener, so
	// keep dialling: a refusal must come while the old request is in flight.
	poll := time.NewTicker(5 * time.Millisecond)
	defer poll.Stop()
	for {
		err := labtest.Dial(addr)
		if labtest.Refused(err) {
			break
		}
		select {
		case r := <-resp:
			t.Fatalf("new connections were still %s when the request in flight finished (%v); want them refused from the start of the drain.\n"+
				"srv.Shutdown closes the listener first, then waits for requests in flight.\n%s", describeDial(err), r, p.Transcript())
		case <-poll.C:
		}
	}
	if r := <-resp; r.Err != nil || r.Status != 200 {
		t.Errorf("the request in flight got %v; want 200 \"hello\\n\".\n%s", r, p.Transcript())
	}
	p.ExitWithin(5*time.Second, "the drain should end when the last request is done")
}

// TestIdleServerExitsPromptly: with nothing in flight there is nothing to
// wait for, so the process exits within a second of the signal.
func TestIdleServerExitsPromptly(t *testing.T) {
	t.Parallel()
	p, _ := start(t, 2*time.Second)

	sent := time.Now()
	p.Signal(syscall.SIGTERM)
	code := p.ExitWithin(time.Second, "an idle server has nothing to drain; does run return once Shutdown does?")
	if code != 0 {
		t.Fatalf("exit code %d after SIGTERM on an idle server; want 0.\n%s", code, p.Transcript())
	}
	if !p.Log().Has("exited") {
		t.Errorf("exited after %v without logging \"exited\"; log it as the last thing run does.", time.Since(sent).Round(time.Millisecond))
	}
}

// TestBadFlagsExitTwo: a mistake on the command line is a usage error: one
// line that says what is wrong, and exit code 2, before anything listens.
func TestBadFlagsExitTwo(t *testing.T) {
	t.Parallel()
	labtest.ExpectUsageErrors(t, [][]string{
		{"-delay", "-1s"},
		{"-delay", "soon"},
		{"-addr", "8080"},
		{"-log-format", "xml"},
	})
}

func describeDial(err error) string {
	if err == nil {
		return "accepted"
	}
	return err.Error()
}
