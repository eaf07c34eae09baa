package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
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

const (
	// delay is how long the hello on / takes here: long enough to be
	// surely in flight at the signal, short enough for a quick suite.
	delay = 500 * time.Millisecond
	// phaseTimeout is each phase's deadline. A program that does not
	// release its long polls waits for them until then, and is forced to
	// close; a correct one is done long before.
	phaseTimeout = 3 * time.Second
	// pollTimeout is how long a poll waits for an event: longer than any
	// test, so that only the drain can end a poll early.
	pollTimeout = 30 * time.Second

	// releaseSpec is the specification: a long poll in flight when the
	// drain begins has its complete answer within 100 ms. A correct
	// program takes a millisecond or two: the release is one cancel and
	// one write.
	releaseSpec = 100 * time.Millisecond
	// releaseBound is what the tests accept. It is measured from the event
	// the program logs as the drain begins ("shutdown started" with no drain
	// delay, "phase started" for the http server after one), by the
	// program's clock, to the moment the test has read the whole response,
	// by the test's: both read the same machine's wall clock. Starting from
	// the program's own event leaves out what is not the program's doing:
	// the signal's delivery, and a drain delay's timer that fires late on a
	// busy machine. What is left is the release itself (a cancel, a
	// goroutine woken, a write) and the test's client reading it; on two
	// cores saturated by other builds under -race each of those can wait
	// for a CPU for tens of milliseconds, hence the margin. It is still an
	// sixth of phaseTimeout, when a program that waits the polls out
	// answers, if at all.
	releaseBound = releaseSpec + 400*time.Millisecond
	// answerBound is what the tests accept for the same release measured
	// by the program's clock alone: from its "phase started" for the http
	// server to its "request done" for the poll, logged as the poll's
	// handler returns. That leaves out the test's client, and with it half
	// of what a busy machine adds; what is left is a cancel and two
	// goroutines woken. A release put off on a timer of its own, "a last
	// chance for events", shows here.
	answerBound = releaseSpec + 200*time.Millisecond

	// shutdownPollMax is net/http's own: Shutdown checks whether every
	// connection is idle at intervals that double up to 500 ms, so it may
	// notice that the last request has ended that much later.
	shutdownPollMax = 500 * time.Millisecond
	// promptBound is how soon after the signal a program whose only slow
	// request is the hello must have exited: the hello's delay, Shutdown's
	// longest poll, and a generous margin for a busy machine. It is well
	// short of phaseTimeout.
	promptBound = delay + shutdownPollMax + 1200*time.Millisecond

	// clientBound is how long a test's client waits for any answer: long
	// enough to see what a program that waits for its deadline sends.
	clientBound = phaseTimeout + 10*time.Second

	// defaultDelay is the program's own -delay, what a hello takes when
	// nobody passes the flag: a backend call may take that long, and longer,
	// and still must get its whole answer.
	defaultDelay = 2 * time.Second
)

// start runs the program on a free port with the durations above and no
// drain delay (extra flags override them) and returns it with the URL it
// serves ("http://" and the address it bound). Without a drain delay the drain begins at the signal, so "within
// 100 ms of the drain's start" is "within 100 ms of the signal".
// TestPollsAreServedThroughTheDrainDelay is the one with a drain delay.
func start(t *testing.T, extra ...string) (*labtest.Program, string) {
	t.Helper()
	args := []string{
		"-addr", "127.0.0.1:0", "-log-format", "json",
		"-delay", delay.String(),
		"-poll-timeout", pollTimeout.String(),
		"-drain-delay", "0s",
		"-phase-timeout", phaseTimeout.String(),
		"-shutdown-timeout", (2 * phaseTimeout).String(),
	}
	p := labtest.Start(t, append(args, extra...)...)
	return p, "http://" + p.Listening()
}

// startPoll sends GET /wait and returns once the program has logged "poll
// waiting" for it: from then on the poll gets the next event published.
// Call it once per program: it waits for the first "poll waiting".
func startPoll(t *testing.T, p *labtest.Program, url string) <-chan labtest.Response {
	t.Helper()
	resp := labtest.Get(url+"/wait", clientBound)
	p.WaitFor("poll waiting", labtest.StartBound)
	return resp
}

