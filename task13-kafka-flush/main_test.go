package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"go.uber.org/goleak"
	"gracefulshutdown.lab/labtest"
)

// TestMain lets each test start this very program as a real process (see
// labtest.Start) and checks that no test leaves a goroutine behind.
//
// Each test starts a Kafka cluster of its own, in the test process (kfake,
// franz-go's fake cluster), points the program at it with KAFKA_BROKERS,
// and reads the topic back with franz-go's consumer.
func TestMain(m *testing.M) { labtest.Main(m, main) }

// The durations most tests run with. The batch timeout is far longer than
// any test: a message posted before the signal leaves the process only if
// the shutdown flushes it.
const (
	drainDelay   = 100 * time.Millisecond
	batchTimeout = time.Minute
	flushTimeout = 5 * time.Second
)

// start runs the program on a free port against the cluster tc, with the
// durations above (extra flags override them), and returns it with the
// address it bound.
func start(t *testing.T, tc *testCluster, extra ...string) (*labtest.Program, string) {
	t.Helper()
	args := []string{
		"-addr", "127.0.0.1:0", "-log-format", "json", "-topic", topic,
		"-drain-delay", drainDelay.String(),
		"-batch-timeout", batchTimeout.String(),
		"-flush-timeout", flushTimeout.String(),
	}
	p := labtest.StartEnv(t, tc.env(), append(args, extra...)...)
	return p, p.Listening()
}

// TestAcceptedMessagesReachKafkaWhileRunning: before any signal, POST
// /events answers 202 Accepted and the message reaches the topic once its
// batch times out; a GET is refused with 405 and an empty message with 400.
// (Already true of the starter.)
func TestAcceptedMessagesReachKafkaWhileRunning(t *testing.T) {
	t.Parallel()
	tc := startCluster(t)
	p, addr := start(t, tc, "-batch-timeout", "50ms")

	posted := bodies("running", 3)
	postAll(t, p, addr, posted)
	got := tc.waitForMessages(t, p, len(posted), 10*time.Second,
		"with -batch-timeout 50ms the writer sends each batch 50ms after its first message.")
	if missing, extra := missingAndExtra(got, posted); len(missing) > 0 || len(extra) > 0 {
		t.Fatalf("the topic holds %q; want exactly %q.\n%s", got, posted, p.Transcript())
	}

	if r := <-labtest.Get("http://"+addr+"/events", 10*time.Second); r.Err != nil || r.Status != http.StatusMethodNotAllowed {
		t.Errorf("GET /events got %v; want 405: messages are posted.\n%s", r, p.Transcript())
	}
	if r := <-labtest.Do(postRequest(addr, ""), 10*time.Second); r.Err != nil || r.Status != http.StatusBadRequest {
		t.Errorf("POST /events with an empty body got %v; want 400.\n%s", r, p.Transcript())
	}
}

// TestMessagesPostedJustBeforeSignalAllArrive: 100 messages are accepted
// just before SIGTERM, while their batches wait for a batch timeout of a
// minute. The shutdown flushes them: every one of them is in the topic,
// once, the program logs "kafka flushed" with delivered=100, and it exits
// 0 with nothing logged at ERROR.
func TestMessagesPostedJustBeforeSignalAllArrive(t *testing.T) {
	t.Parallel()
	tc := startCluster(t)
	acks := tc.recordAcks()
	p, addr := start(t, tc)

	posted := bodies("before-signal", 100)
	postAll(t, p, addr, posted)
	p.Signal(syscall.SIGTERM)
	code := p.ExitWithin(drainDelay+flushTimeout+5*time.Second,
		"with the brokers up, the flush should take a moment, well within -flush-timeout")

	got := tc.messages(t)
	missing, extra := missingAndExtra(got, posted)
	if len(missing) > 0 {
		t.Fatalf("%d of the %d messages accepted (202) before SIGTERM are not in the topic (the first: %q); want all of them.\n"+
			"They were still in the writer's batches, waiting for -batch-timeout, when the process exited. Add a \"kafka flush\" phase "+
			"that calls Writer.Close, which sends the pending batches and waits for them.\n%s",
			len(missing), len(posted), missing[0], p.Transcript())
	}
	if len(extra) > 0 {
		t.Errorf("the topic holds %d message(s) more than were posted (the first: %q); want each message once.\n%s", len(extra), extra[0], p.Transcript())
	}
	if other := acks.other(kafkaRequireAll); len(other) > 0 {
		t.Errorf("the writer's produce requests asked the broker for acks=%d (%s); want acks=-1 (kafka.RequireAll) in every one.\n%s\n"+
			"(The test's cluster has a single broker, which cannot lose a message that way: the test checks what the writer asks for.)\n%s",
			other[0], acksName(other[0]), whatAcksMeans(other[0]), p.Transcript())
	}
	if code != 0 {
		t.Fatalf("exit code %d%s after every message was delivered; want 0.%s\n%s", code, exitNote(code), raceReport(p, code), p.Transcript())
	}
	ev := p.WaitFor("kafka flushed", time.Second)
	if d := ev.Str("delivered"); d != strconv.Itoa(len(posted)) {
		t.Errorf("\"kafka flushed\" says delivered=%q; want %d, the messages the brokers acknowledged (count them in the writer's Completion callback).\n%s",
			d, len(posted), p.Transcript())
	}
	if errs := p.Log().AtLevel("ERROR"); len(errs) > 0 {
		t.Errorf("a clean shutdown logged %d event(s) at ERROR, the first %q; want none.\n%s", len(errs), errs[0].Msg(), p.Transcript())
	}
}

