package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"gracefulshutdown.lab/labtest"
)

// TestMain lets each test start this very program as a real process (see
// labtest.Start) and checks that no test leaves a goroutine behind.
func TestMain(m *testing.M) { labtest.Main(m, main) }

// margin is the room every timing bound leaves for a busy machine under
// -race, on top of what a correct program needs.
const margin = 2 * time.Second

// start runs the program with both servers on free ports, no job for an
// hour and an instant stats flush unless the test says otherwise (extra
// flags override these), and returns it with the addresses the API and
// metrics servers bound.
func start(t *testing.T, extra ...string) (p *labtest.Program, api, metrics string) {
	t.Helper()
	args := []string{
		"-addr", "127.0.0.1:0", "-metrics-addr", "127.0.0.1:0", "-log-format", "json",
		"-job-interval", "1h", "-flush-time", "0s",
	}
	p = labtest.Start(t, append(args, extra...)...)
	return p, listening(t, p, "api"), listening(t, p, "metrics")
}

// listening waits for the "listening" event of the named server and returns
// the address it bound.
func listening(t *testing.T, p *labtest.Program, server string) string {
	t.Helper()
	ev := p.WaitForMatch(fmt.Sprintf(`"listening" with server=%q`, server), labtest.StartBound, func(ev labtest.Event) bool {
		return ev.Msg() == "listening" && ev.Str("server") == server
	})
	if ev.Str("addr") == "" {
		t.Fatalf("the %s server's \"listening\" event has no addr attribute; log the address it bound.\n%s", server, p.Transcript())
	}
	return ev.Str("addr")
}

// requestStarted waits until a request has reached the named server.
func requestStarted(t *testing.T, p *labtest.Program, server string) {
	t.Helper()
	p.WaitForMatch(fmt.Sprintf(`"request started" with server=%q`, server), labtest.StartBound, func(ev labtest.Event) bool {
		return ev.Msg() == "request started" && ev.Str("server") == server
	})
}

// TestServersAnswerOnTheirOwnListeners: the API server answers hello, the
// metrics server answers /metrics on its own address, and the API address
// serves neither metrics nor the profiler: admin endpoints stay off the
// public listener.
func TestServersAnswerOnTheirOwnListeners(t *testing.T) {
	t.Parallel()
	p, api, metrics := start(t, "-delay", "50ms")

	if r := <-labtest.Get("http://"+api+"/", 10*time.Second); r.Err != nil || r.Status != 200 || r.Body != "hello\n" {
		t.Errorf("GET / on the API address got %v; want 200 \"hello\\n\".\n%s", r, p.Transcript())
	}
	if r := <-labtest.Get("http://"+metrics+"/metrics", 10*time.Second); r.Err != nil || r.Status != 200 || !strings.Contains(r.Body, "go_goroutines") {
		t.Errorf("GET /metrics on the metrics address got %v; want 200 and Prometheus metrics (go_goroutines among them).\n%s", shorten(r), p.Transcript())
	}
	if r := <-labtest.Get("http://"+api+"/metrics", 10*time.Second); r.Err == nil && strings.Contains(r.Body, "go_goroutines") {
		t.Errorf("GET /metrics on the API address served Prometheus metrics; want them on the metrics address only.\n"+
			"Admin endpoints never live on the public listener.\n%s", p.Transcript())
	}
	// Importing net/http/pprof registers the profiler on
	// http.DefaultServeMux too: an API server that serves that mux (a nil
	// Handler, or http.Handle) exposes it to the public.
	if r := <-labtest.Get("http://"+api+"/debug/pprof/", 10*time.Second); r.Err == nil && r.Status == 200 && strings.Contains(r.Body, "goroutine") {
		t.Errorf("GET /debug/pprof/ on the API address served Go's profiler; want it on the metrics address only.\n"+
			"Importing net/http/pprof registers its handlers on http.DefaultServeMux as well: give the API server a mux of its own "+
			"(its Handler must not be nil, and nothing is registered with http.Handle).\n%s", p.Transcript())
	}
	p.Signal(syscall.SIGTERM)
	if code := p.ExitWithin(margin, "both servers are idle"); code != 0 {
		t.Errorf("exit code %d after SIGTERM; want 0.\n%s\n%s", code, whyNotZero(p), p.Transcript())
	}
}