// publish sends event to POST /publish and fails t unless it is taken.
func publish(t *testing.T, p *labtest.Program, url, event string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/publish", strings.NewReader(event))
	if err != nil {
		t.Fatal(err)
	}
	if r := <-labtest.Do(req, 10*time.Second); r.Err != nil || r.Status != http.StatusOK {
		t.Fatalf("POST /publish %q got %v; want 200: the program must keep serving until its drain begins.\n%s", event, r, p.Transcript())
	}
}

// TestPollAnswersEventsAndTimesOut: while the program serves, a long poll
// on /wait gets the next event published on /publish (200 and the event),
// or 204 No Content once -poll-timeout has passed without one.
func TestPollAnswersEventsAndTimesOut(t *testing.T) {
	t.Parallel()
	t.Run("event", func(t *testing.T) {
		t.Parallel()
		p, url := start(t)
		poll := startPoll(t, p, url)
		publish(t, p, url, "news")
		if r := <-poll; r.Err != nil || r.Status != http.StatusOK || r.Body != "news\n" {
			t.Fatalf("GET /wait got %v; want 200 \"news\\n\", the event published while it waited.%s\n%s",
				r, bornCancelled(r, pollTimeout), p.Transcript())
		}
	})
	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		const timeout = 300 * time.Millisecond
		p, url := start(t, "-poll-timeout", timeout.String())
		r := <-labtest.Get(url+"/wait", clientBound)
		if r.Err != nil || r.Status != http.StatusNoContent || r.Elapsed < timeout {
			why := bornCancelled(r, timeout)
			if why == "" && r.Status == http.StatusServiceUnavailable {
				why = "\n503 says the server is unavailable, and clients and proxies back off or fail over on it. A poll that runs " +
					"out of time is nothing of the sort: \"no news, poll again\". Answer 503 only when the drain ended the poll " +
					"(context.Cause tells you which)."
			}
			t.Fatalf("GET /wait with -poll-timeout %v and no event got %v; want 204 No Content after %v.%s\n%s",
				timeout, r, timeout, why, p.Transcript())
		}
	})
}

// bornCancelled explains r, a poll's answer while nothing is shutting down,
// if it is a 503 that came before the poll's timeout: the poll's context was
// over before it began.
func bornCancelled(r labtest.Response, timeout time.Duration) string {
	if r.Err != nil || r.Status != http.StatusServiceUnavailable || r.Elapsed >= timeout {
		return ""
	}
	return "\nThe poll answered 503 at once although nothing is shutting down: its request's context was cancelled " +
		"before it began. Is the base context cancelled too early? A defer in startServer runs as soon as " +
		"startServer returns, before the first request arrives."
}

// TestPollsLeaveNothingBehind: while the program serves, each poll that
// ends, here 40 of them, each by its -poll-timeout, leaves no goroutine
// behind. A poll that starts a goroutine of its own to wait for the drain
// and release it then (an opt-in release, say) leaves one for every poll
// that ended before the drain: polled by every client every 30 s, a
// service gathers them by the thousand an hour until it runs out of
// memory.
//
// It runs the program in-process and counts the goroutines of the whole
// test binary, so it does not call t.Parallel: Go runs it before any
// parallel test starts.
func TestPollsLeaveNothingBehind(t *testing.T) {
	const pollTimeout = 5 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	log := labtest.NewEventLog()
	returned := make(chan struct{})
	var code int
	go func() {
		defer close(returned)
		code = run(ctx, []string{"-addr", "127.0.0.1:0", "-log-format", "json", "-drain-delay", "0s",
			"-poll-timeout", pollTimeout.String()}, io.Discard, log)
	}()
	// However the test ends, run is stopped, and given the time to end,
	// before the next test starts.
	t.Cleanup(func() {
		cancel()
		select {
		case <-returned:
		case <-time.After(phaseTimeout + 5*time.Second):
		}
	})
	ev, err := log.WaitFor("listening", labtest.StartBound, returned)
	if err != nil {
		t.Fatalf("%v\n%s", err, log.Text())
	}
	url := "http://" + ev.Str("addr")
	// polls sends n polls, a few at a time, and fails t unless each is
	// answered 204.
	polls := func(n int) {
		t.Helper()
		const parallel = 8
		answers := make(chan labtest.Response, n)
		for i := range n {
			if i >= parallel {
				if r := <-answers; r.Err != nil || r.Status != http.StatusNoContent {
					t.Fatalf("GET /wait with -poll-timeout %v and no event got %v; want 204.\n%s", pollTimeout, r, log.Text())
				}
			}
			go func() { answers <- <-labtest.Get(url+"/wait", 10*time.Second) }()
		}
		for range min(n, parallel) {
			if r := <-answers; r.Err != nil || r.Status != http.StatusNoContent {
				t.Fatalf("GET /wait with -poll-timeout %v and no event got %v; want 204.\n%s", pollTimeout, r, log.Text())
			}
		}
	}
	polls(1) // from now on the server's own goroutines are running
	baseline := goleak.IgnoreCurrent()
	const n = 40
	polls(n)
	if err := goleak.Find(baseline); err != nil {
		leaked := strings.Count(err.Error(), "Goroutine ")
		t.Errorf("after %d polls, each answered 204 by its -poll-timeout and done, %d goroutine(s) that did not exist before "+
			"them were still running; want none. Each poll must leave nothing behind once it has answered: a goroutine "+
			"that waits for the drain outlives its poll, and they add up for as long as the process runs. To release only "+
			"the polls, stop := context.AfterFunc(drainCtx, func() { release(errShuttingDown) }) and defer stop() leave "+
			"nothing behind; the server's BaseContext needs no goroutine at all.\nThe first of them:\n%s\n%s",
			n, leaked, firstGoroutine(err.Error()), log.Text())
	}

	cancel()
	select {
	case <-returned:
	case <-time.After(phaseTimeout + 5*time.Second):
		t.Fatalf("run had not returned %v after its context was cancelled; want it to return once its phases are done.\n%s",
			phaseTimeout+5*time.Second, log.Text())
	}
	if code != 0 {
		t.Fatalf("run returned %d after a clean shutdown; want 0.\n%s", code, log.Text())
	}
}

