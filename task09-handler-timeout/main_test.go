package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"gracefulshutdown.lab/labtest"
)

// TestMain lets each test start this very program as a real process (see
// labtest.Start) and checks that no test leaves a goroutine behind.
func TestMain(m *testing.M) { labtest.Main(m, main) }

const (
	// limit is the handler timeout most tests configure, and slowDelay the
	// time the slow handlers take: over eight times the cap, so that an answer
	// that waited for the handler cannot pass for one that came at the cap.
	limit     = 300 * time.Millisecond
	slowDelay = 2500 * time.Millisecond
	// answerBound is how long after the request a 504 may come. A correct
	// middleware answers within milliseconds of the cap; the rest is room
	// for a busy machine under -race, and still short of slowDelay.
	answerBound = limit + 1700*time.Millisecond
	// clientBound is how long a test's client waits for any answer: long
	// enough to see what a middleware that waits for the handler sends.
	clientBound = slowDelay + 5*time.Second
)

// start runs the program on a free port with the given extra flags and
// returns it with the address it bound. The shutdown timeout is far longer
// than any handler here, so no shutdown in these tests needs to be forced.
func start(t *testing.T, args ...string) (*labtest.Program, string) {
	t.Helper()
	base := []string{"-addr", "127.0.0.1:0", "-shutdown-timeout", "10s", "-log-format", "json"}
	p := labtest.Start(t, append(base, args...)...)
	return p, p.Listening()
}

// startCapped runs the program with the handler timeout at limit and the
// slow handlers taking delay.
func startCapped(t *testing.T, delay time.Duration) (*labtest.Program, string) {
	t.Helper()
	return start(t, "-delay", delay.String(), "-handler-timeout", limit.String())
}

// TestSlowHandlerGetsGatewayTimeoutAtTheCap: the handler on "/" writes
// "hello, ", sleeps for -delay without looking at its context, then writes
// "world". With the cap ten times shorter than that, the client gets 504
// Gateway Timeout at the cap, not the handler's answer (whole or in part)
// later, and the program logs "handler timed out".
func TestSlowHandlerGetsGatewayTimeoutAtTheCap(t *testing.T) {
	t.Parallel()
	p, addr := startCapped(t, slowDelay)

	r := <-labtest.Get("http://"+addr+"/", clientBound)
	check504AtCap(t, p, r)

	ev := p.WaitFor("handler timed out", 2*time.Second)
	if ev.Str("path") != "/" || ev.Str("after") != limit.String() {
		t.Errorf("\"handler timed out\" has path=%q after=%q; want path=\"/\" and after=%q (the -handler-timeout).\n%s",
			ev.Str("path"), ev.Str("after"), limit.String(), p.Transcript())
	}
}

// check504AtCap fails t unless r, the answer to a request on "/" with the
// handler timeout at limit and the handler taking slowDelay, is a 504 that
// came at the cap. Each wrong answer has its own likely cause.
func check504AtCap(t *testing.T, p *labtest.Program, r labtest.Response) {
	t.Helper()
	var why string
	switch {
	case r.Err != nil:
		why = "The client got no answer at all."
	case r.Status == http.StatusOK && strings.HasPrefix(r.Body, "hello, ") && r.Body != "hello, world\n":
		why = "The client got the handler's status and the part of its body written before the cap. " +
			"The middleware let the handler write to the real ResponseWriter: its first Write sent 200, and a 504 after that " +
			"is too late (net/http logs \"superfluous response.WriteHeader call\"). Give the handler a writer of your own " +
			"that keeps the response in memory, and copy it to the real one only if the handler finishes in time."
	case r.Status == http.StatusOK:
		why = "The client waited for the whole answer: the middleware waited for the handler. Cancelling its context is " +
			"not enough, because this handler never looks at it. Run the handler on a goroutine of its own and select on " +
			"its end and on ctx.Done(): at the deadline, answer 504 and return without waiting for it."
	case r.Status == http.StatusServiceUnavailable:
		why = "503 is what http.TimeoutHandler answers. It says \"this server is unavailable\", and a load balancer may " +
			"take it as a reason to stop sending traffic here. What happened is that the handler did not answer in time: " +
			"504 Gateway Timeout (http.StatusGatewayTimeout)."
	case r.Status != http.StatusGatewayTimeout:
		why = "At the cap the client should get 504 Gateway Timeout (http.StatusGatewayTimeout)."
	case r.Elapsed < limit:
		why = "The 504 came before the cap: the deadline is -handler-timeout after the request reaches the middleware."
	case r.Elapsed >= answerBound:
		why = "The 504 came only when the handler had finished: the middleware waited for it. The response goes out " +
			"when the middleware returns, not when it writes, so a middleware that calls the handler on its own goroutine, " +
			"or waits for it (<-done) after writing the 504, holds the 504 back until the handler is done. " +
			"Run the handler on a goroutine of its own and, at the deadline, answer 504 and return without waiting for it."
	default:
		return
	}
	t.Fatalf("GET / got %v; want 504 between %v and %v after the request (the -handler-timeout is %v, the handler takes %v).\n%s\n%s",
		r, limit, answerBound, limit, slowDelay, why, p.Transcript())
}

