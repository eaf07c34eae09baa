package main

// The program's tests: each starts it as a process of its own, with the
// embedded quote service, and checks what a client, an operator and an
// orchestrator see. They hold for the starter already: the leaks are not
// something a process shows from outside, and a test in this process
// cannot see a goroutine in that one. The leak tests run the service in
// their own process: service/lab_test.go.

import (
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"gracefulshutdown.lab/labtest"
)

// TestMain lets each test start this very program as a real process (see
// labtest.Start) and checks that no test leaves a goroutine behind.
func TestMain(m *testing.M) { labtest.Main(m, main) }

// clientBound is how long a test's client waits for any answer.
const clientBound = 10 * time.Second

// start runs the program on a free port with the embedded quote service
// and no drain delay (extra flags override the defaults below) and returns
// it with the URL it serves.
func start(t *testing.T, extra ...string) (*labtest.Program, string) {
	t.Helper()
	args := []string{
		"-addr", "127.0.0.1:0", "-log-format", "json",
		"-downstream-delay", "0s",
		"-drain-delay", "0s",
		"-phase-timeout", "3s",
	}
	p := labtest.Start(t, append(args, extra...)...)
	return p, "http://" + p.Listening()
}

// TestQuotesAreServed: GET /?topic=T answers the quote service's quote
// about T; a topic it has no quote about is a 502 that says the quote
// service answered 404, and "downstream failed" at WARN.
func TestQuotesAreServed(t *testing.T) {
	t.Parallel()
	p, url := start(t)

	const want = "Every goroutine you start needs a way to end.\n"
	if r := <-labtest.Get(url+"/?topic=goroutines", clientBound); r.Err != nil || r.Status != http.StatusOK || r.Body != want {
		t.Fatalf("GET /?topic=goroutines got %v; want 200 %q from the embedded quote service.\n%s", r, want, p.Transcript())
	}
	if r := <-labtest.Get(url+"/", clientBound); r.Err != nil || r.Status != http.StatusOK || r.Body != want {
		t.Fatalf("GET / got %v; want 200 %q: the topic is \"goroutines\" when the request names none.\n%s", r, want, p.Transcript())
	}
	r := <-labtest.Get(url+"/?topic=cobol", clientBound)
	if r.Err != nil || r.Status != http.StatusBadGateway || !strings.Contains(r.Body, "404") {
		t.Fatalf("GET /?topic=cobol got %v; want 502 saying that the quote service answered 404.\n%s", r, p.Transcript())
	}
	ev := p.WaitFor("downstream failed", 5*time.Second)
	if ev.Level() != "WARN" || ev.Str("topic") != "cobol" {
		t.Errorf("\"downstream failed\" was logged at %s with topic %q; want WARN and \"cobol\".\n%s", ev.Level(), ev.Str("topic"), p.Transcript())
	}
}

// TestSlowQuoteServiceTimesOut: when the quote service takes longer than
// -downstream-timeout, the request gets 504 Gateway Timeout once the
// time-out has passed, not once the quote service answers.
func TestSlowQuoteServiceTimesOut(t *testing.T) {
	t.Parallel()
	const timeout, slow = 100 * time.Millisecond, 3 * time.Second
	p, url := start(t, "-downstream-timeout", timeout.String(), "-downstream-delay", slow.String())

	r := <-labtest.Get(url+"/", clientBound)
	if r.Err != nil || r.Status != http.StatusGatewayTimeout {
		t.Fatalf("GET / with a quote service slower (%v) than -downstream-timeout (%v) got %v; want 504.\n%s", slow, timeout, r, p.Transcript())
	}
	// The margin is for a busy machine; the quote service answers only at
	// 3 s.
	if bound := timeout + time.Second; r.Elapsed > bound {
		t.Errorf("the 504 came after %v; want it soon after -downstream-timeout (%v), within %v, not when the quote service answers (%v).\n%s",
			r.Elapsed.Round(time.Millisecond), timeout, bound, slow, p.Transcript())
	}
	if ev := p.WaitFor("downstream timed out", 5*time.Second); ev.Level() != "WARN" {
		t.Errorf("\"downstream timed out\" was logged at %s; want WARN.\n%s", ev.Level(), p.Transcript())
	}
}

