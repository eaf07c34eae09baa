package main

import (
	"net/http"
	"strconv"
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
	arrived := time.Now()
	began := labtest.EventTime(t, p.WaitFor("shutdown started", 5*time.Second))
	checkReleased(t, p, r, arrived.Sub(began), "the signal", `"shutdown started"`)
}

// checkReleased fails t unless r, the answer to a poll in flight when the
// drain began, is 503 with Retry-After and a body, read within
// releaseBound. at names that moment for the message; took is how long
// after from, the event the program logged then, the test had read r.
func checkReleased(t *testing.T, p *labtest.Program, r labtest.Response, took time.Duration, at, from string) {
	t.Helper()
	var why string
	switch {
	case r.Err != nil:
		why = "The poll was still waiting when the phase's deadline passed, and the forced close cut its connection. " +
			"Shutdown does not cancel request contexts; it waits for the requests to end. Every r.Context() derives " +
			"from the server's base context (srv.BaseContext), context.Background() by default: give the server one " +
			"that you cancel when the drain begins, and make sure the poll waits on its request's context."
	case r.Status == http.StatusOK && r.Body == "":
		why = "The handler returned without writing anything when its context ended, so net/http sent an empty 200: " +
			"to the client, an event with no content. Answer the drain with 503, Retry-After and a body."
	case r.Status == http.StatusNoContent:
		why = "204 is the answer to a poll that ran out of time. This one was ended by the drain: 503 with Retry-After."
	case r.Status == http.StatusInternalServerError || r.Status == http.StatusBadGateway:
		why = "The poll treated the end of its context as a failure. It is not one: the server is leaving, and the " +
			"client should poll again shortly, elsewhere. That is 503 Service Unavailable with Retry-After."
	case r.Status != http.StatusServiceUnavailable:
		why = "A poll ended by the drain answers 503 Service Unavailable, with Retry-After and a body."
	case !validRetryAfter(r.Header.Get("Retry-After")):
		why = "The 503 has no usable Retry-After header (got " + strconv.Quote(r.Header.Get("Retry-After")) + "): " +
			"set it before writing the status, to a number of seconds such as \"1\", so the client knows to come back and when."
	case strings.TrimSpace(r.Body) == "":
		why = "The 503 has no body: say in a line of text why the poll ended, for the person reading it."
	case took > releaseBound:
		why = "The answer is right but late. Release the polls by cancelling their base context when the drain begins, " +
			"not on a timer and not once Shutdown has returned."
	default:
		return
	}
	t.Fatalf("the long poll in flight at %s got %v, read %v after the program logged %s; want 503 with Retry-After "+
		"and a body within %v (the spec is %v; the rest is room for a busy machine).\n%s\n%s",
		at, r, took.Round(time.Millisecond), from, releaseBound, releaseSpec, why, p.Transcript())
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

// TestShortRequestInFlightGetsItsAnswer: a request to / that is waiting
// for its backend when SIGTERM arrives still gets its whole answer, 200
// "hello", when its -delay is up: the drain's cancellation must not cut it.
func TestShortRequestInFlightGetsItsAnswer(t *testing.T) {
	t.Parallel()
	p, url := start(t)
	hello := labtest.Get(url+"/", clientBound)
	p.WaitFor("request started", labtest.StartBound)

	p.Signal(syscall.SIGTERM)
	r := <-hello
	if r.Err != nil || r.Status != http.StatusOK || r.Body != "hello\n" {
		why := "The request in flight at the signal must get its answer: the drain is there to let it finish."
		if r.Status == http.StatusBadGateway {
			why = "The drain's cancellation cut the hello: its backend call is made with r.Context(), and every request's " +
				"context now ends when the drain begins. The call is short and ends by itself, and finishing calls like it is " +
				"what the drain is for: make it with context.WithoutCancel(r.Context()), which keeps the context's values and " +
				"drops its cancellation."
		}
		t.Fatalf("GET / in flight at SIGTERM got %v; want 200 \"hello\\n\" after its %v delay.\n%s\n%s", r, delay, why, p.Transcript())
	}
	if code := p.ExitWithin(phaseTimeout+5*time.Second, "once the hello has its answer, nothing is left to drain"); code != 0 {
		t.Fatalf("exit code %d after a clean shutdown; want 0.\n%s", code, p.Transcript())
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
		t.Fatalf("exit code %d; want 0, a clean shutdown.\n%s", code, p.Transcript())
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
	drain := p.WaitForMatch(`"phase started" for the http server`, 5*time.Second, func(ev labtest.Event) bool {
		return ev.Msg() == "phase started" && ev.Str("phase") == "http server"
	})
	checkReleased(t, p, r, arrived.Sub(labtest.EventTime(t, drain)), "the end of the drain delay", `"phase started" for the http server`)

	if code := p.ExitWithin(clientBound, "with the polls released, nothing is left to drain"); code != 0 || p.Log().Has("forced close") {
		t.Fatalf("exit code %d; want 0 and no \"forced close\".\n%s", code, p.Transcript())
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