// TestHandlerContextCancelledAtTheCap: the handler on "/ctx" watches its
// request's context. At the cap that context ends with
// context.DeadlineExceeded: the handler logs "handler cancelled" and gives
// up, and the client gets 504 all the same.
func TestHandlerContextCancelledAtTheCap(t *testing.T) {
	t.Parallel()
	p, addr := startCapped(t, slowDelay)

	resp := labtest.Get("http://"+addr+"/ctx", clientBound)
	ev, err := p.Log().WaitFor("handler cancelled", answerBound, p.Done())
	if err != nil {
		t.Fatalf("%v; want the handler on /ctx, which returns as soon as r.Context() is done, cancelled at the cap (%v).\n"+
			"Hand the handler a request whose context has the deadline: ctx, cancel := context.WithTimeout(r.Context(), limit), "+
			"then next.ServeHTTP(yourWriter, r.WithContext(ctx)).\n%s", err, limit, p.Transcript())
	}
	if got, want := ev.Str("err"), context.DeadlineExceeded.Error(); got != want {
		t.Errorf("the handler's context ended with %q; want %q.\n"+
			"Let the context's own deadline end it (context.WithTimeout), rather than calling cancel from a timer: "+
			"then the handler, and anything it calls, can tell a timeout from a client that hung up.\n%s", got, want, p.Transcript())
	}

	r := <-resp
	if r.Err != nil || r.Status != http.StatusGatewayTimeout {
		why := "Past the deadline the middleware answers 504, whatever the handler did."
		switch r.Status {
		case http.StatusOK:
			why = "This handler gives up without writing anything, and the middleware passed its empty answer on as 200. " +
				"Past the deadline the middleware answers 504, whatever the handler did: after the select, ask " +
				"errors.Is(ctx.Err(), context.DeadlineExceeded), not which case fired."
		case http.StatusServiceUnavailable:
			why = "503 is what http.TimeoutHandler answers; it says \"this server is unavailable\". What happened is that " +
				"the handler did not answer in time: 504 Gateway Timeout (http.StatusGatewayTimeout)."
		}
		t.Errorf("GET /ctx got %v; want 504, like any request that reaches the cap.\n%s\n%s", r, why, p.Transcript())
	}
}

