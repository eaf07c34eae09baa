package main

import (
	"net"
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
// signal arrives still gets its "hello", and then the process exits 0. The
// request takes the program's default delay, as when you try it by hand: in
// task 1 nothing may cut it short, not even a deadline of your own.
func TestInFlightRequestFinishes(t *testing.T) {
	for name, sig := range map[string]syscall.Signal{"SIGINT": syscall.SIGINT, "SIGTERM": syscall.SIGTERM} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			const delay = 2 * time.Second
			p, addr := start(t, delay)

			resp := labtest.Get("http://"+addr+"/", delay+10*time.Second)
			started := labtest.EventTime(t, p.WaitFor("request started", labtest.StartBound))
			p.Signal(sig)

			r := <-resp
			if r.Err != nil || r.Status != 200 || r.Body != "hello\n" {
				why := "Catch the signal with signal.NotifyContext and call srv.Shutdown, which waits for requests in flight."
				if p.Log().Has("shutdown started") {
					why = "The signal was caught (\"shutdown started\"), but the request was still cut: srv.Shutdown must run to its end, " +
						"with no deadline of its own in task 1 (context.Background(); this request takes " + delay.String() + "), " +
						"and run must neither return nor call srv.Close before Shutdown has returned."
				}
				t.Fatalf("the request in flight when %s arrived got %v; want 200 \"hello\\n\".\n%s\n%s",
					name, r, why, p.Transcript())
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
			// The handler sleeps delay after "request started", so a drain
			// that is over cannot end sooner.
			if i := p.Log().Index("exited"); i >= 0 {
				if at := labtest.EventTime(t, p.Log().Events()[i]); at.Sub(started) < delay {
					t.Errorf("the program logged \"exited\" %v after the request started, before its %v handler could have answered; "+
						"want \"exited\" last, once Shutdown has returned. A deferred srv.Shutdown runs after the log line, not before it.\n%s",
						at.Sub(started).Round(time.Millisecond), delay, p.Transcript())
				}
			}
		})
	}
}

// TestEveryRequestInFlightIsAnswered: with many requests in flight, each
// one gets its answer before the process exits. A handler that has
// returned has not yet answered: net/http sends the response after it, and
// Shutdown waits until it has.
func TestEveryRequestInFlightIsAnswered(t *testing.T) {
	t.Parallel()
	const delay = 200 * time.Millisecond
	const clients = 20
	p, addr := start(t, delay)

	answers := make([]<-chan labtest.Response, clients)
	for i := range answers {
		answers[i] = labtest.Get("http://"+addr+"/", delay+10*time.Second)
	}
	waitForCount(t, p, "request started", clients, labtest.StartBound)
	p.Signal(syscall.SIGTERM)
	cut := 0
	var first labtest.Response
	for _, a := range answers {
		if r := <-a; r.Err != nil || r.Status != 200 || r.Body != "hello\n" {
			if cut == 0 {
				first = r
			}
			cut++
		}
	}
	if cut > 0 {
		t.Fatalf("%d of %d requests in flight when SIGTERM arrived got no answer (the first: %v); want 200 \"hello\\n\" for each.\n"+
			"A handler that has returned has not answered yet: net/http sends the response after it. Block on srv.Shutdown, which waits until every "+
			"connection is done; a WaitGroup around the handler, or any wait of your own, lets the process exit before the last answers are sent.\n%s",
			cut, clients, first, p.Transcript())
	}
	if code := p.ExitWithin(5*time.Second, "the drain should end when the last answer is sent"); code != 0 {
		t.Fatalf("exit code %d after a clean shutdown; want 0.\n%s", code, p.Transcript())
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

// TestAddressTakenFails: a server that cannot listen has failed on its own,
// before any signal: the program says so and exits 1 at once, so that a
// person or a supervisor sees it, instead of sitting there serving nothing.
func TestAddressTakenFails(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("cannot take a port for the test: %v", err)
	}
	defer taken.Close()
	p := labtest.Start(t, "-addr", taken.Addr().String(), "-log-format", "json")

	code := p.ExitWithin(labtest.StartBound, "with the address taken, Serve fails at once; "+
		"select on its error as well as on ctx.Done(), log \"server failed\" and return 1")
	if code != 1 {
		t.Fatalf("exit code %d with the address taken; want 1 (a runtime error).\n%s", code, p.Transcript())
	}
	if evs := p.Log().AtLevel("ERROR"); len(evs) == 0 || evs[0].Msg() != "server failed" {
		t.Errorf("with the address taken, the program logged no ERROR \"server failed\"; want one, with the error, so that whoever reads the log knows why it stopped.\n%s", p.Transcript())
	}
	if p.Log().Has("exited") {
		t.Errorf("the program logged \"exited\" after failing to listen; \"exited\" is the end of a clean shutdown, want only \"server failed\".\n%s", p.Transcript())
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

// waitForCount waits until the program has logged msg n times.
func waitForCount(t *testing.T, p *labtest.Program, msg string, n int, within time.Duration) {
	t.Helper()
	deadline := time.After(within)
	poll := time.NewTicker(5 * time.Millisecond)
	defer poll.Stop()
	for p.Log().Count(msg) < n {
		select {
		case <-poll.C:
		case <-p.Done():
			t.Fatalf("the program exited after logging %q %d times; want %d.\n%s", msg, p.Log().Count(msg), n, p.Transcript())
		case <-deadline:
			t.Fatalf("the program logged %q %d times within %v; want %d.\n%s", msg, p.Log().Count(msg), within, n, p.Transcript())
		}
	}
}

func describeDial(err error) string {
	if err == nil {
		return "accepted"
	}
	return err.Error()
}
