package service_test

// The lab's tests of what goleak alone cannot judge: the service's
// shutdown as its clients, its operator and the program around it see it.
// Each ends with the leak check of lab_test.go all the same.

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"gracefulshutdown.lab/labtest"
)

// TestClientHangUpEndsTheCall: the client hangs up while the quote service
// still hangs; the service's call to the quote service ends with it, long
// before -downstream-timeout, and nothing of it is left after Run.
func TestClientHangUpEndsTheCall(t *testing.T) {
	qs := startQuoteService(t)
	baseline := goleak.IgnoreCurrent()
	s := startService(t, qs.URL)

	ctx, hangUp := context.WithCancel(context.Background())
	defer hangUp()
	resp := s.send(t, ctx, "/?topic="+topicHang)
	if !arrives(qs.calls, topicHang, labtest.StartBound) {
		t.Fatalf("GET /?topic=%s: no call about it reached the quote service within %v.\n%s", topicHang, labtest.StartBound, s.log.Text())
	}
	hangUp()
	<-resp
	// Half the time-out: a call that waits for it is still there.
	if bound := longTimeout / 2; !arrives(qs.callerGone, topicHang, bound) {
		t.Fatalf("the client hung up, and %v later the service's call to the quote service was still waiting; "+
			"want it to end with the client's request. It would have gone on until -downstream-timeout (%v): "+
			"make the call under the request's context (quote's ctx, from r.Context()), "+
			"and build its time-out on that context, not on context.Background().\n%s", bound, longTimeout, s.log.Text())
	}
	s.stop(t)
	checkNoLeaks(t, baseline, s)
}

// TestStatsPhaseWaitsForTheReporter: the stats phase stops the reporter
// and waits until it has left its loop, so that "stats stopped" is logged
// before "phase done" for stats. A phase that cancels and returns at once
// lets the reporter write to Run's log while the shutdown goes on, and
// after Run has returned: whether it still writes when the phase is done
// is a race, about even on each run, so the test stops the service forty
// times.
func TestStatsPhaseWaitsForTheReporter(t *testing.T) {
	qs := startQuoteService(t)
	baseline := goleak.IgnoreCurrent()
	const runs, every = 40, 20 * time.Millisecond
	var s *running
	for run := 1; run <= runs; run++ {
		s = startService(t, qs.URL, "-stats-every", every.String())
		if _, err := s.log.WaitFor("stats", labtest.StartBound, s.done); err != nil {
			t.Fatalf("run %d: %v; want the stats reporter to log \"stats\" every %v.\n%s", run, err, every, s.log.Text())
		}
		s.stop(t)
		stopped, done := s.index("stats stopped", ""), s.index("phase done", "stats")
		switch {
		case done < 0:
			t.Fatalf("run %d: no \"phase done\" with phase=stats; want a phase named stats, that stops the reporter.\n%s", run, s.log.Text())
		case stopped < 0:
			t.Fatalf("run %d: the stats reporter never logged \"stats stopped\"; want it logged as the reporter leaves its loop.\n%s", run, s.log.Text())
		case stopped > done:
			t.Fatalf("run %d of %d: the stats phase was done before the reporter had logged \"stats stopped\": "+
				"the phase cancelled it and returned without waiting, so the reporter goes on after its phase, and can "+
				"write to Run's log after Run has returned. Want the phase to wait until the goroutine has ended "+
				"(close a done channel as it leaves; the phase waits for it, or for its own deadline).\n%s", run, runs, s.log.Text())
		}
	}
	checkNoLeaks(t, baseline, s)
}