// TestServersDrainInParallel: with a slow request in flight on each server,
// and clients that call again as soon as they get their answer, as traffic
// does, both servers stop accepting at the signal and drain at the same
// time, so the shutdown takes about one request's time, not two.
func TestServersDrainInParallel(t *testing.T) {
	t.Parallel()
	// Each slow request takes this long: the API's hello through -delay,
	// and on the metrics server an execution trace of this length, the
	// admin port's natural slow request.
	const slow = 800 * time.Millisecond
	// How long the shutdown takes is no proof: a parallel drain ends about
	// 1.1s after the signal (Shutdown checks for idle connections at growing
	// intervals, up to every 500ms), a sequential one about 2.1s after, but
	// a busy machine can stretch the first past the second. The order of
	// events is the proof (see below), and the second call on each server.
	p, api, metrics := start(t, "-delay", slow.String(), "-shutdown-timeout", "10s")

	urls := map[string]string{
		"api":     "http://" + api + "/",
		"metrics": fmt.Sprintf("http://%s/debug/pprof/trace?seconds=%g", metrics, slow.Seconds()),
	}
	type exchange struct{ first, again labtest.Response }
	results := map[string]chan exchange{}
	// One after the other, each once the one before is in its handler, and
	// the signal right after the last: the last one has nearly all its time
	// left at the signal, however slow the machine (see the order check).
	for _, name := range []string{"metrics", "api"} {
		ch := make(chan exchange, 1)
		results[name] = ch
		go func() {
			var x exchange
			x.first = <-labtest.Get(urls[name], 10*time.Second)
			if x.first.Err == nil {
				x.again = <-labtest.Get(urls[name], 10*time.Second)
			}
			ch <- x
		}()
		requestStarted(t, p, name)
	}

	p.Signal(syscall.SIGTERM)
	code := p.ExitWithin(4*slow+margin, "each request in flight takes "+slow.String())

	got := map[string]exchange{}
	for name, ch := range results {
		got[name] = <-ch
	}
	var cut []string
	for _, name := range []string{"api", "metrics"} {
		if r := got[name].first; r.Err != nil || r.Status != 200 {
			cut = append(cut, fmt.Sprintf("the slow request on the %s server, in flight at the signal, got %v", name, shorten(r)))
		}
	}
	if len(cut) > 0 || code != 0 {
		t.Fatalf("%s\nWant each request in flight at the signal to finish with 200, and exit code 0: the drain had 10s.\n%s\n%s",
			strings.Join(append(cut, fmt.Sprintf("The program exited with code %d.", code)), "\n"), whyNotZero(p), p.Transcript())
	}
	for name, other := range map[string]string{"api": "metrics", "metrics": "api"} {
		if r := got[name].again; r.Err == nil {
			t.Errorf("the %s server accepted a new request after SIGTERM (sent when the first one finished, %v in) and answered %v;\n"+
				"want it refused: its listener was still open while the %s server drained. The servers were shut down one after the other:\n"+
				"call Shutdown on both at the same time, each in a goroutine of its own (an errgroup.Group), and wait for both.\n%s",
				name, slow, shorten(r), other, p.Transcript())
		}
	}
	// The order of events is the proof. Shutdown cannot return before its
	// server's slow request has ended, so in a drain one after the other the
	// second server's drain begins only once the first server's request is
	// over: at least left after "shutdown started", what that request still
	// had to run then. In a parallel drain both begin at once. (When the
	// server drained first is the one whose request started early, on a
	// machine so busy that the signal came as it was nearly over, left is
	// too small to tell, and the second calls above are the check.)
	shutdown := labtest.EventTime(t, p.WaitFor("shutdown started", time.Second))
	begins := map[string]time.Time{}
	for _, name := range []string{"api", "metrics"} {
		ev, ok := event(p, "draining server", name)
		if !ok {
			t.Errorf("no \"draining server\" event with server=%q; log one for each server as its drain begins.\n%s", name, p.Transcript())
			continue
		}
		begins[name] = labtest.EventTime(t, ev)
	}
	if len(begins) < 2 {
		return
	}
	first, second := "api", "metrics"
	if begins[second].Before(begins[first]) {
		first, second = second, first
	}
	started, _ := event(p, "request started", first)
	left := labtest.EventTime(t, started).Add(slow).Sub(shutdown)
	if gap := begins[second].Sub(begins[first]); left >= slow/4 && gap >= left/2 {
		t.Errorf("the %s server began draining %v after the %s server; want both to begin together, at the signal: the %s server's slow request still had %v to run then.\n"+
			"The servers were drained one after the other, the second only once the first server's request was over: "+
			"call Shutdown on both at the same time, each in a goroutine of its own (an errgroup.Group).\n%s",
			second, gap.Round(time.Millisecond), first, first, left.Round(time.Millisecond), p.Transcript())
	}
}

