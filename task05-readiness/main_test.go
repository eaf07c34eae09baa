package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"gracefulshutdown.lab/labtest"
)

// TestMain lets each test start this very program as a real process (see
// labtest.Start) and checks that no test leaves a goroutine behind.
func TestMain(m *testing.M) { labtest.Main(m, main) }

// The durations most tests run with: short requests, and a drain delay long
// enough to send a few requests during it even on a slow, busy machine.
const (
	delay           = 100 * time.Millisecond
	drainDelay      = 800 * time.Millisecond
	shutdownTimeout = 3 * time.Second
)

// earlyMargin is how much sooner than -shutdown-timeout a forced close may be
// logged, after "shutdown started": room for a program that makes its
// deadline a moment before it logs that line.
const earlyMargin = 100 * time.Millisecond

// readinessBound is the spec: /readyz must answer 503 this soon after the
// signal, so that the next probe of the load balancer already sees it.
const readinessBound = 100 * time.Millisecond

// start runs the program on a free port with the durations above (extra
// flags override them) and returns it with the address it bound.
func start(t *testing.T, extra ...string) (*labtest.Program, string) {
	t.Helper()
	args := []string{
		"-addr", "127.0.0.1:0", "-log-format", "json",
		"-delay", delay.String(),
		"-drain-delay", drainDelay.String(),
		"-shutdown-timeout", shutdownTimeout.String(),
	}
	p := labtest.Start(t, append(args, extra...)...)
	return p, p.Listening()
}

// beginDrain sends SIGTERM and returns once the program has logged
// "shutdown started" and readinessBound has passed since the signal: by
// then readiness must be off, and the drain delay has most of its length to
// run. It returns when the signal was sent.
func beginDrain(t *testing.T, p *labtest.Program) time.Time {
	t.Helper()
	sent := time.Now()
	p.Signal(syscall.SIGTERM)
	p.WaitFor("shutdown started", 5*time.Second)
	// This wait is the specification, not a synchronisation: readiness must
	// be off within readinessBound of the signal, whatever the program logs.
	time.Sleep(time.Until(sent.Add(readinessBound)))
	return sent
}

// TestProbesAnswerOKWhileServing: before any signal, the liveness probe
// /healthz and the readiness probe /readyz both answer 200, and / still
// answers hello.
func TestProbesAnswerOKWhileServing(t *testing.T) {
	t.Parallel()
	p, addr := start(t)

	for _, path := range []string{"/healthz", "/readyz"} {
		if r := <-labtest.Get("http://"+addr+path, 10*time.Second); r.Err != nil || r.Status != 200 {
			t.Errorf("GET %s on a running server got %v; want 200: a serving instance is alive and ready.\n%s", path, r, p.Transcript())
		}
	}
	if r := <-labtest.Get("http://"+addr+"/", 10*time.Second); r.Err != nil || r.Status != 200 || r.Body != "hello\n" {
		t.Errorf("GET / got %v; want 200 \"hello\\n\" after the -delay.\n%s", r, p.Transcript())
	}
}

// TestReadyzFailsSoonAfterSignal: within 100 ms of SIGTERM, /readyz answers
// 503 Service Unavailable, so that the load balancer stops sending new
// traffic here.
func TestReadyzFailsSoonAfterSignal(t *testing.T) {
	t.Parallel()
	p, addr := start(t)

	beginDrain(t, p)
	r := <-labtest.Get("http://"+addr+"/readyz", 10*time.Second)
	if r.Err != nil || r.Status != http.StatusServiceUnavailable {
		hint := "Flip the readiness flag off as the first thing after the signal, before the drain delay, and make /readyz read it."
		if r.Err != nil {
			hint = "The server must keep serving through the drain delay, or nobody can ask it whether it is ready."
		}
		t.Fatalf("GET /readyz %v after SIGTERM got %v; want 503.\n%s\n%s", readinessBound, r, hint, p.Transcript())
	}
	if !p.Log().Has("readiness off") {
		t.Errorf("the program never logged \"readiness off\"; log it right after the flip.\n%s", p.Transcript())
	}
}

