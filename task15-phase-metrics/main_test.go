package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"gracefulshutdown.lab/labtest"
)

// TestMain lets each test start this very program as a real process (see
// labtest.Start) and checks that no test leaves a goroutine behind.
func TestMain(m *testing.M) { labtest.Main(m, main) }

// The durations most tests run with: a short drain delay, a phase timeout
// that nothing reaches unless a test means it to, and a linger long enough
// for a scrape to get in on a slow, busy machine. They fit the budget as
// parseFlags requires: drainDelay + phaseTimeout + linger <= budget.
const (
	drainDelay   = 100 * time.Millisecond
	phaseTimeout = 2 * time.Second
	linger       = 2 * time.Second
	budget       = 10 * time.Second
)

// margin is the room every timing bound leaves for a busy machine under
// -race, on top of what a correct program needs.
const margin = 3 * time.Second

// service is the program running as a process, with the addresses its two
// listeners bound.
type service struct {
	*labtest.Program
	t          *testing.T
	api, admin string
}

// start runs the program with both listeners on free ports and the
// durations above (extra flags override them).
func start(t *testing.T, extra ...string) *service {
	t.Helper()
	args := []string{
		"-addr", "127.0.0.1:0", "-admin-addr", "127.0.0.1:0", "-log-format", "json",
		"-delay", "50ms",
		"-drain-delay", drainDelay.String(),
		"-phase-timeout", phaseTimeout.String(),
		"-metrics-linger", linger.String(),
		"-shutdown-timeout", budget.String(),
	}
	s := &service{Program: labtest.Start(t, append(args, extra...)...), t: t}
	s.admin = s.listening("admin")
	s.api = s.listening("api")
	return s
}

// listening waits for the "listening" event of the named server ("api" or
// "admin") and returns the address it bound.
func (s *service) listening(server string) string {
	s.t.Helper()
	ev := s.WaitForMatch(fmt.Sprintf(`"listening" with server=%q`, server), labtest.StartBound, func(ev labtest.Event) bool {
		return ev.Msg() == "listening" && ev.Str("server") == server
	})
	if ev.Str("addr") == "" {
		s.t.Fatalf("the %s listener's \"listening\" event has no addr attribute; log the address it bound.\n%s", server, s.Transcript())
	}
	return ev.Str("addr")
}

// exit waits for the program to exit and checks its exit code.
func (s *service) exit(want int, why string) {
	s.t.Helper()
	if code := s.ExitWithin(budget+margin, "the shutdown should be over within its budget"); code != want {
		s.t.Fatalf("exit code %d%s; want %d: %s.\n%s", code, s.exitMeaning(code), want, why, s.Transcript())
	}
}

// exitMeaning explains an exit code 2, which means two things: this lab's
// usage error, and Go's exit code for a panic that nothing recovered.
func (s *service) exitMeaning(code int) string {
	switch {
	case code == 2 && strings.Contains(s.Log().Text(), "panic: "):
		return " (Go's exit code for a panic that nothing recovered, not a usage error: the program died of the panic below, " +
			"and the shutdown stopped where it was)"
	case code == 2:
		return " (a usage error: the program refused its command line)"
	}
	return ""
}

// slowRequest sends GET / and waits until the handler has it.
func (s *service) slowRequest() <-chan labtest.Response {
	s.t.Helper()
	resp := labtest.Get("http://"+s.api+"/", 30*time.Second)
	s.WaitFor("request started", labtest.StartBound)
	return resp
}