// firstGoroutine is the first goroutine of goleak's report, which lists
// them as a Go slice: "[Goroutine 7 in state ...\n Goroutine 9 ...]".
func firstGoroutine(report string) string {
	_, report, _ = strings.Cut(report, "[")
	first, _, _ := strings.Cut(report, "\n Goroutine ")
	return strings.TrimSuffix(strings.TrimSpace(first), "]")
}

// TestLongPollAnswers503AtTheSignal: a long poll waiting when SIGTERM
// arrives (with no drain delay, the drain begins at once) ends within 100
// ms with a complete response: 503 Service Unavailable, a Retry-After
// header and a body, so that its client polls again elsewhere.
func TestLongPollAnswers503AtTheSignal(t *testing.T) {
	t.Parallel()
	p, url := start(t)
	poll := startPoll(t, p, url)

	p.Signal(syscall.SIGTERM)
	r := <-poll
	checkReleased(t, p, r, time.Now(), "the signal")
}

// checkReleased fails t unless r, the answer to a poll in flight when the
// drain began, read by the test at arrived, is 503 with Retry-After and a
// body, answered within answerBound of the drain's start by the program's
// clock and read within releaseBound of it. at names the moment the poll
// was in flight at, for the message.
func checkReleased(t *testing.T, p *labtest.Program, r labtest.Response, arrived time.Time, at string) {
	t.Helper()
	// What is wrong with the answer, if anything, and why: the first line
	// of the failure says the first, in a few words.
	var wrong, why string
	switch {
	case r.Err != nil:
		wrong = "no answer: its connection was cut"
		why = "The poll was still waiting when the phase's deadline passed, and the forced close cut its connection. " +
			"Shutdown does not cancel request contexts; it waits for the requests to end. Every r.Context() derives " +
			"from the server's base context (srv.BaseContext), context.Background() by default: give the server one " +
			"that you cancel when the drain begins, and make sure the poll waits on its request's context."
	case r.Status == http.StatusOK && r.Body == "":
		wrong = "an empty 200"
		why = "The handler returned without writing anything when its context ended, so net/http sent an empty 200: " +
			"to the client, an event with no content. Answer the drain with 503, Retry-After and a body."
	case r.Status == http.StatusNoContent:
		wrong = "204, the answer to a poll that ran out of time"
		why = "This poll was ended by the drain: answer 503 with Retry-After."
	case r.Status == http.StatusInternalServerError || r.Status == http.StatusBadGateway:
		wrong = fmt.Sprintf("%d, a failure", r.Status)
		why = "The poll treated the end of its context as a failure. It is not one: the server is leaving, and the " +
			"client should poll again shortly, elsewhere. That is 503 Service Unavailable with Retry-After."
	case r.Status != http.StatusServiceUnavailable:
		wrong = fmt.Sprintf("%d", r.Status)
		why = "A poll ended by the drain answers 503 Service Unavailable, with Retry-After and a body."
	case r.Header.Get("Retry-After") == "":
		wrong = "503 without a Retry-After header"
		why = "Set Retry-After before writing the status (headers set after WriteHeader, or after http.Error, are " +
			"ignored), to a number of seconds such as \"1\", so that the client knows to come back, and when."
	case !validRetryAfter(r.Header.Get("Retry-After")):
		wrong = fmt.Sprintf("503 with Retry-After %q, which is neither a number of seconds nor an HTTP date", r.Header.Get("Retry-After"))
		why = "Clients ignore a Retry-After they cannot read: give a number of seconds, such as \"1\"."
	case strings.TrimSpace(r.Body) == "":
		wrong = "503 with Retry-After but an empty body"
		why = "Say in a line of text why the poll ended, for the person reading it: http.Error writes one."
	}
	if wrong != "" {
		t.Fatalf("the long poll in flight at %s got %s; want 503 with a Retry-After header and a body.\n%s\nWhat it got: %v.\n%s",
			at, wrong, why, r, p.Transcript())
	}

	// Then how soon: by the program's clock, from the drain's start to the
	// poll's handler returning; and by the test's, to the answer read.
	began := labtest.EventTime(t, p.WaitForMatch(`"phase started" for the http server`, 5*time.Second, func(ev labtest.Event) bool {
		return ev.Msg() == "phase started" && ev.Str("phase") == "http server"
	}))
	done := p.WaitForMatch(`"request done" for the poll's 503`, 5*time.Second, func(ev labtest.Event) bool {
		return ev.Msg() == "request done" && ev.Str("path") == "/wait" && ev.Str("status") == "503"
	})
	answered, read := labtest.EventTime(t, done).Sub(began), arrived.Sub(began)
	if answered > answerBound || read > releaseBound {
		t.Fatalf("the long poll in flight at %s answered 503 %v after the drain began, by the program's clock (its \"request done\" "+
			"after \"phase started\" for the http server), and the test read it %v after; want it answered within %v, and read "+
			"within %v (the spec is %v; the rest is room for a busy machine).\n"+
			"The answer is right but late. Release the polls by cancelling their base context when the drain begins, "+
			"at once: not on a timer, not once Shutdown has returned.\n%s",
			at, answered.Round(time.Millisecond), read.Round(time.Millisecond), answerBound, releaseBound, releaseSpec, p.Transcript())
	}
}