// TestRequestInFlightAtSignalIsDelivered: a POST whose body is still
// arriving when SIGTERM comes is let finish by the server's drain: it gets
// 202, and its message is in the topic, because the producer is flushed
// and closed only after the server has drained ("kafka flush" starts after
// "http server" is done). The program exits 0.
func TestRequestInFlightAtSignalIsDelivered(t *testing.T) {
	t.Parallel()
	tc := startCluster(t)
	p, addr := start(t, tc)

	// A client on a slow link: the headers and half the body now, the rest
	// once the server has begun to drain.
	const message = "in-flight-at-signal"
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("cannot connect to the program: %v\n%s", err, p.Transcript())
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	half := len(message) / 2
	fmt.Fprintf(conn, "POST /events HTTP/1.1\r\nHost: %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s",
		addr, len(message), message[:half])
	p.WaitForMatch(`"request started" for /events`, labtest.StartBound, func(ev labtest.Event) bool {
		return ev.Msg() == "request started" && ev.Str("path") == "/events"
	})

	p.Signal(syscall.SIGTERM)
	p.WaitFor("draining server", 5*time.Second)
	if _, err := io.WriteString(conn, message[half:]); err != nil {
		t.Fatalf("the connection broke before the rest of the body could be sent: %v; want the drain to wait for the request.\n%s", err, p.Transcript())
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no response to the POST in flight at SIGTERM: %v; want 202 once its body arrived.\n%s", err, p.Transcript())
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("the POST in flight at SIGTERM got %d %q; want 202.\n"+
			"The producer was closed while the server still had a request to finish (a closed kafka-go Writer refuses "+
			"messages with io.ErrClosedPipe). Add the \"kafka flush\" phase right after the producer starts, before the "+
			"server: last in, first out, it then runs after the \"http server\" phase has drained.\n%s",
			resp.StatusCode, strings.TrimSpace(string(body)), p.Transcript())
	}
	code := p.ExitWithin(flushTimeout+5*time.Second, "with the brokers up, the flush should take a moment")

	if got := tc.messages(t); !slices.Equal(got, []string{message}) {
		t.Fatalf("the topic holds %q; want [%q], the message of the request in flight at SIGTERM: accepted (202), "+
			"it must be delivered. Is there a \"kafka flush\" phase, after the \"http server\" phase?\n%s", got, message, p.Transcript())
	}
	events := p.Log().Events()
	drained := indexOf(events, "phase done", "http server")
	flush := indexOf(events, "phase started", "kafka flush")
	if drained < 0 || flush < drained {
		t.Errorf("the log does not show \"phase started\" for \"kafka flush\" after \"phase done\" for \"http server\"; "+
			"want the flush to run once the server has drained.\n%s", p.Transcript())
	}
	if code != 0 {
		t.Fatalf("exit code %d%s after a clean shutdown; want 0.%s\n%s", code, exitNote(code), raceReport(p, code), p.Transcript())
	}
}