// TestClientHangUpCancelsTheHandler: a client that hangs up while its
// handler on "/ctx" is still working ends that handler's context at once,
// with context.Canceled, well before the cap: the work is for nobody now.
// It is not a timeout: nothing answers, and "handler timed out" is not
// logged (timeout alerts would fill with clients who simply left).
func TestClientHangUpCancelsTheHandler(t *testing.T) {
	t.Parallel()
	const handlerCap = 3 * time.Second
	p, addr := start(t, "-delay", "10s", "-handler-timeout", handlerCap.String())

	ctx, hangUp := context.WithCancel(context.Background())
	defer hangUp()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/ctx", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp := labtest.Do(req, clientBound)
	p.WaitFor("request started", labtest.StartBound)
	hangUp()
	<-resp

	// The handler's context ends by the cap at the latest: how it ends says
	// who ended it.
	ev, err := p.Log().WaitFor("handler cancelled", handlerCap+5*time.Second, p.Done())
	if err != nil {
		t.Fatalf("%v; want the handler on /ctx cancelled when its client hung up.\n%s", err, p.Transcript())
	}
	if got, want := ev.Str("err"), context.Canceled.Error(); got != want {
		t.Fatalf("the client hung up while the handler on /ctx was working, and the handler's context ended with %q; want %q, "+
			"at the hang-up, not at the cap (%v).\n"+
			"The server cancels the request's context when its client goes away: derive the deadline from it, "+
			"context.WithTimeout(r.Context(), limit), not from context.Background(), so that the handler hears of it.\n%s",
			got, want, handlerCap, p.Transcript())
	}

	p.Signal(syscall.SIGTERM)
	p.ExitWithin(5*time.Second, "nothing is in flight once the handler has given up, so the drain has nothing to wait for")
	if p.Log().Has("handler timed out") {
		t.Fatalf("the program logged \"handler timed out\" for a client that hung up long before the cap (%v); want nothing logged as a "+
			"timeout: no deadline passed.\n"+
			"A context that ends with context.Canceled (the client went away) is not a timeout: answer 504 and log "+
			"\"handler timed out\" only when errors.Is(ctx.Err(), context.DeadlineExceeded).\n%s", handlerCap, p.Transcript())
	}
}

// TestTimeoutIsNotLate: the 504 comes at the cap, not some time after it.
// With a cap of 50 ms, each of four requests on "/" must be answered
// within a fraction of a second of the cap, by the program's own clock
// (from "request started" to "handler timed out"). The quickest of the four
// is the one judged, so one request delayed by a busy machine does not fail
// a correct program; a middleware that looks at its handler only every so
// often (a poll) is late on every one of them.
func TestTimeoutIsNotLate(t *testing.T) {
	t.Parallel()
	const shortCap, late, requests = 50 * time.Millisecond, 300 * time.Millisecond, 4
	p, addr := start(t, "-delay", slowDelay.String(), "-handler-timeout", shortCap.String())

	var resps []<-chan labtest.Response
	for i := range requests {
		resps = append(resps, labtest.Get(fmt.Sprintf("http://%s/r%d", addr, i), clientBound))
	}
	quickest := time.Duration(-1)
	for i, resp := range resps {
		if r := <-resp; r.Err != nil || r.Status != http.StatusGatewayTimeout {
			t.Fatalf("GET /r%d got %v; want 504 at the cap (%v). TestSlowHandlerGetsGatewayTimeoutAtTheCap says more.\n%s",
				i, r, shortCap, p.Transcript())
		}
		path := fmt.Sprintf("/r%d", i)
		byPath := func(msg string) func(labtest.Event) bool {
			return func(ev labtest.Event) bool { return ev.Msg() == msg && ev.Str("path") == path }
		}
		started := p.WaitForMatch(`"request started" with path="`+path+`"`, 5*time.Second, byPath("request started"))
		timedOut := p.WaitForMatch(`"handler timed out" with path="`+path+`"`, 5*time.Second, byPath("handler timed out"))
		took := labtest.EventTime(t, timedOut).Sub(labtest.EventTime(t, started))
		if quickest < 0 || took < quickest {
			quickest = took
		}
	}
	if quickest > shortCap+late {
		t.Fatalf("with a cap of %v, the quickest of %d timed-out requests logged \"handler timed out\" %v after \"request started\"; "+
			"want it within %v of the cap.\n"+
			"The 504 is late: does the middleware look at the handler and the deadline only now and then (a loop with a "+
			"sleep or a timer)? Select on the handler's done channel and on ctx.Done(): the select wakes the moment the "+
			"deadline passes.\n%s", shortCap, requests, quickest.Round(time.Millisecond), late, p.Transcript())
	}
}

