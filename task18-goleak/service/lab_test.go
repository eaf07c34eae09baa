package service_test

// The lab's tests of the service: each runs Run in this process, against a
// quote service of its own, and then asks goleak what is still running.
// Your own test is leak_test.go; these are the ones that grade the service.
//
// Why in this process: goleak sees the goroutines of the process it runs
// in, and nothing else. The program's tests in ../main_test.go start it as
// a process of its own, where a leak is invisible to them.
//
// Why no TestMain here: leak_test.go is yours, and may have one (two in one
// package do not compile). Each test below checks for leaks itself, at its
// end, which also names the test that leaked.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"gracefulshutdown.lab/labtest"
	"gracefulshutdown.lab/task18-goleak/service"
)

const (
	// statsEvery is short, so that the stats reporter is surely running
	// (it has logged) before a test stops the service.
	statsEvery = 50 * time.Millisecond
	// longTimeout is the -downstream-timeout of the tests in which the
	// quote service answers at once. It is long on purpose: a leak that
	// the time-out would end (a body left open on a client with a
	// Timeout, say) must still be there when the test looks, a moment
	// after Run returns.
	longTimeout = 10 * time.Second
	// shortTimeout is the -downstream-timeout of the test whose quote
	// service never answers: short, for a quick test.
	shortTimeout = 200 * time.Millisecond
	// phaseTimeout bounds each shutdown phase: a phase that waits for a
	// goroutine that never ends fails after it, and the test goes on.
	phaseTimeout = time.Second
	// returnBound is how long Run may take to return once its context is
	// cancelled: every phase's deadline, plus a margin for a busy machine.
	returnBound = 6*phaseTimeout + 5*time.Second
)

// The quote service's topics, as the tests' own quote service answers them.
const (
	topicMissing = "missing" // 404 Not Found, with a body
	topicHang    = "hang"    // no answer until the caller gives up, or the test ends
	topicSlow    = "slow"    // answers once the test says so (answerSlowCalls)
)

// fakeQuote is the quote the tests' quote service gives about any other
// topic.
const fakeQuote = "Test what you leave behind."

// quoteService is the quote service a test's Run calls: a real HTTP server
// on a loopback port, in this process. It lives until the test has made its
// leak check (t.Cleanup runs after the test function returns), so that a
// connection the service left open is still open when goleak looks:
// closing the server first would close the service's end too.
type quoteService struct {
	*httptest.Server
	calls       chan string // the topic of each call, as it arrives
	callerGone  chan string // the topic of each call whose caller went away before its answer
	answerSlow  chan struct{}
	answerOnce  sync.Once
	connections atomic.Int32 // connections opened to it
}

func startQuoteService(t *testing.T) *quoteService {
	t.Helper()
	qs := &quoteService{calls: make(chan string, 16), callerGone: make(chan string, 16), answerSlow: make(chan struct{})}
	testOver := make(chan struct{})
	qs.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		topic := r.URL.Query().Get("topic")
		tell(qs.calls, topic)
		switch topic {
		case topicMissing:
			http.Error(w, "no quote about that", http.StatusNotFound)
			return
		case topicHang, topicSlow:
			answer := qs.answerSlow
			if topic == topicHang {
				answer = nil // never
			}
			select {
			case <-r.Context().Done(): // the caller gave up and closed the connection
				tell(qs.callerGone, topic)
				return
			case <-answer:
			case <-testOver:
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"quote": fakeQuote})
	}))
	qs.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			qs.connections.Add(1)
		}
	}
	qs.Start()
	t.Cleanup(func() {
		close(testOver)
		qs.Close()
	})
	return qs
}

// tell sends topic on c, unless c is full: no test waits for that many.
func tell(c chan string, topic string) {
	select {
	case c <- topic:
	default:
	}
}

// arrives reports whether topic comes on c within d.
func arrives(c chan string, topic string, d time.Duration) bool {
	timeout := time.After(d)
	for {
		select {
		case got := <-c:
			if got == topic {
				return true
			}
		case <-timeout:
			return false
		}
	}
}

// answerSlowCalls lets the calls about topicSlow have their answer.
func (qs *quoteService) answerSlowCalls() { qs.answerOnce.Do(func() { close(qs.answerSlow) }) }