// TestAdminEndpointsLiveOnTheAdminListener: the admin listener serves
// /metrics (Prometheus' text format, with the Go runtime's metrics),
// /healthz, /readyz and Go's profiler; the public API serves hello and none
// of those. During the drain /readyz on the admin listener answers 503 and
// /healthz 200. (Already true of the starter.)
func TestAdminEndpointsLiveOnTheAdminListener(t *testing.T) {
	t.Parallel()
	// The drain delay leaves time to ask the probes once readiness is off.
	s := start(t, "-drain-delay", "1s", "-metrics-linger", "200ms")

	fams, body, err := scrape(s.admin)
	if err != nil || fams["go_goroutines"] == nil {
		t.Errorf("the admin listener's /metrics: %v; want Prometheus' text format, with go_goroutines among the metrics.\n%.300s\n%s", err, body, s.Transcript())
	}
	for _, path := range []string{"/healthz", "/readyz", "/debug/pprof/", "/debug/pprof/cmdline"} {
		if r := <-labtest.Get("http://"+s.admin+path, 10*time.Second); r.Err != nil || r.Status != 200 {
			t.Errorf("GET %s on the admin listener got %v; want 200.\n%s", path, shorten(r), s.Transcript())
		}
	}
	if r := <-labtest.Get("http://"+s.api+"/", 10*time.Second); r.Err != nil || r.Status != 200 || r.Body != "hello\n" {
		t.Errorf("GET / on the API listener got %v; want 200 \"hello\\n\".\n%s", r, s.Transcript())
	}
	for _, path := range []string{"/metrics", "/healthz", "/readyz", "/debug/pprof/"} {
		if r := <-labtest.Get("http://"+s.api+path, 10*time.Second); r.Err != nil || r.Status != 404 {
			t.Errorf("GET %s on the public API listener got %v; want 404: admin endpoints never live on the public port.\n%s", path, shorten(r), s.Transcript())
		}
	}

	s.Signal(syscall.SIGTERM)
	s.WaitFor("readiness off", margin)
	if r := <-labtest.Get("http://"+s.admin+"/readyz", 10*time.Second); r.Err != nil || r.Status != 503 {
		t.Errorf("GET /readyz on the admin listener during the drain delay got %v; want 503: readiness is off.\n%s", shorten(r), s.Transcript())
	}
	if r := <-labtest.Get("http://"+s.admin+"/healthz", 10*time.Second); r.Err != nil || r.Status != 200 {
		t.Errorf("GET /healthz on the admin listener during the drain delay got %v; want 200: the process is alive.\n%s", shorten(r), s.Transcript())
	}
}

// TestAdminListenerStopsLastAfterLingering: the phases run readiness, api
// server, admin server; the admin server's phase logs "lingering" once the
// others are done, and drains its listener no earlier than -metrics-linger
// later, even with a -phase-timeout shorter than the linger; the process
// exits 0 with "exited" last. (Already true of the starter.)
func TestAdminListenerStopsLastAfterLingering(t *testing.T) {
	t.Parallel()
	// The defaults linger 15 s with a phase timeout of 10 s: so does this
	// test, scaled down. No drain delay, so that the readiness phase is far
	// inside its short deadline however busy the machine is.
	const linger, phaseTimeout = time.Second, 500 * time.Millisecond
	s := start(t, "-metrics-linger", linger.String(), "-phase-timeout", phaseTimeout.String(), "-drain-delay", "0s")

	s.Signal(syscall.SIGTERM)
	s.exit(0, "a shutdown with nothing in flight is clean")

	var got []string
	for _, ev := range s.Log().Events() {
		switch ev.Msg() {
		case "phase started", "phase done", "phase failed":
			got = append(got, ev.Msg()+" "+phaseOf(ev))
		case "lingering":
			got = append(got, "lingering")
		}
	}
	want := []string{"phase started readiness", "phase done readiness", "phase started api server", "phase done api server",
		"phase started admin server", "lingering", "phase done admin server"}
	if !slices.Equal(got, want) {
		t.Fatalf("the shutdown went:\n  %s\nwant:\n  %s\n"+
			"The admin listener starts first so that its phase runs last: until then, Prometheus can still scrape the other phases' figures.\n%s",
			strings.Join(got, "\n  "), strings.Join(want, "\n  "), s.Transcript())
	}
	lingering := labtest.EventTime(t, s.WaitFor("lingering", time.Second))
	drained := s.WaitForMatch(`"draining server" with server="admin"`, time.Second, func(ev labtest.Event) bool {
		return ev.Msg() == "draining server" && ev.Str("server") == "admin"
	})
	if took := labtest.EventTime(t, drained).Sub(lingering); took < linger {
		t.Errorf("the admin listener began to drain %v after \"lingering\"; want no earlier than -metrics-linger, %v.\n"+
			"The log says it lingers %v, but something ended the linger early: with -phase-timeout %v, is the admin server's phase "+
			"on the lifecycle's default deadline? Its phase is a linger and then a drain, and needs a deadline of its own that "+
			"covers both, lifecycle.Timeout(linger + phase timeout); on the default one, a scrape that comes late in the linger finds "+
			"/metrics gone.\n%s",
			took.Round(time.Millisecond), linger, linger, phaseTimeout, s.Transcript())
	}
	if events := s.Log().Events(); events[len(events)-1].Msg() != "exited" {
		t.Errorf("the last event was %q; want \"exited\".\n%s", events[len(events)-1].Msg(), s.Transcript())
	}
}