// TestHandlersOwnStatusPassesThrough calls the middleware itself, around a
// handler that sheds load with its own 503 Service Unavailable and a
// Retry-After header, well within the cap. That answer is the handler's,
// and the client must get it untouched: a 503 turned into a 504 (or logged
// as a timeout) tells load balancers and retry policies the wrong thing.
func TestHandlersOwnStatusPassesThrough(t *testing.T) {
	t.Parallel()
	log := labtest.NewEventLog()
	shedding := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "5")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "overloaded, try again later")
	})
	mw := handlerTimeout(5*time.Second, slog.New(slog.NewJSONHandler(log, nil)))(shedding)

	rec := httptest.NewRecorder()
	mw.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/busy", nil))

	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "5" || rec.Body.String() != "overloaded, try again later\n" {
		t.Fatalf("a handler that answered 503 with Retry-After 5 at once, under a 5s cap, reached the client as %d %q with "+
			"Retry-After %q; want 503 \"overloaded, try again later\\n\" with Retry-After \"5\", exactly as it wrote them.\n"+
			"A handler that finishes in time passes through untouched, whatever its status. http.TimeoutHandler with its "+
			"503 rewritten to 504 cannot tell its own 503 from the handler's: write the middleware yourself.\n"+
			"--- what the middleware logged ---\n%s", rec.Code, rec.Body.String(), rec.Header().Get("Retry-After"), log.Text())
	}
	if log.Has("handler timed out") {
		t.Fatalf("the middleware logged \"handler timed out\" for a handler that answered 503 at once; want nothing logged.\n%s", log.Text())
	}
}

// TestHandlersWithinTheCapPassThrough: a handler that finishes before the
// cap is not touched: the client gets its status, its headers and its body,
// exactly as it wrote them.
func TestHandlersWithinTheCapPassThrough(t *testing.T) {
	t.Parallel()
	// The slow handler takes 100ms here, well within a 5s cap.
	p, addr := start(t, "-delay", "100ms", "-handler-timeout", "5s")

	t.Run("fast", func(t *testing.T) {
		r := <-labtest.Get("http://"+addr+"/fast", 5*time.Second)
		if r.Err != nil || r.Status != http.StatusCreated || r.Header.Get("X-Lab") != "fast" || r.Body != "fast\n" {
			t.Errorf("GET /fast got %v with X-Lab %q; want 201 \"fast\\n\" with X-Lab \"fast\", as the handler wrote them.\n"+
				"When the handler finishes in time, copy everything it wrote to the real ResponseWriter: "+
				"its headers first (they must be set before WriteHeader), then its status, then its body.\n%s",
				r, r.Header.Get("X-Lab"), p.Transcript())
		}
	})
	t.Run("slow_but_in_time", func(t *testing.T) {
		r := <-labtest.Get("http://"+addr+"/", 5*time.Second)
		if r.Err != nil || r.Status != http.StatusOK || r.Body != "hello, world\n" {
			t.Errorf("GET / with a handler that takes 100ms and a 5s cap got %v; want 200 \"hello, world\\n\".\n%s", r, p.Transcript())
		}
	})
	if p.Log().Has("handler timed out") {
		t.Errorf("the program logged \"handler timed out\" although every handler finished within the 5s cap.\n%s", p.Transcript())
	}
}