// TestStatsAreLogged: every -stats-every, the stats reporter logs the
// counters: how many quotes were served, failed and timed out so far.
func TestStatsAreLogged(t *testing.T) {
	t.Parallel()
	p, url := start(t, "-stats-every", "50ms")

	if r := <-labtest.Get(url+"/", clientBound); r.Err != nil || r.Status != http.StatusOK {
		t.Fatalf("GET / got %v; want 200.\n%s", r, p.Transcript())
	}
	p.WaitForMatch(`"stats" with served=1`, 5*time.Second, func(ev labtest.Event) bool {
		return ev.Msg() == "stats" && ev.Str("served") == "1" && ev.Str("failed") == "0" && ev.Str("timed_out") == "0"
	})
}

// TestSIGUSR1TogglesDebugLogging: SIGUSR1 switches the log level to DEBUG,
// where each call to the quote service is logged ("downstream call"), and
// the next SIGUSR1 switches it back to INFO. The program keeps serving
// throughout.
func TestSIGUSR1TogglesDebugLogging(t *testing.T) {
	t.Parallel()
	p, url := start(t)

	get := func() {
		t.Helper()
		if r := <-labtest.Get(url+"/", clientBound); r.Err != nil || r.Status != http.StatusOK {
			t.Fatalf("GET / got %v; want 200.\n%s", r, p.Transcript())
		}
	}
	levelIs := func(level string) {
		t.Helper()
		p.WaitForMatch(`"log level" with now=`+level, 5*time.Second, func(ev labtest.Event) bool {
			return ev.Msg() == "log level" && ev.Str("now") == level
		})
	}

	get()
	if p.Log().Has("downstream call") {
		t.Fatalf("\"downstream call\" was logged at the default level; want it only at DEBUG.\n%s", p.Transcript())
	}
	p.Signal(syscall.SIGUSR1)
	levelIs("DEBUG")
	get()
	ev := p.WaitFor("downstream call", 5*time.Second)
	if ev.Level() != "DEBUG" {
		t.Errorf("\"downstream call\" was logged at %s; want DEBUG.\n%s", ev.Level(), p.Transcript())
	}
	p.Signal(syscall.SIGUSR1)
	levelIs("INFO")
	get()
	if n := p.Log().Count("downstream call"); n != 1 {
		t.Errorf("%d \"downstream call\" events; want 1, from the one request made at DEBUG.\n%s", n, p.Transcript())
	}
}

// TestShutdownDrainsAndExitsZero: a request in flight at SIGTERM still gets
// its quote; then the program exits 0, with "exited" last.
func TestShutdownDrainsAndExitsZero(t *testing.T) {
	t.Parallel()
	const slow = 500 * time.Millisecond
	p, url := start(t, "-downstream-delay", slow.String(), "-downstream-timeout", "5s")

	resp := labtest.Get(url+"/", clientBound)
	p.WaitFor("request started", labtest.StartBound)
	p.Signal(syscall.SIGTERM)
	if r := <-resp; r.Err != nil || r.Status != http.StatusOK {
		t.Fatalf("the request in flight at SIGTERM got %v; want 200 and its quote: the drain lets it finish.\n%s", r, p.Transcript())
	}
	if code := p.ExitWithin(5*time.Second, "after the drain, every phase should end promptly"); code != 0 {
		t.Fatalf("exit code %d after a clean shutdown; want 0.\n%s", code, p.Transcript())
	}
	events := p.Log().Events()
	if last := events[len(events)-1]; last.Msg() != "exited" || last.Str("code") != "0" {
		t.Errorf("the last event was %q (code %q); want \"exited\" with code 0.\n%s", last.Msg(), last.Str("code"), p.Transcript())
	}
}

// TestBadFlagsExitTwo: a mistake on the command line is a usage error: one
// line that says what is wrong, and exit code 2, before anything listens.
func TestBadFlagsExitTwo(t *testing.T) {
	t.Parallel()
	labtest.ExpectUsageErrors(t, [][]string{
		{"-downstream", "localhost:9000"}, // no scheme: not a base URL
		{"-downstream-timeout", "0s"},
		{"-downstream-delay", "-1s"},
		{"-stats-every", "0s"},
		{"-drain-delay", "30s"}, // longer than the whole shutdown's budget
		{"-log-format", "xml"},
	})
}