// TestAdminRequestInFlightFinishesAfterTheLinger: a request to the admin
// listener that is still running when the linger ends (a slow scrape, a
// profile) is drained like any other: it gets its answer, and the process
// exits 0. The admin server's phase has a deadline for the linger and then
// a drain. (Already true of the starter.)
func TestAdminRequestInFlightFinishesAfterTheLinger(t *testing.T) {
	t.Parallel()
	// The request is a heap profile over the whole linger, sent once
	// "lingering" is logged: it is still running when the linger ends,
	// and done well within -phase-timeout after it. On a busy machine it
	// can arrive only after the admin listener has closed; then there is
	// nothing to judge, and the scenario runs again with a longer linger.
	lingers := []time.Duration{time.Second, 2 * time.Second}
	for i, linger := range lingers {
		err := adminRequestRound(t, linger)
		if err == nil || t.Failed() {
			return
		}
		if i == len(lingers)-1 {
			t.Fatalf("the admin request, sent as soon as \"lingering\" was logged, never reached the program in %d tries, the last "+
				"with a %v linger: each time the admin listener had closed first (%v). The admin listener must stay up for its whole linger.",
				len(lingers), linger, err)
		}
		t.Logf("try %d: the admin request never reached the program before its listener closed (%v); again with a longer linger", i+1, err)
	}
}

// adminRequestRound is one run of TestAdminRequestInFlightFinishesAfterTheLinger.
// It returns an error, without failing the test, if the request never
// reached the program.
func adminRequestRound(t *testing.T, linger time.Duration) error {
	t.Helper()
	s := start(t, "-metrics-linger", linger.String())

	s.Signal(syscall.SIGTERM)
	s.WaitFor("lingering", budget+margin)
	// pprof's delta profiles take whole seconds: the linger's.
	path := fmt.Sprintf("/debug/pprof/heap?seconds=%d", int(linger.Seconds()))
	r := <-labtest.Get("http://"+s.admin+path, budget+margin)
	code := s.ExitWithin(budget+margin, "the shutdown should be over within its budget")
	forced := slices.ContainsFunc(s.Log().Events(), func(ev labtest.Event) bool {
		return ev.Msg() == "forced close" && ev.Str("server") == "admin"
	})
	if r.Err != nil && !forced && (labtest.Refused(r.Err) || errors.Is(r.Err, syscall.ECONNRESET)) {
		return r.Err
	}
	if r.Err != nil || r.Status != 200 {
		hint := ""
		if forced {
			hint = "The admin listener's drain was forced (\"forced close\" server=admin) as soon as the linger was over: the admin " +
				"server's phase has no time left for its drain. Its deadline must cover the linger and then a drain like any other: " +
				"lifecycle.Timeout(linger + phase timeout), not the linger alone.\n"
		}
		t.Fatalf("GET %s on the admin listener, sent while it lingered %v and still running when the linger ended, got %v; "+
			"want 200: a request in flight when the linger ends is drained like any other, within -phase-timeout %v.\n%s%s",
			path, linger, shorten(r), phaseTimeout, hint, s.Transcript())
	}
	if code != 0 {
		t.Fatalf("exit code %d%s; want 0: the admin request finished in time, so the shutdown is clean.\n%s", code, s.exitMeaning(code), s.Transcript())
	}
	return nil
}