// TestBrokersGoneFlushGivesUpAtDeadline: 10 messages are accepted, then
// the brokers go away, then SIGTERM. kafka-go would retry the batches for
// seconds, or minutes; the "kafka flush" phase gives up at -flush-timeout
// instead, logs "kafka flush incomplete" with undelivered=10, and the
// program exits 1, promptly.
func TestBrokersGoneFlushGivesUpAtDeadline(t *testing.T) {
	t.Parallel()
	const flushTimeout = 500 * time.Millisecond
	tc := startCluster(t)
	p, addr := start(t, tc, "-flush-timeout", flushTimeout.String())

	posted := bodies("brokers-gone", 10)
	postAll(t, p, addr, posted)
	tc.Close()
	p.Signal(syscall.SIGTERM)

	// Margin for a busy machine: the phase stops waiting at its deadline
	// and the program has nothing left to do but log and exit.
	code := p.ExitWithin(drainDelay+flushTimeout+3*time.Second, fmt.Sprintf(
		"with the brokers gone, Writer.Close retries each batch for seconds or minutes; the flush must stop waiting "+
			"for it at -flush-timeout (%v). Give the phase that deadline (lifecycle.Timeout(cfg.flushTimeout)), run Close "+
			"in a goroutine, and select on it and ctx.Done()", flushTimeout))
	ev, err := p.Log().WaitFor("kafka flush incomplete", time.Second, p.Done())
	if err != nil {
		hint := "When ctx is done before Writer.Close returns, stop waiting and report what was accepted and not delivered " +
			"(a phase the lifecycle has to leave behind reports nothing)."
		if i := p.Log().Index("kafka flushed"); i >= 0 {
			hint = fmt.Sprintf("It logged \"kafka flushed\" (delivered=%s) instead. At the deadline the writer is still "+
				"retrying the batches: they are neither delivered nor given up on yet. Undelivered is accepted minus delivered.",
				p.Log().Events()[i].Str("delivered"))
		}
		t.Fatalf("%v; want it, with undelivered=%d: the brokers were gone and none of the messages was delivered.\n%s\n%s",
			err, len(posted), hint, p.Transcript())
	}
	if u := ev.Str("undelivered"); u != strconv.Itoa(len(posted)) {
		t.Errorf("\"kafka flush incomplete\" says undelivered=%q; want %d: every message accepted and not acknowledged by the "+
			"brokers, those still being retried included, not only those the writer has given up on.\n%s", u, len(posted), p.Transcript())
	}
	events := p.Log().Events()
	began := indexOf(events, "phase started", "kafka flush")
	if began < 0 {
		t.Fatalf("no \"phase started\" for the \"kafka flush\" phase; want the flush to be a phase of the lifecycle.\n%s", p.Transcript())
	}
	if took := labtest.EventTime(t, ev).Sub(labtest.EventTime(t, events[began])); took < flushTimeout-50*time.Millisecond || took > flushTimeout+2*time.Second {
		t.Errorf("\"kafka flush incomplete\" came %v after the \"kafka flush\" phase started; want it at the phase's deadline, "+
			"-flush-timeout (%v): stop waiting when ctx is done, not before.\n%s", took.Round(time.Millisecond), flushTimeout, p.Transcript())
	}
	if code != 1 {
		t.Fatalf("exit code %d%s after a flush that left %d message(s) undelivered; want 1: the phase must return an error.%s\n%s",
			code, exitNote(code), len(posted), raceReport(p, code), p.Transcript())
	}
	if !p.Log().Has("exited") {
		t.Errorf("the program never logged \"exited\"; want the other phases run and the program's normal end, after the failed flush.\n%s", p.Transcript())
	}
}