// TestHealthzStaysOKDuringDrain: while the program drains, the liveness
// probe still answers 200: the process is healthy, only leaving, and a
// failing liveness probe would get it killed mid-drain. Like every response
// once readiness is off, it carries "Connection: close".
func TestHealthzStaysOKDuringDrain(t *testing.T) {
	t.Parallel()
	p, addr := start(t)

	c := newKeepAliveClient(t)

	beginDrain(t, p)
	r := c.get("http://" + addr + "/healthz")
	if r.err != nil || r.status != 200 {
		hint := "/healthz is liveness, not readiness: it must not read the readiness flag."
		if r.err != nil {
			hint = "The server must keep serving through the drain delay, probes included."
		}
		t.Fatalf("GET /healthz during the drain delay got %v; want 200.\n%s\n%s", r, hint, p.Transcript())
	}
	// Probers keep their connections open too: a load balancer's health
	// checker would otherwise stay pinned to this instance.
	if !r.close {
		t.Fatalf("GET /healthz during the drain delay got %v; want \"Connection: close\" on it too, as on every response once readiness is off.\n"+
			"Wrap the whole mux in the middleware (srv.Handler), not only the / handler: the probes' clients keep their connections open as well.\n%s", r, p.Transcript())
	}
}

// TestNewRequestsDuringDrainGetConnectionClose: a request on a new
// connection during the drain delay is still served, with "Connection:
// close" so that the client does not keep the connection.
func TestNewRequestsDuringDrainGetConnectionClose(t *testing.T) {
	t.Parallel()
	p, addr := start(t)
	c := newKeepAliveClient(t)

	beginDrain(t, p)
	r := c.get("http://" + addr + "/")
	if r.err != nil || r.status != 200 || r.body != "hello\n" {
		t.Fatalf("GET / on a new connection during the drain delay got %v; want 200 \"hello\\n\".\n"+
			"Keep the listener open and serve until the drain delay is over: the load balancer may still send traffic.\n%s", r, p.Transcript())
	}
	if !r.close {
		t.Fatalf("GET / during the drain delay got %v without \"Connection: close\"; want the header on every response once readiness is off,\n"+
			"so that clients reconnect through the load balancer instead of reusing this connection.\n%s", r, p.Transcript())
	}
}

// TestKeepAliveClientIsToldToReconnect: a client that keeps its connection
// open between requests, as proxies and other services do, gets
// "Connection: close" on its first response after the signal, on that same
// connection: nothing closes it while it is idle.
func TestKeepAliveClientIsToldToReconnect(t *testing.T) {
	t.Parallel()
	p, addr := start(t)
	c := newKeepAliveClient(t)

	r := c.get("http://" + addr + "/")
	if r.err != nil || r.status != 200 || r.close {
		t.Fatalf("GET / before the signal got %v; want 200 on a connection kept open for the next request.\n%s", r, p.Transcript())
	}
	beginDrain(t, p)
	r = c.get("http://" + addr + "/")
	if r.err != nil || r.status != 200 {
		t.Fatalf("the keep-alive client's GET / during the drain delay got %v; want 200 \"hello\\n\".\n"+
			"Keep serving until the drain delay is over.\n%s", r, p.Transcript())
	}
	if !r.close {
		t.Fatalf("the keep-alive client's GET / during the drain delay got %v without \"Connection: close\";\n"+
			"want the header, or the client keeps sending its requests to this instance until Shutdown cuts the connection.\n%s", r, p.Transcript())
	}
	if !r.reused {
		t.Fatalf("the keep-alive client's GET / during the drain delay got %v: the connection it had kept open from before the signal was closed under it; "+
			"want that request served on it, with \"Connection: close\", and only then the connection closed.\n"+
			"Something closed the idle connections at the flip: srv.SetKeepAlivesEnabled(false) does that, and a client that is sending on one at that moment gets a reset "+
			"(Go's client retried this GET on a new connection; a POST, or another client, gets an error). "+
			"Set the header in a middleware instead, and let Go's server close each connection after its response.\n%s", r, p.Transcript())
	}
}