// TestBudgetCountsFromTheSignal: an instance that has been up for longer
// than -shutdown-timeout (every real one) still gets its whole budget when
// the signal comes: the readiness phase waits its drain delay, the admin
// listener lingers, and the process exits 0. (Already true of the starter.)
func TestBudgetCountsFromTheSignal(t *testing.T) {
	t.Parallel()
	// A budget short enough to outlive before the signal, and still three
	// times what the shutdown takes.
	const budget, drainDelay, phaseTimeout, linger = time.Second, 100 * time.Millisecond, 600 * time.Millisecond, 200 * time.Millisecond
	s := start(t, "-shutdown-timeout", budget.String(), "-drain-delay", drainDelay.String(),
		"-phase-timeout", phaseTimeout.String(), "-metrics-linger", linger.String())

	// The scenario, not a synchronisation: the instance has been up for
	// longer than its budget when the signal comes.
	time.Sleep(budget + 100*time.Millisecond)
	s.Signal(syscall.SIGTERM)
	code := s.ExitWithin(budget+margin, "the shutdown should be over within its budget")
	failed := s.Log().AtLevel("ERROR")
	if code != 0 || len(failed) > 0 {
		hint := ""
		if slices.ContainsFunc(failed, func(ev labtest.Event) bool { return strings.Contains(ev.Str("err"), "deadline exceeded") }) {
			hint = "A phase ran out of time at once: the budget counts from the signal. A deadline made at start-up " +
				"(context.WithTimeout at the top of run) has passed before the signal ever comes on any instance that has been up " +
				"a while, and every phase then starts past it. Make it in shutdown, when the phases are about to run.\n"
		}
		t.Fatalf("after %v of uptime, longer than -shutdown-timeout %v, the shutdown ended with exit code %d%s and %d error events; "+
			"want exit 0 and none: nothing was in flight, and the phases need %v of the %v budget.\n%s%s",
			budget+100*time.Millisecond, budget, code, s.exitMeaning(code), len(failed), drainDelay+linger, budget, hint, s.Transcript())
	}
	lingering := labtest.EventTime(t, s.WaitFor("lingering", time.Second))
	drained := s.WaitForMatch(`"draining server" with server="admin"`, time.Second, func(ev labtest.Event) bool {
		return ev.Msg() == "draining server" && ev.Str("server") == "admin"
	})
	if took := labtest.EventTime(t, drained).Sub(lingering); took < linger {
		t.Errorf("the admin listener lingered %v; want -metrics-linger, %v: the budget counts from the signal, so there is time for it.\n%s",
			took.Round(time.Millisecond), linger, s.Transcript())
	}
}

// TestFinalScrapeHasEveryPhase: while the admin listener lingers, after a
// clean shutdown, /metrics has shutdown_phase_started_total,
// shutdown_phase_failed_total and shutdown_phase_duration_seconds, with
// their help, the right types and one label, phase: started 1 and failed 0
// for every phase that started, and one duration for each that finished.
func TestFinalScrapeHasEveryPhase(t *testing.T) {
	t.Parallel()
	s := start(t)

	s.Signal(syscall.SIGTERM)
	fams := s.finalScrape("readiness", "api server")
	s.checkPhaseMetrics(fams, map[string]bool{"readiness": false, "api server": false})
}

// TestPhaseDurationsMatchTheirEvents: the one observation of each finished
// phase in shutdown_phase_duration_seconds is its duration in seconds, the
// one its "phase done" event reports, and its buckets count it where it
// belongs. The readiness phase lasts the drain delay.
func TestPhaseDurationsMatchTheirEvents(t *testing.T) {
	t.Parallel()
	const drainDelay = 300 * time.Millisecond
	s := start(t, "-drain-delay", drainDelay.String())

	s.Signal(syscall.SIGTERM)
	fams := s.finalScrape("readiness", "api server")
	if fams[durationMetric] == nil {
		t.Fatalf("the final scrape of /metrics has no %s.\n%s\n%s", durationMetric, present(fams), s.Transcript())
	}
	if took := s.checkDuration(fams, "readiness"); took < drainDelay {
		t.Errorf("the readiness phase took %v; want at least the drain delay, %v.\n%s", took, drainDelay, s.Transcript())
	}
	s.checkDuration(fams, "api server")
}