// TestFlushReportsWhenTheShutdownBudgetEnds: the whole shutdown has a
// budget, -shutdown-timeout, and it can end before -flush-timeout does:
// here a budget of 1s, and a flush timeout of 5s. The phase's context
// carries the earlier of the two deadlines. With the brokers gone, the
// flush stops waiting when that context is done, at the budget's end, and
// still says what it leaves behind: "kafka flush incomplete" with
// undelivered=10, then exit 1.
func TestFlushReportsWhenTheShutdownBudgetEnds(t *testing.T) {
	t.Parallel()
	const budget = time.Second // well short of the drain delay plus flushTimeout
	tc := startCluster(t)
	p, addr := start(t, tc, "-shutdown-timeout", budget.String())

	posted := bodies("budget", 10)
	postAll(t, p, addr, posted)
	tc.Close()
	p.Signal(syscall.SIGTERM)

	code := p.ExitWithin(budget+3*time.Second, fmt.Sprintf(
		"-shutdown-timeout (%v) bounds the whole shutdown, the flush included", budget))
	ev, err := p.Log().WaitFor("kafka flush incomplete", time.Second, p.Done())
	if err != nil {
		hint := "When ctx is done before Writer.Close returns, stop waiting and report what was accepted and not delivered."
		events := p.Log().Events()
		if i := indexOf(events, "phase failed", "kafka flush"); i >= 0 && strings.Contains(events[i].Str("err"), "left behind") {
			hint = fmt.Sprintf("The lifecycle gave up on the \"kafka flush\" phase (%s): it was still waiting when its context's "+
				"deadline came, so it never reported. The phase's ctx ends at the earlier of -flush-timeout and the end of "+
				"-shutdown-timeout; a flush that waits on a timer of its own, time.After(-flush-timeout), waits past the "+
				"budget. Select on ctx.Done() instead.", events[i].Str("err"))
		}
		t.Fatalf("%v; want it, with undelivered=%d, when the shutdown's budget (-shutdown-timeout %v) ends, before -flush-timeout (%v) does.\n%s\n%s",
			err, len(posted), budget, flushTimeout, hint, p.Transcript())
	}
	if u := ev.Str("undelivered"); u != strconv.Itoa(len(posted)) {
		t.Errorf("\"kafka flush incomplete\" says undelivered=%q; want %d: the brokers were gone and none of the messages was delivered.\n%s",
			u, len(posted), p.Transcript())
	}
	began := labtest.EventTime(t, p.WaitFor("shutdown started", time.Second))
	if took := labtest.EventTime(t, ev).Sub(began); took < budget-50*time.Millisecond || took > budget+2*time.Second {
		t.Errorf("\"kafka flush incomplete\" came %v after \"shutdown started\"; want it when the budget ends, -shutdown-timeout (%v) "+
			"after it: stop waiting when ctx is done.\n%s", took.Round(time.Millisecond), budget, p.Transcript())
	}
	if code != 1 {
		t.Fatalf("exit code %d%s after a flush that left %d message(s) undelivered; want 1.%s\n%s",
			code, exitNote(code), len(posted), raceReport(p, code), p.Transcript())
	}
}

// TestAcknowledgedMessagesAreNotCountedLost: 20 messages are accepted and
// acknowledged while the service runs. Then the broker hangs: it reads
// produce requests and answers none. 10 more messages are accepted, their
// batch is sent and waits for an answer, and SIGTERM comes. At the flush's
// deadline, "kafka flush incomplete" says undelivered=10 and
// delivered=20: the messages not acknowledged, not every message
// accepted. Whoever acts on that count (replays the loss from the
// clients' logs, say) would otherwise send the 20 again.
func TestAcknowledgedMessagesAreNotCountedLost(t *testing.T) {
	t.Parallel()
	const flushTimeout = 500 * time.Millisecond
	tc := startCluster(t, kfake.SeedTopics(1, singleFileTopic))
	gate := tc.gateProduce()
	// One partition, and batches sent 20ms after their first message, so
	// that each set of messages leaves while the service runs.
	p, addr := start(t, tc, "-topic", singleFileTopic, "-batch-timeout", "20ms", "-flush-timeout", flushTimeout.String())

	acknowledged := bodies("acknowledged", 20)
	postAll(t, p, addr, acknowledged)
	gate.waitUntil(t, p, fmt.Sprintf("the %d messages posted", len(acknowledged)), func(passed, _ int) bool { return passed >= len(acknowledged) })
	gate.hang()
	unanswered := bodies("unanswered", 10)
	postAll(t, p, addr, unanswered)
	// The writer sends a partition's batches one at a time, so by the time
	// the broker holds this one, the writer has had the answers to the
	// others: delivered is 20 now, whatever the flush does.
	gate.waitUntil(t, p, "the batch of the messages posted once it hung", func(_, held int) bool { return held > 0 })
	p.Signal(syscall.SIGTERM)

	code := p.ExitWithin(drainDelay+flushTimeout+3*time.Second, fmt.Sprintf(
		"the flush must stop waiting for the unanswered batch at -flush-timeout (%v)", flushTimeout))
	ev, err := p.Log().WaitFor("kafka flush incomplete", time.Second, p.Done())
	if err != nil {
		t.Fatalf("%v; want it, with undelivered=%d: the broker never answered the last batch.\n%s", err, len(unanswered), p.Transcript())
	}
	if u, d := ev.Str("undelivered"), ev.Str("delivered"); u != strconv.Itoa(len(unanswered)) || d != strconv.Itoa(len(acknowledged)) {
		why := "Undelivered is accepted minus delivered, at the deadline too."
		if u == strconv.Itoa(len(acknowledged)+len(unanswered)) {
			why = fmt.Sprintf("%s messages were accepted in all, and the brokers had acknowledged %d of them before the "+
				"signal: those are delivered, whether or not Close returned. At the deadline, report accepted minus "+
				"delivered, not everything accepted.", u, len(acknowledged))
		}
		t.Errorf("\"kafka flush incomplete\" says undelivered=%s delivered=%s; want undelivered=%d delivered=%d: %d messages were "+
			"acknowledged before the broker hung, and the %d posted after it never were.\n%s\n%s",
			u, d, len(unanswered), len(acknowledged), len(acknowledged), len(unanswered), why, p.Transcript())
	}
	if code != 1 {
		t.Fatalf("exit code %d%s after a flush that left %d message(s) undelivered; want 1.%s\n%s",
			code, exitNote(code), len(unanswered), raceReport(p, code), p.Transcript())
	}
}

