package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"gracefulshutdown.lab/labtest"
)

// TestMain decides what this process is, as in task 10. Run plainly, it
// runs the tests and then fails the run if any goroutine is left behind
// (goleak). Started again by labtest.Start, it is the program: main parses
// the command line the test gave it and serves. The program under test is
// exactly the code go test compiled, -race and -overlay included.
func TestMain(m *testing.M) { labtest.Main(m, main) }

// The scenario: the task sheet's downstream, 20 s to answer, far past any
// deadline; a service configured with small durations, so that the test
// runs in a few seconds.
const (
	downstreamDelay = 20 * time.Second
	// No drain delay: there is no load balancer to wait for, and the drain
	// begins at the signal, so its deadline is -phase-timeout after it.
	drainDelay   = 0 * time.Second
	phaseTimeout = 500 * time.Millisecond
	// deadline is when the drain gives up and falls back to Close, from
	// the signal.
	deadline = drainDelay + phaseTimeout
	// The admin listener stays up this long after the drain, long enough
	// to read /metrics once more.
	linger = time.Second
	// The whole shutdown's budget: the least the service accepts, its
	// drain delay, one phase timeout and the linger.
	budget = drainDelay + phaseTimeout + linger
	// SIGTERM comes this long after the request reached the downstream.
	signalAfter = 100 * time.Millisecond
)

// The bounds. A correct program is well inside each of them; the room is
// for a machine busy with other builds, under -race.
const (
	// margin is the room on top of what a correct program needs.
	margin = time.Second
	// reachBound is how long the request may take to reach the downstream:
	// a few milliseconds here, but a correct service may do some work
	// first (downstream-call-starts-later looks its caller up for 1.5 s),
	// so the bound leaves room for that as well as for a busy machine.
	reachBound = 5 * time.Second
	// hangUpBound is how soon after the forced close the downstream must
	// see its caller hang up. Close cancels the call at once, in a few
	// milliseconds; a program that leaves the call running hangs up only
	// when its process ends, a whole linger later. Both moments are
	// timestamps, compared after the fact, so a test slow to read the
	// program's log cannot blur them.
	hangUpBound = linger / 2
)

// TestForcedCloseUnderSlowDownstream: with a request stuck on a downstream
// that takes 20 s to answer, SIGTERM ends in a forced close at the drain's
// deadline: the connection is cut, the downstream call is cancelled,
// force_close_total goes from 0 to 1, and the process exits 1.
func TestForcedCloseUnderSlowDownstream(t *testing.T) {
	down := startSlowDownstream(t)
	p := labtest.Start(t,
		"-addr", "127.0.0.1:0", "-admin-addr", "127.0.0.1:0", "-log-format", "json",
		"-downstream", down.URL,
		"-drain-delay", drainDelay.String(),
		"-phase-timeout", phaseTimeout.String(),
		"-metrics-linger", linger.String(),
		"-shutdown-timeout", budget.String(),
	)
	admin := listening(p, "admin")
	api := listening(p, "api")

	// "From 0 to 1": a counter read only after the fact could have been 1
	// all along.
	if n := forceCloses(t, p, admin); n != 0 {
		t.Fatalf("force_close_total is %g before any shutdown; want 0: nothing has been forced yet, and a dashboard would "+
			"show a forced shutdown that never happened. Is the counter incremented where it is made, rather than in the "+
			"drain's fallback?\n%s", n, p.Transcript())
	}

	// A service in production has been up for a while when its signal
	// comes. This sleep is part of the scenario, not a synchronisation:
	// the service runs for longer than its whole shutdown budget, so that
	// a deadline counted from start-up instead of from the signal has run
	// out before the signal, and shows.
	time.Sleep(budget)

	resp := labtest.Get("http://"+api+"/", downstreamDelay+margin)
	select {
	case <-down.arrived:
	case r := <-resp:
		t.Fatalf("GET / got %v before its call reached the downstream; want it to wait on the downstream.\n%s", r, p.Transcript())
	case <-time.After(reachBound):
		t.Fatalf("no request reached the downstream within %v of GET /; want the service to call it.\n%s", reachBound, p.Transcript())
	}
	// The scenario again: SIGTERM 100 ms into the downstream call.
	time.Sleep(signalAfter)
	p.Signal(syscall.SIGTERM)

	// The drain waits for the request until its deadline, then falls back
	// to Close.
	forced, err := p.Log().WaitFor("forced close", deadline+margin, p.Done())
	if err != nil {
		t.Fatalf("%v after SIGTERM; want it %v after the signal, when the drain's deadline passes with the request still "+
			"waiting on the downstream. A drain without a deadline waits for the downstream's %v answer instead, and one that "+
			"gives up without logging \"forced close\" never ran the fallback.\n%s", err, deadline, downstreamDelay, p.Transcript())
	}
	started := p.WaitFor("shutdown started", time.Second)
	if took := labtest.EventTime(t, forced).Sub(labtest.EventTime(t, started)); took < deadline {
		t.Fatalf("\"forced close\" came %v after \"shutdown started\"; want no earlier than the drain's deadline, %v: a forced "+
			"close before it cuts requests that still had time. Either the drain gave Shutdown less than its phase's deadline, or "+
			"a deadline was counted from start-up and spent before the signal: the service had been up for %v, its whole "+
			"-shutdown-timeout, when the signal came.\n%s",
			took.Round(time.Millisecond), deadline, budget, p.Transcript())
	}

	// Close cut the request's connection, which cancels its context, and
	// with it the downstream call made with that context.
	const why = "The fallback must Close the server, which cuts the connection and cancels the request's context, and the " +
		"handler must make its call with that context (r.Context()), or the call runs on until the process dies."
	var hungUp time.Time
	select {
	case hungUp = <-down.hungUp:
	case <-time.After(linger + margin):
		t.Fatalf("the downstream's request was still open %v after \"forced close\"; want the service to hang up on it at once.\n%s\n%s",
			linger+margin, why, p.Transcript())
	}
	if after := hungUp.Sub(labtest.EventTime(t, forced)); after > hangUpBound {
		t.Fatalf("the downstream's request ended %v after \"forced close\"; want it cut within %v: Close comes right after "+
			"the event, and the call ends with it. A call that ends only when the process exits, a linger (%v) after the "+
			"drain, was not cut by the forced close at all.\n%s\n%s",
			after.Round(time.Millisecond), hangUpBound, linger, why, p.Transcript())
	}

	// Read while the admin listener lingers: the last moment /metrics can
	// tell.
	if n := forceCloses(t, p, admin); n != 1 {
		t.Fatalf("force_close_total is %g after the forced close; want 1, up from 0: one fallback to Close counts once, "+
			"with Inc, in one place.\n%s", n, p.Transcript())
	}

	code := p.ExitWithin(linger+margin, "after the forced close, the admin listener lingers, then the process should exit")
	if code != 1 {
		t.Fatalf("exit code %d after a forced close; want 1: requests were cut off, and the exit code is how the "+
			"orchestrator and whoever reads its events learn that. (0 says the shutdown was clean, 2 that the command "+
			"line was wrong, and a Go panic also exits 2.)\n%s", code, p.Transcript())
	}
}