// TestWorkerFinishesItsJob: a signal that comes in the middle of a job
// does not cut it short: "job done" comes after "shutdown started", the job
// takes its full -job-duration, no new job starts, and the program exits 0
// once the worker has stopped.
func TestWorkerFinishesItsJob(t *testing.T) {
	t.Parallel()
	// Jobs follow each other closely, so the signal lands in one, and the
	// next one would be due at once if the worker did not stop.
	const took = 500 * time.Millisecond
	p, _, _ := start(t, "-job-interval", "50ms", "-job-duration", took.String())
	p.WaitFor("job started", labtest.StartBound)
	p.Signal(syscall.SIGTERM)
	code := p.ExitWithin(took+margin, "the job in progress lasts "+took.String()+"; once it is done, nothing else is left to wait for")

	events := p.Log().Events()
	shutdown := p.Log().Index("shutdown started")
	if shutdown < 0 {
		t.Fatalf("the program never logged \"shutdown started\"; log it when the shutdown begins.\n%s", p.Transcript())
	}
	var started, done = -1, -1 // the job in progress at the signal
	for i, ev := range events {
		switch {
		case ev.Msg() == "job started" && i < shutdown:
			started = i
		case ev.Msg() == "job started":
			t.Fatalf("a job started after \"shutdown started\"; want none: once the shutdown begins the worker starts no new job.\n"+
				"Check the context before each job: when a tick and ctx.Done() are both ready, select picks either.\n%s", p.Transcript())
		case ev.Msg() == "job done" && i > shutdown && done < 0:
			done = i
		}
	}
	if done < 0 {
		t.Fatalf("no \"job done\" after \"shutdown started\"; want the job in progress at the signal to finish.\n"+
			"Either the job gives up when the context is cancelled (the signal must stop new jobs, not the one running), "+
			"or run returned without waiting for the worker (run it in the errgroup).\n%s", p.Transcript())
	}
	if lasted := labtest.EventTime(t, events[done]).Sub(labtest.EventTime(t, events[started])); lasted < took*9/10 {
		t.Errorf("the job in progress at the signal said \"job done\" %v after it started; want its full -job-duration, %v: it was cut short.\n%s",
			lasted.Round(time.Millisecond), took, p.Transcript())
	}
	if stopped := p.Log().Index("worker stopped"); stopped < done {
		t.Errorf("\"worker stopped\" missing or before the last \"job done\"; want the worker to finish its job, then say it stopped.\n%s", p.Transcript())
	}
	if code != 0 {
		t.Fatalf("exit code %d; want 0: the job finished well within -shutdown-timeout.\n%s\n%s", code, whyNotZero(p), p.Transcript())
	}
	if last := events[len(events)-1]; last.Msg() != "exited" {
		t.Errorf("the last event was %q; want \"exited\", after the worker has stopped.\n%s", last.Msg(), p.Transcript())
	}
}