// TestDurationBucketsSpanMillisecondsToTensOfSeconds: the histogram's
// buckets suit shutdown phases: the lowest at most 10 ms (closing an idle
// listener), the highest at least 30 s (Kubernetes' default grace period,
// which no phase can outlast), none more than 4 times the one below.
func TestDurationBucketsSpanMillisecondsToTensOfSeconds(t *testing.T) {
	t.Parallel()
	s := start(t)

	s.Signal(syscall.SIGTERM)
	fams := s.finalScrape("readiness", "api server")
	mf := fams[durationMetric]
	if mf == nil || len(mf.GetMetric()) == 0 {
		t.Fatalf("the final scrape of /metrics has no %s series.\n%s\n%s", durationMetric, present(fams), s.Transcript())
	}
	var bounds []float64
	for _, b := range mf.GetMetric()[0].GetHistogram().GetBucket() {
		if !math.IsInf(b.GetUpperBound(), +1) {
			bounds = append(bounds, b.GetUpperBound())
		}
	}
	const lowest, highest, widest = 0.01, 30.0, 4.0
	problem := ""
	switch {
	case len(bounds) == 0:
		problem = "there are none"
	case bounds[0] > lowest:
		problem = fmt.Sprintf("the lowest is %gs: a phase of a millisecond or two is told apart from one of %gs by none", bounds[0], bounds[0])
	case bounds[len(bounds)-1] < highest:
		problem = fmt.Sprintf("the highest is %gs: a phase cut off at a deadline longer than that lands in +Inf, with no upper bound", bounds[len(bounds)-1])
	default:
		for i := 1; i < len(bounds); i++ {
			if bounds[i] > widest*bounds[i-1] {
				problem = fmt.Sprintf("%gs comes right after %gs: every phase in between reads the same", bounds[i], bounds[i-1])
				break
			}
		}
	}
	if problem != "" {
		t.Fatalf("%s's bucket bounds are %v: %s.\n"+
			"Want the lowest at most %gs, the highest at least %gs, and each at most %g times the one below: "+
			"prometheus.ExponentialBuckets(start, factor, count) makes such a list.\n%s",
			durationMetric, bounds, problem, lowest, highest, widest, s.Transcript())
	}
}

// TestForcedDrainCountsAsFailed: a request outlives -phase-timeout, so the
// API's drain is cut off ("forced close"). The final scrape counts the api
// server phase as failed, exactly once, and no other; its duration is the
// phase timeout.
func TestForcedDrainCountsAsFailed(t *testing.T) {
	t.Parallel()
	const phaseTimeout = 300 * time.Millisecond
	// The request takes far longer than the drain may.
	s := start(t, "-delay", "20s", "-phase-timeout", phaseTimeout.String())

	resp := s.slowRequest()
	s.Signal(syscall.SIGTERM)
	fams := s.finalScrape("readiness", "api server")
	if !s.Log().Has("forced close") {
		t.Fatalf("no \"forced close\": the request should have outlived the api server phase's %v.\n%s", phaseTimeout, s.Transcript())
	}
	s.checkPhaseMetrics(fams, map[string]bool{"readiness": false, "api server": true})
	if took := s.checkDuration(fams, "api server"); took < phaseTimeout {
		t.Errorf("the api server phase took %v; want at least its deadline, %v.\n%s", took, phaseTimeout, s.Transcript())
	}
	<-resp // cut off by the forced close; nothing to check
}

// TestFailingPhaseCountsAsFailed: with -inject-fault error, a phase returns
// an error at once, well within its deadline. The final scrape counts that
// phase as failed, once, with a duration.
func TestFailingPhaseCountsAsFailed(t *testing.T) {
	t.Parallel()
	s := start(t, "-inject-fault", "error")

	s.Signal(syscall.SIGTERM)
	fams := s.finalScrape("readiness", "api server", "injected fault")
	s.checkPhaseMetrics(fams, map[string]bool{"readiness": false, "api server": false, "injected fault": true})
	s.checkDuration(fams, "injected fault")
}

// TestHungPhaseCountsAsFailed: with -inject-fault hang, a phase ignores its
// context and never returns; the lifecycle gives up on it shortly after
// its deadline. The final scrape counts that phase as failed, once, with
// the duration the lifecycle waited for it.
func TestHungPhaseCountsAsFailed(t *testing.T) {
	t.Parallel()
	const phaseTimeout = 300 * time.Millisecond
	s := start(t, "-inject-fault", "hang", "-phase-timeout", phaseTimeout.String())

	s.Signal(syscall.SIGTERM)
	fams := s.finalScrape("readiness", "api server", "injected fault")
	s.checkPhaseMetrics(fams, map[string]bool{"readiness": false, "api server": false, "injected fault": true})
	if took := s.checkDuration(fams, "injected fault"); took < phaseTimeout {
		t.Errorf("the hung phase took %v; want at least its deadline, %v.\n%s", took, phaseTimeout, s.Transcript())
	}
}

// TestPanickingPhaseCountsAsFailed: with -inject-fault panic, a phase
// panics; the lifecycle recovers it and goes on. The final scrape counts
// that phase as failed, once, with a duration.
func TestPanickingPhaseCountsAsFailed(t *testing.T) {
	t.Parallel()
	s := start(t, "-inject-fault", "panic")

	s.Signal(syscall.SIGTERM)
	fams := s.finalScrape("readiness", "api server", "injected fault")
	s.checkPhaseMetrics(fams, map[string]bool{"readiness": false, "api server": false, "injected fault": true})
	s.checkDuration(fams, "injected fault")
}