// TestListenerStaysOpenUntilDrainDelayEnds: for the whole drain delay the
// server keeps accepting and serving; Shutdown ("draining server") comes
// only once the delay is over, and the process then exits 0.
func TestListenerStaysOpenUntilDrainDelayEnds(t *testing.T) {
	t.Parallel()
	p, addr := start(t)

	sent := beginDrain(t, p)
	// Knock until shortly before the delay ends: the margin keeps a busy
	// machine, slow to send the last request, from failing a correct
	// program. Any HTTP answer proves the listener was open.
	last := sent.Add(drainDelay - 250*time.Millisecond)
	for n := 0; time.Now().Before(last); n++ {
		at := time.Since(sent)
		if r := <-labtest.Get("http://"+addr+"/healthz", 10*time.Second); r.Err != nil {
			t.Fatalf("request %d, sent %v after SIGTERM, got %v; want an answer: the drain delay is %v.\n"+
				"Wait for the drain delay before calling Shutdown, which closes the listener.\n%s",
				n+1, at.Round(time.Millisecond), r, drainDelay, p.Transcript())
		}
		time.Sleep(50 * time.Millisecond) // space the requests out over the delay
	}

	p.WaitFor("draining server", 5*time.Second)
	if at := time.Since(sent); at < drainDelay {
		t.Errorf("\"draining server\" came %v after SIGTERM; want it no earlier than the drain delay, %v.\n"+
			"Log it when the delay is over, just before Shutdown.\n%s", at.Round(time.Millisecond), drainDelay, p.Transcript())
	}
	code := p.ExitWithin(5*time.Second, "with nothing in flight, Shutdown should return at once after the drain delay")
	if code != 0 {
		t.Fatalf("exit code %d after a clean shutdown; want 0.\n%s", code, p.Transcript())
	}
	if !p.Log().Has("exited") {
		t.Errorf("the program never logged \"exited\"; log it as the last thing run does.\n%s", p.Transcript())
	}
}

// TestShutdownDeadlineCountsFromSignal: -shutdown-timeout is one budget for
// the drain delay and Shutdown together, counted from the signal; a request
// that outlives it is cut off and the process exits 1.
func TestShutdownDeadlineCountsFromSignal(t *testing.T) {
	t.Parallel()
	const (
		drain   = 600 * time.Millisecond
		timeout = 900 * time.Millisecond
	)
	// The request takes far longer than the whole budget.
	p, addr := start(t, "-delay", "5s", "-drain-delay", drain.String(), "-shutdown-timeout", timeout.String())

	resp := labtest.Get("http://"+addr+"/", 10*time.Second)
	p.WaitFor("request started", labtest.StartBound)
	p.Signal(syscall.SIGTERM)

	forced := p.WaitFor("forced close", 5*time.Second)
	if forced.Level() != "ERROR" {
		t.Errorf("\"forced close\" was logged at level %s; want ERROR: requests were cut off and the exit code is 1, "+
			"and alerts are built on ERROR.\n%s", forced.Level(), p.Transcript())
	}
	took := labtest.EventTime(t, forced).Sub(labtest.EventTime(t, p.WaitFor("shutdown started", time.Second)))
	// A deadline started after the drain delay fires drain+timeout after the
	// signal at the earliest; a correct one, timeout after it (the deadline is
	// made just after "shutdown started", so not before). One that is
	// already past when Shutdown starts fires at the end of the drain delay.
	switch {
	case took >= drain+timeout-100*time.Millisecond:
		t.Errorf("\"forced close\" came %v after \"shutdown started\"; want it %v after (the -shutdown-timeout), and not later than %v.\n"+
			"Start the deadline at the signal, before the drain delay: the delay spends part of the budget.\n%s",
			took.Round(time.Millisecond), timeout, drain+timeout-100*time.Millisecond, p.Transcript())
	case took < timeout-earlyMargin:
		t.Errorf("\"forced close\" came %v after \"shutdown started\"; want it %v after (the -shutdown-timeout), and not earlier than %v.\n"+
			"The request was cut off before its budget was spent, %v after the signal, where the drain delay ends: Shutdown got a context that was already done. "+
			"The signal's ctx is cancelled by then, and so is any context derived from it: make the deadline with context.WithTimeout(context.Background(), ...).\n%s",
			took.Round(time.Millisecond), timeout, timeout-earlyMargin, took.Round(time.Millisecond), p.Transcript())
	}
	if code := p.ExitWithin(5*time.Second, "after the forced close, run should return 1"); code != 1 {
		t.Errorf("exit code %d after a forced close; want 1.\n%s", code, p.Transcript())
	}
	<-resp // cut off with the process; nothing to check
}