// running is the service, running in this process.
type running struct {
	url    string // http:// and the address it listens on
	log    *labtest.EventLog
	cancel context.CancelFunc
	done   chan struct{} // closed when Run has returned; code is then set
	code   int
}

// startService runs service.Run in a goroutine against the quote service
// at downstream (empty: its embedded one), with the durations above (extra flags override them), and
// returns once it listens.
func startService(t *testing.T, downstream string, extra ...string) *running {
	t.Helper()
	args := []string{
		"-addr", "127.0.0.1:0", "-log-format", "json",
		"-downstream-timeout", longTimeout.String(),
		"-stats-every", statsEvery.String(),
		"-drain-delay", "0s",
		"-phase-timeout", phaseTimeout.String(),
		"-shutdown-timeout", (3 * phaseTimeout).String(),
	}
	if downstream != "" {
		args = append(args, "-downstream", downstream)
	}
	args = append(args, extra...)
	ctx, cancel := context.WithCancel(context.Background())
	// Should the test fail before it stops the service, the service still
	// stops when the test is over.
	t.Cleanup(cancel)
	s := &running{log: labtest.NewEventLog(), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		s.code = service.Run(ctx, args, io.Discard, s.log)
	}()
	ev, err := s.log.WaitFor("listening", labtest.StartBound, s.done)
	if err != nil {
		cancel()
		t.Fatalf("%v; want Run to start serving.\n%s", err, s.log.Text())
	}
	s.url = "http://" + ev.Str("addr")
	return s
}

// stop cancels Run's context, as main does at the signal, and waits for Run
// to return 0.
func (s *running) stop(t *testing.T) {
	t.Helper()
	s.cancel()
	select {
	case <-s.done:
	case <-time.After(returnBound):
		t.Fatalf("Run had not returned %v after its context was cancelled; want it to return once its phases are done.\n%s", returnBound, s.log.Text())
	}
	if s.code != 0 {
		t.Fatalf("Run returned %d after a clean shutdown; want 0. A phase that failed says why in the log.\n%s", s.code, s.log.Text())
	}
}

// get sends GET path to the service and returns the response.
func (s *running) get(t *testing.T, path string) labtest.Response {
	t.Helper()
	return <-labtest.Get(s.url+path, longTimeout+10*time.Second)
}

// checkNoLeaks fails t if a goroutine that is not in baseline is still
// running. goleak retries for about 0.4 s before it reports, so a goroutine
// that is on its way out has the time to end.
func checkNoLeaks(t *testing.T, baseline goleak.Option, s *running) {
	t.Helper()
	err := goleak.Find(baseline)
	if err == nil {
		return
	}
	t.Errorf("after Run returned, goroutines it started were still running; want none.\n%s\n"+
		"For each one, its \"created by\" line says which line started it, and its first lines where it waits. "+
		"README.md (\"Reading goleak's report\") goes through each kind.\n"+
		"--- goleak's report ---\n%v\n--- what the service logged ---\n%s", digest(err.Error()), err, s.log.Text())
}

// TestIdleServiceLeavesNoGoroutine: Run starts the service, with its
// embedded quote service, which serves nothing, and returns when its
// context is cancelled; then no goroutine it started is left: the stats
// reporter has left its loop, the SIGUSR1 watcher has ended, and the
// embedded quote service has stopped listening.
func TestIdleServiceLeavesNoGoroutine(t *testing.T) {
	// The baseline is taken before the service starts: its goroutines are
	// the ones under test.
	baseline := goleak.IgnoreCurrent()
	s := startService(t, "")

	if _, err := s.log.WaitFor("stats", labtest.StartBound, s.done); err != nil {
		t.Fatalf("%v; want the stats reporter to log \"stats\" every %v.\n%s", err, statsEvery, s.log.Text())
	}
	s.stop(t)
	checkNoLeaks(t, baseline, s)
}