// slowDownstream is the service's downstream, played by the test. It takes
// downstreamDelay to answer, and says when a request arrives and when its
// caller hangs up.
type slowDownstream struct {
	URL     string
	arrived chan struct{}  // a request reached the handler
	hungUp  chan time.Time // when a caller closed its connection before the answer
}

// startSlowDownstream starts the downstream on a free loopback port, and
// closes it when the test ends.
func startSlowDownstream(t *testing.T) *slowDownstream {
	d := &slowDownstream{arrived: make(chan struct{}, 1), hungUp: make(chan time.Time, 1)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		notify(d.arrived, struct{}{})
		answer := time.NewTimer(downstreamDelay)
		defer answer.Stop()
		select {
		case <-answer.C:
			fmt.Fprintln(w, "hello")
		case <-r.Context().Done():
			// The connection closed under the request: the caller hung up.
			notify(d.hungUp, time.Now())
		}
	}))
	// Close waits for the requests in progress to finish. Closing their
	// connections first ends their contexts, and the handler returns the
	// moment its context ends: so Close never waits out the 20 s, whatever
	// became of the service. (The service is gone by then anyway: cleanups
	// run last registered first, and labtest.Start, which kills it,
	// registered its own later.)
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
	})
	d.URL = srv.URL
	return d
}

// notify sends v on ch if nothing waits in it yet, without ever blocking:
// the test needs the first one.
func notify[T any](ch chan T, v T) {
	select {
	case ch <- v:
	default:
	}
}

// listening waits for the "listening" event of the named listener ("api"
// or "admin") and returns the address it bound.
func listening(p *labtest.Program, server string) string {
	ev := p.WaitForMatch(fmt.Sprintf("\"listening\" with server=%q", server), labtest.StartBound, func(ev labtest.Event) bool {
		return ev.Msg() == "listening" && ev.Str("server") == server
	})
	return ev.Str("addr")
}

// forceCloses reads force_close_total from the service's own /metrics on
// the admin listener at addr. The exposition is parsed with expfmt, the
// parser of Prometheus' own Go libraries, rather than by looking for a line:
// it knows the format's comments, labels, escapes and timestamps, and it
// refuses a malformed scrape instead of reading a wrong number from it.
func forceCloses(t *testing.T, p *labtest.Program, addr string) float64 {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	// The classic text format, the one expfmt's TextParser reads.
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	r := <-labtest.Do(req, 5*time.Second)
	if r.Err != nil || r.Status != http.StatusOK {
		t.Fatalf("GET /metrics on the admin listener got %v; want 200 with the metrics. The admin listener stops last, "+
			"after lingering, so that /metrics can still be read once the drain is over.\n%s", shorten(r), p.Transcript())
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(r.Body))
	if err != nil {
		t.Fatalf("/metrics is not in Prometheus' text format: %v.\n%s", err, p.Transcript())
	}
	mf := fams["force_close_total"]
	if mf == nil || len(mf.GetMetric()) != 1 {
		t.Fatalf("/metrics has no force_close_total with one series; want the counter, from start-up on.\n%s", p.Transcript())
	}
	return mf.GetMetric()[0].GetCounter().GetValue()
}

// shorten is r for a failure message, with a long body cut.
func shorten(r labtest.Response) string {
	if len(r.Body) > 200 {
		r.Body = r.Body[:200] + "..."
	}
	return r.String()
}