// TestShutdownDeadlineCutsOffALongJob: a job that would outlast
// -shutdown-timeout is given until the deadline and no longer; then the
// program exits 1, as for any forced shutdown. The budget counts from the
// shutdown, not from the job's start: the signal comes a whole budget into
// the job, and the job still gets its full budget from there.
func TestShutdownDeadlineCutsOffALongJob(t *testing.T) {
	t.Parallel()
	const timeout = 600 * time.Millisecond
	p, _, _ := start(t, "-job-interval", "20ms", "-job-duration", "10s", "-shutdown-timeout", timeout.String())
	p.WaitFor("job started", labtest.StartBound)
	// This wait is the scenario, not a synchronisation: a job well under
	// way when the signal comes, as most are.
	time.Sleep(timeout)

	sent := time.Now()
	p.Signal(syscall.SIGTERM)
	// The budget's timer starts after the signal, so a correct program
	// cannot log "job abandoned" sooner than timeout after it was sent. (A
	// program that never logs it fails below, for what it does instead.)
	_, err := p.Log().WaitFor("job abandoned", timeout+margin, p.Done())
	if abandoned := time.Since(sent); err == nil && abandoned < timeout {
		t.Fatalf("\"job abandoned\" came %v after SIGTERM; want no sooner than -shutdown-timeout, %v: the job in progress gets the whole budget from the moment the shutdown starts.\n"+
			"The job had been running for %v when the signal came, so its budget was counted from the job's start: a time.After(budget) made when the job starts "+
			"has run out before the shutdown does. Start the budget's timer when the job sees ctx.Done(), not before.\n%s",
			abandoned.Round(time.Millisecond), timeout, timeout, p.Transcript())
	}
	code := p.ExitWithin(max(time.Until(sent.Add(timeout+margin)), 100*time.Millisecond), "the job takes 10s but the shutdown has "+timeout.String()+": the deadline must bound the job too")
	took := time.Since(sent)

	if took < timeout {
		t.Errorf("the program exited %v after SIGTERM; want no sooner than -shutdown-timeout, %v: the job in progress gets until the deadline to finish.\n"+
			"The job was dropped at the signal.\n%s", took.Round(time.Millisecond), timeout, p.Transcript())
	}
	if p.Log().Has("job done") {
		t.Errorf("\"job done\" was logged for a 10s job during a %v shutdown; want it cut off at the deadline.\n%s", timeout, p.Transcript())
	}
	if code != 1 {
		t.Errorf("exit code %d after a job was cut off at the deadline; want 1: the shutdown was forced, and its exit code should say so.\n%s", code, p.Transcript())
	}
}

// TestShutdownDeadlineCutsOffSlowRequests: requests that would outlast
// -shutdown-timeout on both servers are cut off at the deadline: each server
// logs "forced close" at level ERROR and closes its connections, so that the
// clients learn at once, while the program still sends its stats. Then it
// exits 1.
func TestShutdownDeadlineCutsOffSlowRequests(t *testing.T) {
	t.Parallel()
	// The flush after the shutdown outlasts the margin: a connection that
	// stays open until the process exits is still open when the margin is
	// up, however fast the machine. Only Close ends it sooner.
	const timeout, flush = 400 * time.Millisecond, margin + 500*time.Millisecond
	p, api, metrics := start(t, "-delay", "10s", "-shutdown-timeout", timeout.String(), "-flush-time", flush.String())
	responses := map[string]<-chan labtest.Response{
		"api":     labtest.Get("http://"+api+"/", 20*time.Second),
		"metrics": labtest.Get("http://"+metrics+"/debug/pprof/trace?seconds=10", 20*time.Second),
	}
	requestStarted(t, p, "api")
	requestStarted(t, p, "metrics")

	sent := time.Now()
	p.Signal(syscall.SIGTERM)

	// Each client should hear that no answer is coming soon after the
	// deadline, long before the process exits.
	deadline := sent.Add(timeout + margin)
	var open []string
	for _, name := range []string{"api", "metrics"} {
		select {
		case <-responses[name]:
			if time.Now().After(deadline) {
				open = append(open, name)
			}
		case <-time.After(time.Until(deadline)):
			open = append(open, name)
		}
	}
	if len(open) > 0 {
		var why []string
		for _, name := range open {
			if hasEvent(p, "forced close", name) {
				why = append(why, fmt.Sprintf("The %s server logged \"forced close\", but Shutdown only stops waiting when its context expires; it closes nothing. "+
					"Call its Close right after logging \"forced close\", so that the clients learn now rather than when the process finally exits.", name))
			} else {
				why = append(why, fmt.Sprintf("The %s server never logged \"forced close\": does its Shutdown get the deadline?", name))
			}
		}
		which := "the " + open[0] + " server's 10s request was"
		if len(open) > 1 {
			which = "the 10s requests on both servers were"
		}
		t.Fatalf("%s still connected %v after SIGTERM, with a %v -shutdown-timeout and a %v stats flush after the shutdown; "+
			"want the connections closed soon after the deadline, while the program sends its stats.\n%s\n%s",
			which, (timeout + margin).Round(time.Millisecond), timeout, flush, strings.Join(why, "\n"), p.Transcript())
	}

	code := p.ExitWithin(flush+margin, "the connections are closed and the stats take "+flush.String()+" to send: nothing else is left to wait for")
	for _, name := range []string{"api", "metrics"} {
		ev, ok := event(p, "forced close", name)
		switch {
		case !ok:
			t.Errorf("no \"forced close\" event with server=%q; want one from each server whose drain ran out of time.\n"+
				"Both servers share the deadline: when Shutdown returns its error, log it and call Close.\n%s", name, p.Transcript())
		case ev.Level() != "ERROR":
			t.Errorf("\"forced close\" with server=%q was logged at level %s; want ERROR (logger.Error): requests were cut off without an answer, "+
				"a failure someone should look at, not a warning.\n%s", name, ev.Level(), p.Transcript())
		}
	}
	if code != 1 {
		t.Errorf("exit code %d after a forced close; want 1.\n%s", code, p.Transcript())
	}
}