// TestRefusedBatchIsCountedUndelivered: the broker refuses every batch
// with an error that no client retries (the producer may no longer write
// to the topic). Writer.Close returns at once, and returns nil; the flush
// learns from the writer's Completion callback that nothing was delivered,
// logs "kafka flush incomplete" with undelivered=10, before its deadline,
// and the program exits 1.
func TestRefusedBatchIsCountedUndelivered(t *testing.T) {
	t.Parallel()
	tc := startCluster(t)
	tc.refuseProduce()
	p, addr := start(t, tc)

	posted := bodies("refused", 10)
	postAll(t, p, addr, posted)
	p.Signal(syscall.SIGTERM)
	code := p.ExitWithin(drainDelay+3*time.Second, fmt.Sprintf(
		"the broker refused the batches at once, so Writer.Close returns at once; the flush needs no part of its "+
			"-flush-timeout (%v)", flushTimeout))

	held := len(tc.messages(t))
	ev, err := p.Log().WaitFor("kafka flush incomplete", time.Second, p.Done())
	if err != nil {
		hint := "Writer.Close returns nil even when batches failed: count each batch's outcome in the writer's Completion " +
			"callback, and report accepted minus delivered."
		if i := p.Log().Index("kafka flushed"); i >= 0 {
			delivered := p.Log().Events()[i].Str("delivered")
			hint = fmt.Sprintf("It logged \"kafka flushed\" with delivered=%s, out of %d accepted: Writer.Close returned nil, "+
				"as it always does. Report from the counts, not from Close's error.", delivered, len(posted))
			if delivered == strconv.Itoa(len(posted)) {
				hint = fmt.Sprintf("It logged \"kafka flushed\" with delivered=%s, but the topic holds %d message(s). Delivered "+
					"must mean acknowledged: with kafka-go's default RequiredAcks (RequireNone) the writer calls a batch done "+
					"without waiting for the broker's answer. Set RequiredAcks: kafka.RequireAll.", delivered, held)
			}
		}
		t.Fatalf("%v; want it, with undelivered=%d: the broker refused every batch.\n%s\n%s", err, len(posted), hint, p.Transcript())
	}
	if u := ev.Str("undelivered"); u != strconv.Itoa(len(posted)) {
		t.Errorf("\"kafka flush incomplete\" says undelivered=%q; want %d.\n%s", u, len(posted), p.Transcript())
	}
	if code != 1 {
		t.Fatalf("exit code %d%s after a flush that left %d message(s) undelivered; want 1: the phase must return an error.%s\n%s",
			code, exitNote(code), len(posted), raceReport(p, code), p.Transcript())
	}
	if held != 0 {
		t.Errorf("the topic holds %d message(s); the test's broker should have refused them all (a fault in the test).", held)
	}
}