// validRetryAfter reports whether v is a Retry-After value: a number of
// seconds, or an HTTP date.
func validRetryAfter(v string) bool {
	if n, err := strconv.Atoi(v); err == nil {
		return n >= 0
	}
	_, err := http.ParseTime(v)
	return err == nil
}

// TestHelloAnswersWhileRunning: before any signal, GET / answers 200
// "hello" once its backend call is done, after the program's default
// -delay of 2s, and the call carries the request's ID, which a middleware
// put in r.Context() (the backend refuses a call without one). What
// shields the call from the drain must keep both: its values, and its
// whole time. (Already true of the starter.)
func TestHelloAnswersWhileRunning(t *testing.T) {
	t.Parallel()
	p, url := start(t, "-delay", defaultDelay.String())
	r := <-labtest.Do(helloRequest(t, url, "hello-while-running"), clientBound)
	if r.Err != nil || r.Status != http.StatusOK || r.Body != "hello\n" || r.Elapsed < defaultDelay {
		t.Fatalf("GET / with -delay %v, and no shutdown, got %v; want 200 \"hello\\n\" after %v.\n%s\n%s",
			defaultDelay, r, defaultDelay, whyHelloFailed(r, "nothing is shutting down"), p.Transcript())
	}
}

// helloRequest is GET / with id as its X-Request-ID, which the program's
// middleware puts in the request's context.
func helloRequest(t *testing.T, url, id string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Request-ID", id)
	return req
}