// TestAPIAddressInUseExitsOne: when the API server cannot bind, the whole
// program stops at once: the metrics server and the worker too. It exits 1
// with an error that names the address.
func TestAPIAddressInUseExitsOne(t *testing.T) {
	t.Parallel()
	expectBindFailure(t, "api", "-addr")
}

// TestMetricsAddressInUseExitsOne: when the metrics server cannot bind, the
// program does not run on without it: the API server and the worker stop
// too, and it exits 1 with an error that names the address.
func TestMetricsAddressInUseExitsOne(t *testing.T) {
	t.Parallel()
	expectBindFailure(t, "metrics", "-metrics-addr")
}

// bindBound is how soon after it reports a failed bind the program must
// have exited: the rest of it has nothing to drain.
const bindBound = 2 * time.Second

func expectBindFailure(t *testing.T, server, flag string) {
	t.Helper()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("cannot take a port for the test: %v", err)
	}
	defer taken.Close()
	addr := taken.Addr().String()
	other := map[string]string{"api": "metrics", "metrics": "api"}[server]

	p := labtest.Start(t, "-addr", "127.0.0.1:0", "-metrics-addr", "127.0.0.1:0", flag, addr,
		"-job-interval", "1h", "-log-format", "json")
	// The failure report is the starting point: from there, the rest of the
	// program has nothing to drain and should be gone within bindBound.
	p.WaitForMatch("an ERROR event", labtest.StartBound, func(ev labtest.Event) bool { return ev.Level() == "ERROR" })
	select {
	case <-p.Done():
	case <-time.After(bindBound):
		why := "Run every part in one errgroup.WithContext group: a part that returns an error cancels the group's context, and every other part must stop on it."
		switch {
		case !p.Log().Has("shutdown started"):
			why = "Nothing started the shutdown. A server goroutine that fails must return its error, which cancels the group's context (gctx); " +
				"the goroutine that shuts everything down must wait for gctx.Done(), not for the signal's ctx.Done()."
		case !p.Log().Has("worker stopped"):
			why = "The shutdown started but the worker never stopped, so g.Wait() waits for it forever: give the worker the group's context (gctx), not the signal's."
		}
		t.Fatalf("the %s server could not bind %s, yet the program was still running %v later; want it to exit 1, the %s server and the worker stopped with it.\n%s\n%s",
			server, addr, bindBound, other, why, p.Transcript())
	}
	code, _ := p.Exited()

	if code != 1 {
		t.Errorf("exit code %d when the %s address was taken; want 1.\n%s", code, server, p.Transcript())
	}
	named := false
	for _, ev := range p.Log().AtLevel("ERROR") {
		for _, v := range ev {
			if s, ok := v.(string); ok && strings.Contains(s, addr) {
				named = true
			}
		}
	}
	if !named {
		t.Errorf("no ERROR event names the address %s; want the error to say which address could not be bound.\n%s", addr, p.Transcript())
	}
	for _, ev := range p.Log().Events() {
		if ev.Msg() == "listening" && ev.Str("server") == other {
			if err := labtest.Dial(ev.Str("addr")); !labtest.Refused(err) {
				t.Errorf("the %s server's address %s still accepted connections after the program exited (%v); want nothing left running.\n%s",
					other, ev.Str("addr"), err, p.Transcript())
			}
		}
	}
}