// TestServedQuotesLeaveNoConnection: two requests get their quote, a
// second apart, over a connection the client keeps open between them;
// after Run returns no connection to the quote service is left open. (An
// idle keep-alive connection is two goroutines of the client's transport,
// until something closes it.) The second of quiet tells closing the idle
// connections at shutdown from an IdleConnTimeout short enough to end
// within goleak's retry window: that one closes the connection between
// the two calls.
func TestServedQuotesLeaveNoConnection(t *testing.T) {
	qs := startQuoteService(t)
	baseline := goleak.IgnoreCurrent()
	s := startService(t, qs.URL)

	const quiet = time.Second
	for i := range 2 {
		if i > 0 {
			time.Sleep(quiet) // not a wait for an event: the quiet is the scenario
		}
		if r := s.get(t, "/?topic=goroutines"); r.Err != nil || r.Status != http.StatusOK || r.Body != fakeQuote+"\n" {
			t.Fatalf("request %d: GET /?topic=goroutines got %v; want 200 %q, the quote service's quote.\n%s", i+1, r, fakeQuote+"\n", s.log.Text())
		}
	}
	if n := qs.connections.Load(); n != 1 {
		t.Errorf("the service opened %d connections to the quote service for two quotes %v apart; want 1, kept open between them "+
			"(HTTP keep-alive). A Transport with an IdleConnTimeout shorter than the quiet closed it in between: keep the "+
			"connections while the service runs, and close the idle ones in a phase at shutdown (CloseIdleConnections).\n%s", n, quiet, s.log.Text())
	}
	s.stop(t)
	checkNoLeaks(t, baseline, s)
}

// TestErrorStatusLeavesNoConnection: the quote service answers 404 (with a
// body); the service answers 502, and after Run returns nothing of that
// call is left: the response body was closed, so its connection is not
// held open waiting for it.
func TestErrorStatusLeavesNoConnection(t *testing.T) {
	qs := startQuoteService(t)
	baseline := goleak.IgnoreCurrent()
	s := startService(t, qs.URL)

	r := s.get(t, "/?topic="+topicMissing)
	if r.Err != nil || r.Status != http.StatusBadGateway || !strings.Contains(r.Body, "404") {
		t.Fatalf("GET /?topic=%s got %v; want 502 saying the quote service answered 404.\n%s", topicMissing, r, s.log.Text())
	}
	if !s.log.Has("downstream failed") {
		t.Errorf("the service never logged \"downstream failed\" for the quote service's 404.\n%s", s.log.Text())
	}
	s.stop(t)
	checkNoLeaks(t, baseline, s)
}

// TestTimedOutCallLeavesNoGoroutine: the quote service never answers; the
// request gets 504 after -downstream-timeout, and after Run returns nothing
// of the abandoned call is left: no goroutine blocked sending a result
// nobody will read, and no call still waiting for the quote service, which
// still hangs when goleak looks.
func TestTimedOutCallLeavesNoGoroutine(t *testing.T) {
	qs := startQuoteService(t)
	baseline := goleak.IgnoreCurrent()
	s := startService(t, qs.URL, "-downstream-timeout", shortTimeout.String())

	r := s.get(t, "/?topic="+topicHang)
	if r.Err != nil || r.Status != http.StatusGatewayTimeout {
		t.Fatalf("GET /?topic=%s, to a quote service that never answers, got %v; want 504 after -downstream-timeout (%v).\n%s",
			topicHang, r, shortTimeout, s.log.Text())
	}
	// The time-out is 200 ms; the bound leaves room for a busy machine.
	if bound := shortTimeout + 2*time.Second; r.Elapsed > bound {
		t.Errorf("the 504 came after %v; want it about -downstream-timeout (%v) after the request, within %v.\n%s",
			r.Elapsed.Round(time.Millisecond), shortTimeout, bound, s.log.Text())
	}
	if !s.log.Has("downstream timed out") {
		t.Errorf("the service never logged \"downstream timed out\".\n%s", s.log.Text())
	}
	s.stop(t)
	checkNoLeaks(t, baseline, s)
}

// goroutineHeader is how goleak introduces each goroutine it reports.
var goroutineHeader = regexp.MustCompile(`(?m)^\[?\s*Goroutine (\d+) in state ([^,]+), with (\S+) on top of the stack:$`)