// whyHelloFailed explains a hello's 502 from the error its body gives:
// when is says what was going on as it failed.
func whyHelloFailed(r labtest.Response, when string) string {
	switch {
	case r.Err != nil || r.Status != http.StatusBadGateway:
		return "The request must get its answer: a drain is there to let requests like it finish."
	case strings.Contains(r.Body, errNoRequestID.Error()):
		return "The backend call had no request ID: it was made with a context that does not derive from r.Context(), " +
			"context.Background() perhaps, which drops everything the request's context carries (its ID, its trace, " +
			"its logger). context.WithoutCancel(r.Context()) keeps those values and drops only the cancellation."
	case strings.Contains(r.Body, context.DeadlineExceeded.Error()):
		return "The backend call ran out of time although " + when + ": its context has a deadline shorter than the " +
			"call takes. A shield with a deadline of its own, WithTimeout(WithoutCancel(r.Context()), d), must give " +
			"the call more than it ever takes when all is well (here -delay); without one, it is bounded by the " +
			"phase's deadline and the forced close anyway."
	case strings.Contains(r.Body, "signal"):
		return "The backend call was cut at the signal: its context derives from the root context, ctx, which the " +
			"signal cancels. The call is short and ends by itself, and finishing calls like it is what the drain is " +
			"for: make it with context.WithoutCancel(r.Context()), and give the server a base context of its own."
	default:
		return "The drain's cancellation cut the hello: its backend call is made with r.Context(), and every request's " +
			"context now ends when the drain begins. The call is short and ends by itself, and finishing calls like it is " +
			"what the drain is for: make it with context.WithoutCancel(r.Context()), which keeps the context's values and " +
			"drops its cancellation."
	}
}

// TestShortRequestInFlightGetsItsAnswer: a request to / that is waiting
// for its backend when SIGTERM arrives still gets its whole answer, 200
// "hello", when its -delay is up: the drain's cancellation must not cut it.
func TestShortRequestInFlightGetsItsAnswer(t *testing.T) {
	t.Parallel()
	p, url := start(t)
	hello := labtest.Do(helloRequest(t, url, "in-flight-at-signal"), clientBound)
	p.WaitFor("request started", labtest.StartBound)

	p.Signal(syscall.SIGTERM)
	r := <-hello
	if r.Err != nil || r.Status != http.StatusOK || r.Body != "hello\n" {
		t.Fatalf("GET / in flight at SIGTERM got %v; want 200 \"hello\\n\" after its %v delay.\n%s\n%s",
			r, delay, whyHelloFailed(r, "its delay was shorter than the phase's deadline"), p.Transcript())
	}
	if code := p.ExitWithin(phaseTimeout+5*time.Second, "once the hello has its answer, nothing is left to drain"); code != 0 {
		t.Fatalf("exit code %d%s after a clean shutdown; want 0.%s\n%s", code, exitNote(code), raceReport(p, code), p.Transcript())
	}
}

// TestShutdownIsPromptWithoutForcedClose: with a long poll and a hello in
// flight at SIGTERM, the drain releases the poll at once and waits only for
// the hello: the process exits 0 soon after the hello's answer, without
// "forced close".
func TestShutdownIsPromptWithoutForcedClose(t *testing.T) {
	t.Parallel()
	p, url := start(t)
	poll := startPoll(t, p, url)
	hello := labtest.Get(url+"/", clientBound)
	p.WaitFor("request started", labtest.StartBound)

	sent := time.Now()
	p.Signal(syscall.SIGTERM)
	code := p.ExitWithin(clientBound, "the drain should end once the hello has its answer")
	took := time.Since(sent)
	<-poll
	<-hello

	if p.Log().Has("forced close") {
		t.Fatalf("the program logged \"forced close\"; want none. The drain waited for the long poll until the phase's "+
			"deadline (-phase-timeout %v), then cut it off: a poll's context is not cancelled by Shutdown unless the "+
			"server's BaseContext makes it so, and the poll must answer when it is.\n%s", phaseTimeout, p.Transcript())
	}
	if code != 0 {
		t.Fatalf("exit code %d%s; want 0, a clean shutdown.%s\n%s", code, exitNote(code), raceReport(p, code), p.Transcript())
	}
	if took > promptBound {
		t.Errorf("the program exited %v after SIGTERM; want it within %v: the hello's %v, Shutdown's idle check "+
			"(up to %v) and room for a busy machine. Something besides the hello held the drain up.\n%s",
			took.Round(time.Millisecond), promptBound, delay, shutdownPollMax, p.Transcript())
	}
}