// TestIdleShutdownExitsPromptly: with nothing in flight, SIGTERM drains
// both servers, stops the worker, and the program exits 0 at once,
// "exited" last.
func TestIdleShutdownExitsPromptly(t *testing.T) {
	t.Parallel()
	p, _, _ := start(t)
	p.Signal(syscall.SIGTERM)
	code := p.ExitWithin(time.Second, "nothing is in flight and no job is running; does the worker stop on the group's context, and does run return once every part has?")
	if code != 0 {
		t.Fatalf("exit code %d after SIGTERM on an idle program; want 0.\n%s\n%s", code, whyNotZero(p), p.Transcript())
	}
	for _, name := range []string{"api", "metrics"} {
		if !hasEvent(p, "draining server", name) {
			t.Errorf("no \"draining server\" event with server=%q; log one for each server as its drain begins.\n%s", name, p.Transcript())
		}
	}
	if !p.Log().Has("worker stopped") {
		t.Errorf("the worker never logged \"worker stopped\"; want it to stop on shutdown and say so.\n%s", p.Transcript())
	}
	if events := p.Log().Events(); len(events) == 0 || events[len(events)-1].Msg() != "exited" {
		t.Errorf("the last event was not \"exited\"; log it as the last thing run does, once every part has stopped.\n%s", p.Transcript())
	}
}

// The two tests below call run in the test's own process, with its log in
// memory, and do not call t.Parallel: Go runs them one after another before
// any parallel test starts, so that nothing else in the process blurs what
// they look at (a data race report, the state of each goroutine).

// TestForcedCloseOnBothServersHasNoDataRace: when both servers run out of
// time together, their drains report it at the same moment, each from its
// own goroutine. Whatever they share to do so (an error for the exit code)
// must be safe to write from both: the race detector is the judge.
//
// In a process of its own the program would escape the detector: each drain
// writes "forced close" to standard error just before it records its error,
// and the detector takes writes and reads of file descriptors for
// synchronisation (task 5's README tells the story). Here the log is in
// memory, and nothing orders the two drains.
func TestForcedCloseOnBothServersHasNoDataRace(t *testing.T) {
	if !labtest.RaceDetectorOn() {
		t.Skip("the race detector judges this criterion: run go test -race, as go tool lab check 6 does")
	}
	// Each slow request outlives the budget by far, so both servers hit the
	// deadline, and both drains report it at once.
	const slow, timeout = 600 * time.Millisecond, 200 * time.Millisecond
	r := startInProcess(t, "-delay", slow.String(), "-shutdown-timeout", timeout.String())
	responses := []<-chan labtest.Response{
		labtest.Get("http://"+r.api+"/", 10*time.Second),
		labtest.Get(fmt.Sprintf("http://%s/debug/pprof/trace?seconds=%g", r.metrics, slow.Seconds()), 10*time.Second),
	}
	for _, server := range []string{"api", "metrics"} {
		r.waitFor(t, "request started", server)
	}
	r.cancel()
	code := r.wait(t, timeout+margin)
	for _, resp := range responses {
		<-resp // cut off at the deadline; what matters is the race report
	}
	waitForHandlers(t)

	// Nothing else has failed the test yet: if it has failed, the race
	// detector said so.
	if t.Failed() {
		t.Fatalf("the race detector reported a data race (WARNING: DATA RACE above) when both servers ran out of time together: "+
			"their drains, each in a goroutine of its own, wrote the same variable (an error for the exit code, say) with nothing ordering the two writes. "+
			"An error is an interface, two words, so such a write can even tear. Let an errgroup.Group run the drains: each returns its error, "+
			"and Wait gives back the first one, safely. (Or guard the variable with a sync.Mutex.)\n%s", inProcessTranscript(r.log))
	}
	for _, server := range []string{"api", "metrics"} {
		if !r.has("forced close", server) {
			t.Errorf("no \"forced close\" with server=%q; want one from each server whose drain ran out of time.\n%s", server, inProcessTranscript(r.log))
		}
	}
	if code != 1 {
		t.Errorf("run returned %d after both servers were forced closed; want 1.\n%s", code, inProcessTranscript(r.log))
	}
}