// TestNoGoroutineOutlivesRun: run, called in-process with the embedded
// Kafka cluster, returns 0 once its context is cancelled, having flushed
// the messages it accepted ("kafka flushed", delivered=3), and leaves no
// goroutine behind: the writer's, its transport's and the cluster's have
// all ended.
//
// It counts the goroutines of the whole test binary, so it does not call
// t.Parallel: Go runs it before any parallel test starts.
func TestNoGoroutineOutlivesRun(t *testing.T) {
	t.Setenv("KAFKA_BROKERS", "") // the embedded cluster
	baseline := goleak.IgnoreCurrent()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := labtest.NewEventLog()
	returned := make(chan struct{})
	var code int
	go func() {
		defer close(returned)
		code = run(ctx, []string{"-addr", "127.0.0.1:0", "-log-format", "json", "-drain-delay", "0s",
			"-batch-timeout", batchTimeout.String()}, io.Discard, log)
	}()

	ev, err := log.WaitFor("listening", labtest.StartBound, returned)
	if err != nil {
		t.Fatalf("%v\n%s", err, log.Text())
	}
	for _, m := range bodies("in-process", 3) {
		if r := <-labtest.Do(postRequest(ev.Str("addr"), m), 10*time.Second); r.Err != nil || r.Status != http.StatusAccepted {
			t.Fatalf("POST /events got %v; want 202.\n%s", r, log.Text())
		}
	}
	cancel()
	select {
	case <-returned:
	case <-time.After(flushTimeout + 5*time.Second):
		t.Fatalf("run had not returned %v after its context was cancelled; want it to return once its phases are done.\n%s",
			flushTimeout+5*time.Second, log.Text())
	}
	if code != 0 {
		t.Fatalf("run returned %d after a clean shutdown; want 0.\n%s", code, log.Text())
	}
	flushed, err := log.WaitFor("kafka flushed", 0, returned)
	if err != nil || flushed.Str("delivered") != "3" {
		t.Fatalf("no \"kafka flushed\" with delivered=3 after 3 messages were accepted; want the \"kafka flush\" phase to deliver "+
			"them, into the embedded cluster, whose own phase closes it right after.\n%s", log.Text())
	}
	if err := goleak.Find(baseline); err != nil {
		t.Fatalf("goroutines that run started were still there after it returned; want none.\n"+
			"Writer.Close does not release a Transport that you gave the writer: call its CloseIdleConnections once Close returns.\n%v\n%s",
			err, log.Text())
	}
}

// TestKafkaProblemsFailAtStartup: when the brokers cannot be reached, or
// the topic does not exist, start-up says so ("kafka unavailable") and the
// program exits 1 without ever listening. (Already true of the starter.)
func TestKafkaProblemsFailAtStartup(t *testing.T) {
	t.Parallel()
	t.Run("brokers unreachable", func(t *testing.T) {
		t.Parallel()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("cannot find a free port: %v", err)
		}
		closed := ln.Addr().String()
		ln.Close() // nothing listens there now
		expectKafkaUnavailable(t, "KAFKA_BROKERS="+closed)
	})
	t.Run("topic missing", func(t *testing.T) {
		t.Parallel()
		tc := startCluster(t)
		expectKafkaUnavailable(t, tc.env()[0], "-topic", "no-such-topic")
	})
}

func expectKafkaUnavailable(t *testing.T, env string, extra ...string) {
	t.Helper()
	const kafkaTimeout = time.Second
	args := append([]string{"-addr", "127.0.0.1:0", "-log-format", "json", "-kafka-timeout", kafkaTimeout.String()}, extra...)
	p := labtest.StartEnv(t, []string{env}, args...)
	code := p.ExitWithin(kafkaTimeout+5*time.Second, "start-up should give up on Kafka within -kafka-timeout")
	if code != 1 || !p.Log().Has("kafka unavailable") || p.Log().Has("listening") {
		t.Fatalf("exit code %d; want 1, after \"kafka unavailable\" and without \"listening\".\n%s", code, p.Transcript())
	}
}

// TestBadFlagsExitTwo: a mistake on the command line is a usage error: one
// line that says what is wrong, and exit code 2, before anything listens.
// The flags this task adds; the others are the earlier tasks' and
// unchanged. (Already true of the starter.)
func TestBadFlagsExitTwo(t *testing.T) {
	t.Parallel()
	labtest.ExpectUsageErrors(t, [][]string{
		{"-topic", "two words"},
		{"-batch-timeout", "0s"}, // kafka-go would read it as its default, 1s
		{"-flush-timeout", "0s"},
		{"-kafka-timeout", "-1s"},
	})
}

// indexOf is the position of the first event with message msg and
// attribute phase, or -1.
func indexOf(events []labtest.Event, msg, phase string) int {
	return slices.IndexFunc(events, func(ev labtest.Event) bool { return ev.Msg() == msg && ev.Str("phase") == phase })
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
// report, which say which code races, and what usually does in this task.
func raceReport(p *labtest.Program, code int) string {
	if code != 66 {
		return ""
	}
	report := "\nCounters that the writer's goroutines update, as Completion does, must be atomic (sync/atomic)."
	lines := strings.Split(p.Log().Text(), "\n")
	if i := slices.IndexFunc(lines, func(l string) bool { return strings.Contains(l, "WARNING: DATA RACE") }); i >= 0 {
		report += " The race detector's report begins:\n    " + strings.Join(lines[i:min(i+12, len(lines))], "\n    ")
	}
	return report
}