// TestPollsAreServedThroughTheDrainDelay: with a drain delay, the signal
// turns readiness off but the service still works as usual until the delay
// is over: a poll waiting at the signal gets an event published during the
// delay, and a poll that arrives during the delay waits too. The polls are
// released when the drain begins, at the end of the delay, within 100 ms.
func TestPollsAreServedThroughTheDrainDelay(t *testing.T) {
	t.Parallel()
	// Long enough for the test to publish and poll again inside it, even on
	// a busy machine.
	const drainDelay = 1 * time.Second
	p, url := start(t, "-drain-delay", drainDelay.String())
	first := startPoll(t, p, url)

	sent := time.Now()
	p.Signal(syscall.SIGTERM)
	p.WaitFor("readiness off", 5*time.Second)
	publish(t, p, url, "news")
	if r := <-first; r.Err != nil || r.Status != http.StatusOK || r.Body != "news\n" {
		why := ""
		if r.Status == http.StatusServiceUnavailable {
			why = "The poll was released before the drain began. During the drain delay the load balancer still " +
				"sends traffic here: its client would poll again, land here again, and be turned away again, missing " +
				"the events in between. Release the polls when the drain begins, once the delay is over and the " +
				"listener is closed (Shutdown calls the functions given to srv.RegisterOnShutdown right then): not at " +
				"the signal, when the root context ctx is cancelled, and not before."
		}
		t.Fatalf("the poll waiting at SIGTERM got %v; want 200 \"news\\n\", the event published during the %v drain delay.\n%s\n%s",
			r, drainDelay, why, p.Transcript())
	}

	// A poll that arrives during the delay is served like any other.
	second := labtest.Get(url+"/wait", clientBound)
	r := <-second
	arrived := time.Now()
	took := arrived.Sub(sent)
	if labtest.Refused(r.Err) {
		t.Fatalf("the test's second poll, sent %v after SIGTERM, found the listener closed. Either the listener closed "+
			"before the %v drain delay was over (Shutdown must wait for it), or the machine was too busy for the test "+
			"to send the poll in time; if the transcript shows \"draining server\" only after the delay, run the test again.\n%s",
			took.Round(time.Millisecond), drainDelay, p.Transcript())
	}
	if r.Err == nil && r.Status == http.StatusServiceUnavailable && took < drainDelay {
		t.Fatalf("a poll sent during the drain delay got %v, %v after SIGTERM; want it to wait until the drain begins, "+
			"%v after the signal. A request's context that is cancelled from the signal on turns every poll away "+
			"during the delay; cancel the base context when the drain begins instead.\n%s",
			r, took.Round(time.Millisecond), drainDelay, p.Transcript())
	}
	checkReleased(t, p, r, arrived, "the end of the drain delay")

	if code := p.ExitWithin(clientBound, "with the polls released, nothing is left to drain"); code != 0 || p.Log().Has("forced close") {
		t.Fatalf("exit code %d%s; want 0 and no \"forced close\".%s\n%s", code, exitNote(code), raceReport(p, code), p.Transcript())
	}
}

// TestBadFlagsExitTwo: a mistake on the command line is a usage error: one
// line that says what is wrong, and exit code 2, before anything listens.
func TestBadFlagsExitTwo(t *testing.T) {
	t.Parallel()
	labtest.ExpectUsageErrors(t, [][]string{
		{"-poll-timeout", "0s"}, // every poll would answer 204 at once
		{"-poll-timeout", "-1s"},
		{"-poll-timeout", "soon"},
		{"-delay", "-1s"},
		{"-addr", "8080"},
		{"-drain-delay", "3s", "-phase-timeout", "2s"}, // longer than its phase's deadline
	})
}

// exitNote says, for the first line of a failure, what an exit code that
// the program's own code never returns means. check shows only the
// beginning of a failure, and the transcript that ends it is long.
func exitNote(code int) string {
	if code == 66 {
		return " (the race detector's exit code: the program has a data race)"
	}
	return ""
}

// raceReport is, after a race detector's exit code, the first lines of its
// report, which say which code races.
func raceReport(p *labtest.Program, code int) string {
	if code != 66 {
		return ""
	}
	report := "\nA variable that two goroutines use, a handler and the release say, needs a mutex, an atomic or a channel."
	lines := strings.Split(p.Log().Text(), "\n")
	if i := slices.IndexFunc(lines, func(l string) bool { return strings.Contains(l, "WARNING: DATA RACE") }); i >= 0 {
		report += " The race detector's report begins:\n    " + strings.Join(lines[i:min(i+12, len(lines))], "\n    ")
	}
	return report
}