// TestIdleProgramWaitsWithoutPolling: while nothing happens, every part of
// the program waits for its next event (the group's context, a tick, a
// connection) instead of sleeping and looking again. A loop that sleeps and
// then checks gctx.Err() hears of the shutdown up to one sleep late, every
// time, and the listeners stay open and take new work meanwhile. The test
// looks at each goroutine of this package while the program is idle: none
// may be asleep in time.Sleep.
func TestIdleProgramWaitsWithoutPolling(t *testing.T) {
	r := startInProcess(t)
	defer func() {
		r.cancel()
		r.wait(t, margin)
	}()
	// Give every part the time to reach its wait: the test looks until no
	// goroutine of the program is running or about to (one that has not
	// started yet is "runnable"), and then judges what each is waiting in.
	poll := time.NewTicker(20 * time.Millisecond)
	defer poll.Stop()
	deadline := time.After(time.Second)
	for {
		ours := goroutines(func(g labtest.Goroutine) bool { return strings.Contains(g.Stack, "\n"+labtest.PackagePath(run)+".") })
		settled := true
		var sleeping []string
		for _, g := range ours {
			settled = settled && g.State != "running" && g.State != "runnable"
			if strings.HasPrefix(g.State, "sleep") {
				sleeping = append(sleeping, g.Stack)
			}
		}
		if settled && len(sleeping) == 0 {
			return
		}
		if settled {
			t.Fatalf("while the program was idle (no request, no job for an hour), a goroutine of run was asleep in time.Sleep; "+
				"want every part waiting for its event instead.\n"+
				"A loop that sleeps and then checks gctx.Err() (or ctx.Err()) polls: it hears of the shutdown up to one sleep late, every time, "+
				"and both listeners take new work meanwhile. Block on <-gctx.Done(): it returns the moment the group is cancelled.\n"+
				"--- the goroutine ---\n%s\n%s", sleeping[0], inProcessTranscript(r.log))
		}
		select {
		case <-poll.C:
		case <-deadline:
			t.Fatalf("for a second, while the program was idle (no request, no job for an hour), some goroutine of run was running every time the test looked; "+
				"want every part blocked, waiting for its event: a loop that never blocks (a select with a default case, say) spins and burns a CPU core.\n%s",
				inProcessTranscript(r.log))
		}
	}
}

// inProcessRun is run called in the test's own process on free ports, no
// job for an hour and an instant stats flush (extra flags override these),
// once both servers are listening.
type inProcessRun struct {
	log          *labtest.EventLog
	cancel       context.CancelFunc
	returned     chan struct{}
	code         int // valid once returned is closed
	api, metrics string
}

func startInProcess(t *testing.T, extra ...string) *inProcessRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &inProcessRun{log: labtest.NewEventLog(), cancel: cancel, returned: make(chan struct{})}
	args := append([]string{"-addr", "127.0.0.1:0", "-metrics-addr", "127.0.0.1:0", "-log-format", "json",
		"-job-interval", "1h", "-flush-time", "0s"}, extra...)
	go func() {
		defer close(r.returned)
		r.code = run(ctx, args, io.Discard, r.log)
	}()
	r.api = r.waitFor(t, "listening", "api").Str("addr")
	r.metrics = r.waitFor(t, "listening", "metrics").Str("addr")
	return r
}