// TestRequestsInFlightWhenDrainDelayEndsFinish: the drain delay spends part
// of the budget, and Shutdown gets the rest to let the requests in flight
// finish. Two requests are still running when the delay ends, one sent
// before the signal and one during the delay; both finish well within the
// budget, so both get "200 hello" and the process exits 0.
func TestRequestsInFlightWhenDrainDelayEndsFinish(t *testing.T) {
	t.Parallel()
	const (
		drain   = 500 * time.Millisecond
		slow    = 1 * time.Second // each request: longer than the drain delay
		timeout = 4 * time.Second // room for both, and for a busy machine
	)
	p, addr := start(t, "-delay", slow.String(), "-drain-delay", drain.String(), "-shutdown-timeout", timeout.String())

	before := labtest.Get("http://"+addr+"/", 10*time.Second)
	p.WaitFor("request started", labtest.StartBound)
	p.Signal(syscall.SIGTERM)
	off := labtest.EventTime(t, p.WaitFor("readiness off", 5*time.Second))
	// Sent during the drain delay, so it is still running when the delay ends.
	during := labtest.Get("http://"+addr+"/", 10*time.Second)
	p.WaitForMatch(`"request started" after "readiness off"`, 5*time.Second, func(ev labtest.Event) bool {
		at, err := ev.Time()
		return ev.Msg() == "request started" && err == nil && !at.Before(off)
	})

	for _, c := range []struct {
		name string
		resp <-chan labtest.Response
	}{{"sent before the signal", before}, {"sent during the drain delay", during}} {
		if r := <-c.resp; r.Err != nil || r.Status != 200 || r.Body != "hello\n" {
			t.Errorf("the request %s, still running when the %v drain delay ended, got %v; want 200 \"hello\\n\": it needed %v of a %v budget.\n"+
				"Shutdown must get what is left of the budget. If it got a context that was already done (the signal's ctx, or a context.WithTimeout derived from it), "+
				"it gives up at once and Close cuts every request in flight: make the deadline from context.Background().\n%s",
				c.name, drain, r, slow, timeout, p.Transcript())
		}
	}
	if code := p.ExitWithin(timeout+5*time.Second, "both requests finish within the budget, so Shutdown should return once they have"); code != 0 {
		t.Errorf("exit code %d after a shutdown whose requests all finished in time; want 0.\n%s", code, p.Transcript())
	}
	if p.Log().Has("forced close") {
		t.Errorf("the program logged \"forced close\" although both requests could finish within the %v budget; want a clean drain.\n%s", timeout, p.Transcript())
	}
}

// TestReadinessFlagHasNoDataRace: the readiness flag is read by every
// request, each on its own goroutine, while run writes it at the signal. With
// /readyz asked over and over from several clients across the flip, the race
// detector must find nothing, and the probes must see the flip (503).
//
// The race detector is the judge, so this test calls run in-process, with
// the log in memory, and runs alone (not in parallel: a race that the
// detector reports fails every test running at the time). In a process of
// its own the program would escape the detector: it treats each successful
// read from a file descriptor as synchronised with every earlier write to
// any file descriptor (package syscall's Read and Write tell it so), and the
// program writes "readiness off" to standard error right after the flip,
// while each handler has just read its request from a socket. To the
// detector that orders the flip before every later read, and a plain bool
// looks safe. It is not: the Go memory model knows no such order.
func TestReadinessFlagHasNoDataRace(t *testing.T) {
	if !labtest.RaceDetectorOn() {
		t.Skip("the race detector judges this criterion: run go test -race, as go tool lab check 5 does")
	}
	const (
		probers = 4
		// The probes only need the drain delay to see a 503 or two; the
		// margin is for a busy machine.
		drain = 500 * time.Millisecond
	)
	log := labtest.NewEventLog()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	returned := make(chan struct{})
	var code int
	go func() {
		defer close(returned)
		code = run(ctx, []string{"-addr", "127.0.0.1:0", "-log-format", "json", "-delay", delay.String(),
			"-drain-delay", drain.String(), "-shutdown-timeout", shutdownTimeout.String()}, io.Discard, log)
	}()
	listening, err := log.WaitFor("listening", labtest.StartBound, returned)
	if err != nil {
		t.Fatalf("%v\n%s", err, runTranscript(log))
	}
	url := "http://" + listening.Str("addr") + "/readyz"

	// Each prober asks /readyz on a connection of its own, kept open, until
	// it gets anything but 200 or run has returned. The bound only keeps a
	// program that never stops serving from hanging the test.
	until := time.Now().Add(drain + shutdownTimeout + 5*time.Second)
	answered := make(chan struct{}, probers) // one per prober, at its first answer
	last := make(chan result, probers)       // what ended each prober's loop
	var wg sync.WaitGroup
	for range probers {
		c := newKeepAliveClient(t)
		wg.Go(func() {
			r := c.get(url)
			answered <- struct{}{}
			for r.err == nil && r.status == http.StatusOK && time.Now().Before(until) {
				select {
				case <-returned:
					last <- r
					return
				default:
				}
				r = c.get(url)
			}
			last <- r
		})
	}
	// The flip comes while every prober is in its loop.
	for range probers {
		<-answered
	}
	cancel()
	wg.Wait()
	close(last)
	select {
	case <-returned:
	case <-time.After(drain + shutdownTimeout + 5*time.Second):
		t.Fatalf("run had not returned %v after its context was cancelled; want it back after the %v drain delay and an idle Shutdown.\n%s",
			drain+shutdownTimeout+5*time.Second, drain, runTranscript(log))
	}

	// Nothing else has failed the test yet: if it has failed, the race
	// detector said so.
	if t.Failed() {
		t.Errorf("the race detector reported a data race (WARNING: DATA RACE above): the readiness flag is written by run at "+
			"the signal and read by the requests' goroutines, and nothing orders the two. One word or not, a plain bool shared "+
			"that way is a data race, and under the Go memory model a program with one is incorrect: nothing says when a reader "+
			"sees the write. Keep the flag in a sync/atomic.Bool: Store in run, Load in /readyz and in the middleware.\n%s", runTranscript(log))
	}
	var ends []string
	sawFlip := false
	for r := range last {
		sawFlip = sawFlip || r.status == http.StatusServiceUnavailable
		ends = append(ends, r.String())
	}
	if !sawFlip {
		t.Errorf("no probe of /readyz saw 503 after run's context was cancelled; the probes ended with:\n  %s\n"+
			"want 503 once readiness is off: flip it right after the signal and keep serving for the drain delay.\n%s",
			strings.Join(ends, "\n  "), runTranscript(log))
	}
	if code != 0 {
		t.Errorf("run returned %d after a clean shutdown; want 0.\n%s", code, runTranscript(log))
	}
}