// digest is one line per goroutine of goleak's report: where it waits, in
// the program's own code if it is there, who started it, and what that
// kind of goroutine usually means.
func digest(report string) string {
	heads := goroutineHeader.FindAllStringSubmatchIndex(report, -1)
	var b strings.Builder
	for i, h := range heads {
		end := len(report)
		if i+1 < len(heads) {
			end = heads[i+1][0]
		}
		id, state, top := report[h[2]:h[3]], report[h[4]:h[5]], report[h[6]:h[7]]
		stack := report[h[1]:end]
		fmt.Fprintf(&b, "  goroutine %s [%s], %s: %s\n", id, state, where(stack, top), cause(stack, state))
	}
	return strings.TrimRight(b.String(), "\n")
}

// where names the goroutine's first frame in the program's own code (or its
// top frame if it has none), and the line that started it.
func where(stack, top string) string {
	lines := strings.Split(stack, "\n")
	at := "in " + top
	for i, l := range lines {
		if strings.HasPrefix(l, "gracefulshutdown.lab/task18-goleak/") && i+1 < len(lines) {
			at = "in " + strings.TrimPrefix(funcName(l), "gracefulshutdown.lab/task18-goleak/") + " (" + shortPath(lines[i+1]) + ")"
			break
		}
	}
	for i, l := range lines {
		if strings.HasPrefix(l, "created by ") && i+1 < len(lines) {
			creator := strings.TrimPrefix(funcName(strings.TrimPrefix(l, "created by ")), "gracefulshutdown.lab/task18-goleak/")
			return at + ", started by " + creator + " (" + shortPath(lines[i+1]) + ")"
		}
	}
	return at
}

// funcName is the function of a stack line, without its arguments or the
// goroutine that created it.
func funcName(line string) string {
	line, _, _ = strings.Cut(line, " in goroutine")
	if i := strings.LastIndex(line, "("); i > 0 && strings.HasSuffix(line, ")") && !strings.HasSuffix(line, ")()") {
		if !strings.Contains(line[i:], "*") {
			line = line[:i]
		}
	}
	return line
}

// shortPath turns a "\t/path/to/file.go:12 +0x1f" line into file.go:12,
// relative to the task folder where it is in it.
func shortPath(line string) string {
	line = strings.TrimSpace(line)
	line, _, _ = strings.Cut(line, " +0x")
	if _, rest, ok := strings.Cut(line, "task18-goleak/"); ok {
		return rest
	}
	if i := strings.LastIndex(line, "/src/"); i >= 0 {
		return line[i+len("/src/"):]
	}
	return line
}

// cause says what a goroutine like this one usually is.
func cause(stack, state string) string {
	switch {
	case strings.Contains(stack, "net/http.(*persistConn).readLoop") && strings.HasPrefix(state, "IO wait"):
		return "a client connection reading from the quote service: idle, kept for the next call until someone calls CloseIdleConnections, " +
			"or waiting for the answer to a call still in flight (then that call's goroutine is listed too)"
	case strings.Contains(stack, "net/http.(*persistConn).readLoop"):
		return "a connection of the client's transport waiting for its response body to be closed (or read to the end): a body nobody closed"
	case strings.Contains(stack, "net/http.(*persistConn).writeLoop"):
		return "the writing half of a client connection that is still open (the readLoop goroutine says why)"
	case strings.Contains(stack, "net/http.(*Transport).roundTrip") || strings.Contains(stack, "net/http.(*persistConn).roundTrip"):
		return "a call still waiting for the quote service's answer: nothing cancelled it when its caller gave up"
	case strings.Contains(stack, "net/http.(*conn).serve") || strings.Contains(stack, "net/http.(*connReader).backgroundRead"):
		return "a connection served by an HTTP server (the test's quote service, or the service's own): the other end of a connection left open"
	case strings.HasPrefix(state, "chan send"):
		return "blocked sending on a channel that nobody will ever receive from again"
	case strings.HasPrefix(state, "chan receive"):
		return "waiting to receive from a channel, with nothing to tell it to stop: a loop over a ticker's channel or a signal channel ends only if it also watches a context or a quit channel (Stop closes neither channel)"
	case strings.HasPrefix(state, "select"):
		return "waiting in a select none of whose cases will ever be ready"
	default:
		return "still running"
	}
}