// TestStatsAndSIGUSR1GoOnDuringTheDrain: a request is still in flight after
// the signal, so the HTTP server's drain waits for it; meanwhile the stats
// reporter still logs, and SIGUSR1 still switches the log level. An
// operator looking into a slow drain needs both; they stop in their
// phases, after the server's.
func TestStatsAndSIGUSR1GoOnDuringTheDrain(t *testing.T) {
	qs := startQuoteService(t)
	baseline := goleak.IgnoreCurrent()
	// Phases long enough that the drain outlasts the test's looking.
	s := startService(t, qs.URL, "-phase-timeout", "5s", "-shutdown-timeout", "9s")

	resp := s.send(t, context.Background(), "/?topic="+topicSlow)
	if !arrives(qs.calls, topicSlow, labtest.StartBound) {
		t.Fatalf("GET /?topic=%s: no call about it reached the quote service within %v.\n%s", topicSlow, labtest.StartBound, s.log.Text())
	}
	s.cancel() // the signal, as main has it
	if _, err := s.log.WaitFor("draining server", labtest.StartBound, s.done); err != nil {
		t.Fatalf("%v; want the HTTP server's drain to start, and wait for the request in flight.\n%s", err, s.log.Text())
	}
	const bound = 3 * time.Second
	if err := s.waitForNew("stats", s.log.Events(), bound); err != nil {
		t.Fatalf("during the drain, with a request still in flight: %v, though it logs every %v. "+
			"Want the stats reporter to go on until its own phase, after the server's: it should watch a context "+
			"of its own that its phase cancels, not Run's, which ends at the signal.\n%s", err, statsEvery, s.log.Text())
	}
	before := s.log.Events()
	sendSIGUSR1(t)
	if err := s.waitForNew("log level", before, bound); err != nil {
		t.Fatalf("SIGUSR1 during the drain, with a request still in flight: %v. "+
			"Want the SIGUSR1 watcher to go on until its own phase, after the server's, so that an operator can "+
			"switch to DEBUG to see what the drain waits for: it should stop when its phase tells it, not at the signal.\n%s", err, s.log.Text())
	}
	qs.answerSlowCalls()
	if r := <-resp; r.Err != nil || r.Status != http.StatusOK {
		t.Fatalf("the request in flight at the signal got %v; want 200 once the quote service answered.\n%s", r, s.log.Text())
	}
	s.stop(t)
	checkNoLeaks(t, baseline, s)
}

// TestStoppingOneServiceLeavesTheOtherAlone: a program runs two services
// and stops one. The other keeps what is its own: its SIGUSR1, and its
// connection to its quote service. (Run shares the process with whatever
// else runs in it, and must take back only what it took.)
func TestStoppingOneServiceLeavesTheOtherAlone(t *testing.T) {
	qsA, qsB := startQuoteService(t), startQuoteService(t)
	baseline := goleak.IgnoreCurrent()
	a := startService(t, qsA.URL)
	b := startService(t, qsB.URL)
	for _, s := range []*running{a, b} {
		if r := s.get(t, "/?topic=goroutines"); r.Err != nil || r.Status != http.StatusOK {
			t.Fatalf("GET /?topic=goroutines got %v; want 200.\n%s", r, s.log.Text())
		}
	}
	a.stop(t)

	before := b.log.Events()
	sendSIGUSR1(t)
	if err := b.waitForNew("log level", before, 3*time.Second); err != nil {
		t.Fatalf("after another service in the same process stopped, SIGUSR1 no longer reached this one: %v. "+
			"Stopping a service must take out only its own channel, with signal.Stop(sigs); "+
			"signal.Reset(syscall.SIGUSR1) takes out every channel of the process, this one's and the program's own.\n%s", err, b.log.Text())
	}
	if r := b.get(t, "/?topic=goroutines"); r.Err != nil || r.Status != http.StatusOK {
		t.Fatalf("GET /?topic=goroutines got %v; want 200.\n%s", r, b.log.Text())
	}
	if n := qsB.connections.Load(); n != 1 {
		t.Fatalf("the service still running opened %d connections to its quote service for two quotes, one before and one after "+
			"another service in the same process stopped; want 1, kept open between them. Stopping the other service closed "+
			"this one's idle connection: they share a connection pool, http.DefaultTransport (http.DefaultClient, or a "+
			"Client with no Transport of its own). Give each client a Transport of its own, and close only that.\n%s", n, b.log.Text())
	}
	b.stop(t)
	checkNoLeaks(t, baseline, b)
}

// send sends GET path to the service under ctx, and delivers the response
// on the channel it returns.
func (s *running) send(t *testing.T, ctx context.Context, path string) <-chan labtest.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return labtest.Do(req, longTimeout+10*time.Second)
}

// waitForNew waits until the service logs msg, other than the events it
// had logged in before.
func (s *running) waitForNew(msg string, before []labtest.Event, within time.Duration) error {
	old := map[string]bool{}
	for _, ev := range before {
		old[fmt.Sprintf("%p", ev)] = true
	}
	_, err := s.log.WaitForMatch(fmt.Sprintf("%q", msg), func(ev labtest.Event) bool {
		return ev.Msg() == msg && !old[fmt.Sprintf("%p", ev)]
	}, within, s.done)
	return err
}

// index is the position in the log of the first event with message msg
// (and, unless phase is empty, that phase), or -1.
func (s *running) index(msg, phase string) int {
	for i, ev := range s.log.Events() {
		if ev.Msg() == msg && (phase == "" || ev.Str("phase") == phase) {
			return i
		}
	}
	return -1
}

// sendSIGUSR1 sends SIGUSR1 to this process, as an operator's kill -USR1
// would: every channel that signal.Notify registered for it gets it.
func sendSIGUSR1(t *testing.T) {
	t.Helper()
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
}