// runTranscript is what run, called in-process, logged, for failure messages.
func runTranscript(log *labtest.EventLog) string {
	return "--- what run logged ---\n" + log.Text()
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
		{"-shutdown-timeout", "-1s"},
		{"-drain-delay", "-1s"},
		{"-drain-delay", "later"},
		{"-drain-delay", "2s", "-shutdown-timeout", "2s"}, // nothing left for Shutdown
		{"-drain-delay", "3s", "-shutdown-timeout", "1s"}, // longer than the whole budget
		{"-shutdown-timeout", "2s"},                       // shorter than the default 3s drain delay
	})
}

// keepAliveClient keeps its connections open between requests, like a
// browser, a proxy or another service, and records how each response asked
// it to treat the connection.
type keepAliveClient struct{ c *http.Client }

func newKeepAliveClient(t *testing.T) keepAliveClient {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections) // so that goleak sees no client goroutines
	return keepAliveClient{&http.Client{Transport: tr, Timeout: 10 * time.Second}}
}

// result is one exchange of a keepAliveClient.
type result struct {
	status int
	body   string
	close  bool // the response said "Connection: close"
	reused bool // it came on a connection an earlier request had opened
	err    error
}

func (r result) String() string {
	if r.err != nil {
		if errors.Is(r.err, syscall.ECONNREFUSED) {
			return fmt.Sprintf("no response: %v (nothing was listening: the listener was already closed)", r.err)
		}
		return fmt.Sprintf("no response: %v", r.err)
	}
	conn := "a new connection"
	if r.reused {
		conn = "a reused connection"
	}
	header := "without Connection: close"
	if r.close {
		header = "with Connection: close"
	}
	return fmt.Sprintf("%d %q on %s, %s", r.status, r.body, conn, header)
}

func (k keepAliveClient) get(url string) result {
	var reused atomic.Bool
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) { reused.Store(info.Reused) }}
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return result{err: err}
	}
	resp, err := k.c.Do(req.WithContext(httptrace.WithClientTrace(req.Context(), trace)))
	if err != nil {
		return result{err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	// Go's client takes "Connection: close" out of the header and reports
	// it as resp.Close.
	return result{status: resp.StatusCode, body: string(body), close: resp.Close, reused: reused.Load(), err: err}
}