// TestLateWritesAreDiscarded: the handler on "/" writes again after the
// client has had its 504. That write is refused with http.ErrHandlerTimeout
// and goes nowhere; there is no data race (these tests run with -race, and
// so does the program they start); the program keeps serving and exits 0.
func TestLateWritesAreDiscarded(t *testing.T) {
	t.Parallel()
	if !labtest.RaceDetectorOn() {
		t.Log("built without -race: a data race in the program cannot be seen. Run go test -race (the lab tool does).")
	}
	// The handler's second write comes 500ms after the cap: soon enough to
	// wait for, late enough that the 504 is long gone.
	const lateDelay = limit + 500*time.Millisecond
	p, addr := startCapped(t, lateDelay)

	r := <-labtest.Get("http://"+addr+"/", clientBound)
	if r.Err != nil || r.Status != http.StatusGatewayTimeout {
		t.Fatalf("GET / got %v; want 504 at the cap (%v), before the handler's second write at %v. "+
			"TestSlowHandlerGetsGatewayTimeoutAtTheCap says more.\n%s", r, limit, lateDelay, p.Transcript())
	}
	ev := p.WaitFor("handler finished", lateDelay+5*time.Second)
	checkNoRace(t, p)
	if got, want := ev.Str("err"), http.ErrHandlerTimeout.Error(); got != want {
		t.Errorf("the handler's write after the cap returned error %q; want %q.\n"+
			"Once the 504 has gone, your writer's Write should store nothing and return http.ErrHandlerTimeout, "+
			"so that a handler that checks its writes knows to stop.\n%s", got, want, p.Transcript())
	}

	fast := <-labtest.Get("http://"+addr+"/fast", 5*time.Second)
	if fast.Status == http.StatusGatewayTimeout {
		t.Fatalf("GET /fast, whose handler answers at once, got %v; want 201.\n"+
			"The middleware answered 504 although the handler had finished long before the cap (%v). Does it notice the "+
			"handler's end only now and then (a loop with a sleep or a timer), and by then see the deadline passed? "+
			"Select on the handler's done channel and on ctx.Done(), so that the end of the handler is seen when it happens.\n%s",
			fast, limit, p.Transcript())
	}
	if fast.Err != nil || fast.Status != http.StatusCreated {
		t.Fatalf("after the late write, GET /fast got %v; want 201: the program should keep serving.\n%s", fast, p.Transcript())
	}
	p.Signal(syscall.SIGTERM)
	code := p.ExitWithin(5*time.Second, "nothing is in flight, so the drain has nothing to wait for")
	checkNoRace(t, p)
	if code != 0 {
		t.Fatalf("exit code %d after a clean shutdown; want 0.\n%s", code, p.Transcript())
	}
}

// checkNoRace fails t if the race detector reported a data race in the
// program.
func checkNoRace(t *testing.T, p *labtest.Program) {
	t.Helper()
	if code, exited := p.Exited(); strings.Contains(p.Log().Text(), "WARNING: DATA RACE") || (exited && code == 66) {
		t.Fatalf("the race detector found a data race in the program; want none.\n"+
			"The handler writes on its goroutine while the middleware reads the response, or marks it timed out, on another. "+
			"Guard every field of your writer with one sync.Mutex, in Write, WriteHeader and the middleware alike, "+
			"and never let the handler touch the real ResponseWriter.\n%s", p.Transcript())
	}
}

// TestDrainEndsAtTheCap: SIGTERM arrives while the handler on "/" is
// sleeping for -delay. The drain does not wait for it: the request gets its
// 504 at the cap, after which nothing is in flight, and the process exits 0
// well before the handler would have finished.
func TestDrainEndsAtTheCap(t *testing.T) {
	t.Parallel()
	p, addr := startCapped(t, slowDelay)

	resp := labtest.Get("http://"+addr+"/", clientBound)
	p.WaitFor("request started", labtest.StartBound)
	p.Signal(syscall.SIGTERM)
	code := p.ExitWithin(answerBound, "the drain waited for the handler on /, which ignores its context and takes "+slowDelay.String()+
		". Shutdown waits for every request in flight, so the cap must answer this one (504 at "+limit.String()+
		") and return without waiting for the handler; then the drain ends at the cap")
	checkNoRace(t, p)
	if code != 0 {
		t.Fatalf("exit code %d after a drain that should have ended at the cap; want 0.\n%s", code, p.Transcript())
	}
	if !p.Log().Has("exited") {
		t.Errorf("the program never logged \"exited\"; log it as the last thing run does.\n%s", p.Transcript())
	}
	if r := <-resp; r.Err != nil || r.Status != http.StatusGatewayTimeout {
		t.Errorf("the request in flight at the signal got %v; want 504 at the cap.\n%s", r, p.Transcript())
	}
}

// TestBadFlagsExitTwo: a mistake on the command line is a usage error: one
// line that says what is wrong, and exit code 2, before anything listens.
func TestBadFlagsExitTwo(t *testing.T) {
	t.Parallel()
	labtest.ExpectUsageErrors(t, [][]string{
		{"-delay", "-1s"},
		// A cap of zero would answer every request with 504.
		{"-handler-timeout", "0s"},
		{"-handler-timeout", "-10s"},
		{"-handler-timeout", "soon"},
		{"-shutdown-timeout", "-1s"},
		{"-addr", "8080"},
		{"-log-format", "xml"},
	})
}