// TestAdminAddressInUseExitsOne: when the admin listener cannot bind its
// address, the program says so and exits 1. (Already true of the starter.)
func TestAdminAddressInUseExitsOne(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("cannot hold a port for the test: %v", err)
	}
	defer taken.Close()

	p := labtest.Start(t, "-addr", "127.0.0.1:0", "-admin-addr", taken.Addr().String(), "-log-format", "json")
	code := p.ExitWithin(labtest.StartBound, "the admin address is taken, so run should return 1")
	failed := slices.ContainsFunc(p.Log().Events(), func(ev labtest.Event) bool {
		return ev.Msg() == "server failed" && ev.Str("server") == "admin" && ev.Str("addr") == taken.Addr().String()
	})
	if !failed || code != 1 {
		t.Fatalf("with the admin address taken: exit code %d, \"server failed\" with server=\"admin\" and its addr logged: %v; want exit code 1 and that event.\n%s",
			code, failed, p.Transcript())
	}
}

// TestNoGoroutineOutlivesRun: run, called in-process twice, the way a test
// or a bigger program would call it, returns 0 each time once its context
// is cancelled, and leaves no goroutine behind. Each run has its own
// registry, so the second registers its metrics afresh.
//
// It counts the goroutines of the whole test binary, so it does not call
// t.Parallel: Go runs it before any parallel test starts.
func TestNoGoroutineOutlivesRun(t *testing.T) {
	baseline := goleak.IgnoreCurrent()
	for i := 1; i <= 2; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		log := labtest.NewEventLog()
		returned := make(chan struct{})
		code, panicked := -1, any(nil)
		go func() {
			defer close(returned)
			defer func() { panicked = recover() }()
			code = run(ctx, []string{"-addr", "127.0.0.1:0", "-admin-addr", "127.0.0.1:0", "-log-format", "json",
				"-drain-delay", "0s", "-metrics-linger", "0s"}, io.Discard, log)
		}()
		isAPI := func(ev labtest.Event) bool { return ev.Msg() == "listening" && ev.Str("server") == "api" }
		_, err := log.WaitForMatch(`"listening" with server="api"`, isAPI, labtest.StartBound, returned)
		cancel()
		select {
		case <-returned:
		case <-time.After(labtest.StartBound):
			t.Fatalf("run %d had not returned %v after its context was cancelled; want it to return once its phases are done.\n%s", i, labtest.StartBound, log.Text())
		}
		if panicked != nil {
			t.Fatalf("run %d panicked: %v.\nRegister the metrics once per run, on the registry run creates: "+
				"a second registration of the same metric, on a later phase or in a second run on the global registry, panics.\n%s", i, panicked, log.Text())
		}
		if err != nil || code != 0 {
			t.Fatalf("run %d: %v; returned %d after a clean shutdown; want it to serve, then return 0.\n%s", i, err, code, log.Text())
		}
	}
	if err := goleak.Find(baseline); err != nil {
		t.Fatalf("goroutines that run started were still there after it returned; want none.\n%v", err)
	}
}

// TestBadFlagsExitTwo: a mistake on the command line is a usage error: one
// line that says what is wrong, and exit code 2, before anything listens.
// (Already true of the starter.)
func TestBadFlagsExitTwo(t *testing.T) {
	t.Parallel()
	// Two groups side by side: one at a time, each command line costs a
	// process start.
	groups := map[string][][]string{
		"addresses and faults": {
			{"-admin-addr", "9090"},
			{"-inject-fault", "crash"},
			{"-metrics-linger", "-1s"},
		},
		"budget": {
			// The drain delay, a drain that runs to its deadline, and the
			// linger must fit the budget together.
			{"-drain-delay", "3s", "-phase-timeout", "10s", "-metrics-linger", "15s", "-shutdown-timeout", "25s"},
			{"-metrics-linger", "30s"}, // past the default budget on its own
			{"-drain-delay", "2s", "-phase-timeout", "2s"},
		},
	}
	for name, commandLines := range groups {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			labtest.ExpectUsageErrors(t, commandLines)
		})
	}
}

// shorten cuts a long body (a metrics page, a profile index) for a failure
// message.
func shorten(r labtest.Response) labtest.Response {
	if len(r.Body) > 200 {
		r.Body = r.Body[:200] + "…"
	}
	return r
}