// waitFor returns the first event msg with the given server, or fails the
// test (after stopping run) if it does not come.
func (r *inProcessRun) waitFor(t *testing.T, msg, server string) labtest.Event {
	t.Helper()
	ev, err := r.log.WaitForMatch(fmt.Sprintf("%q with server=%q", msg, server), func(ev labtest.Event) bool {
		return ev.Msg() == msg && ev.Str("server") == server
	}, labtest.StartBound, r.returned)
	if err != nil {
		r.cancel()
		t.Fatalf("%v\n%s", err, inProcessTranscript(r.log))
	}
	return ev
}

func (r *inProcessRun) has(msg, server string) bool {
	for _, ev := range r.log.Events() {
		if ev.Msg() == msg && ev.Str("server") == server {
			return true
		}
	}
	return false
}

// wait waits up to within for run to return and gives its exit code.
func (r *inProcessRun) wait(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case <-r.returned:
		return r.code
	case <-time.After(within):
		t.Fatalf("run had not returned %v after its context was cancelled; want it back by then.\n%s", within, inProcessTranscript(r.log))
		return 0
	}
}

// waitForHandlers waits until no request handler of an in-process run is
// still running: a handler that sleeps through -delay goes on after Close
// has cut its connection, and must be gone before the test ends.
func waitForHandlers(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(goroutines(func(g labtest.Goroutine) bool { return strings.Contains(g.Stack, "net/http.(*conn).serve") })) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("a request handler of run was still running 10s after run returned; want every handler to end.")
		}
		time.Sleep(10 * time.Millisecond) // polling the runtime: there is no event to wait for
	}
}

// goroutines are the goroutines, other than the caller's, that match
// accepts.
func goroutines(match func(labtest.Goroutine) bool) []labtest.Goroutine {
	var found []labtest.Goroutine
	for _, g := range labtest.OtherGoroutines() {
		if match(g) {
			found = append(found, g)
		}
	}
	return found
}

// inProcessTranscript is what run, called in-process, logged, for failure
// messages.
func inProcessTranscript(log *labtest.EventLog) string {
	return "--- what run logged ---\n" + log.Text()
}

// TestBadFlagsExitTwo: a mistake on the command line is a usage error: one
// line that says what is wrong, and exit code 2, before anything listens.
func TestBadFlagsExitTwo(t *testing.T) {
	t.Parallel()
	labtest.ExpectUsageErrors(t, [][]string{
		{"-addr", "8080"},
		{"-metrics-addr", "9090"},
		{"-delay", "-1s"},
		{"-job-interval", "0s"}, // time.NewTicker panics on an interval that is not positive
		{"-job-interval", "-5s"},
		{"-job-interval", "often"},
		{"-job-duration", "-1s"},
		{"-shutdown-timeout", "-1s"},
		{"-flush-time", "-1s"},
		{"-log-format", "xml"},
	})
}

// whyNotZero guesses, from the log, why a shutdown that should have been
// clean exited 1.
func whyNotZero(p *labtest.Program) string {
	for _, ev := range p.Log().AtLevel("ERROR") {
		switch {
		case strings.Contains(ev.Str("err"), "Server closed"):
			return "An ERROR says \"http: Server closed\": that is http.ErrServerClosed, what Serve returns after Shutdown. It is a clean stop: return nil for it from the server's goroutine."
		case ev.Msg() == "forced close" && strings.Contains(ev.Str("err"), "canceled"):
			return "The drain was cut short at once (\"context canceled\"): Shutdown got a context that was already done. " +
				"Derive the shutdown deadline from context.Background(), not from the group's context, which the signal has already cancelled."
		}
	}
	return "Look for the ERROR in the log below."
}

// hasEvent reports whether the program logged msg with the given server.
func hasEvent(p *labtest.Program, msg, server string) bool {
	_, ok := event(p, msg, server)
	return ok
}

// event is the first event the program logged with msg and the given server.
func event(p *labtest.Program, msg, server string) (labtest.Event, bool) {
	for _, ev := range p.Log().Events() {
		if ev.Msg() == msg && ev.Str("server") == server {
			return ev, true
		}
	}
	return nil, false
}

// shorten keeps a response's body out of failure messages when it is long
// (a metrics page, a binary trace): only its size is shown.
func shorten(r labtest.Response) labtest.Response {
	if len(r.Body) > 80 {
		r.Body = fmt.Sprintf("[%d bytes]", len(r.Body))
	}
	return r
}
