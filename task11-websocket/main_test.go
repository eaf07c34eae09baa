package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"
	"gracefulshutdown.lab/labtest"
)

// TestMain lets each test start this very program as a real process (see
// labtest.Start) and checks that no test leaves a goroutine behind.
func TestMain(m *testing.M) { labtest.Main(m, main) }

// The flags most tests run with. The server pushes often, so that a close
// frame always meets a connection that is busy writing. No drain delay:
// the drain starts at the signal. The drain timeout is long, so that a
// drain that waits it out is plain to see.
const (
	pushInterval    = 20 * time.Millisecond
	wsDrainTimeout  = 4 * time.Second
	phaseTimeout    = 8 * time.Second
	shutdownTimeout = 9 * time.Second
)

// The margins the tests allow on a busy machine, under the race detector.
// A correct program needs a few milliseconds for each.
const (
	// frameBound: every client that reads gets its close frame this soon
	// after the drain starts.
	frameBound = time.Second
	// releaseBound: once a client has answered the close frame, the server
	// closes the connection this soon.
	releaseBound = 500 * time.Millisecond
	// awaitBound: no client waits longer than this for anything.
	awaitBound = 10 * time.Second
)

// start runs the program on a free port with the flags above (extra flags
// override them) and returns it with the address it bound.
func start(t *testing.T, extra ...string) (*labtest.Program, string) {
	t.Helper()
	args := []string{
		"-addr", "127.0.0.1:0", "-log-format", "json",
		"-push-interval", pushInterval.String(),
		"-drain-delay", "0s",
		"-ws-drain-timeout", wsDrainTimeout.String(),
		"-phase-timeout", phaseTimeout.String(),
		"-shutdown-timeout", shutdownTimeout.String(),
	}
	p := labtest.Start(t, append(args, extra...)...)
	return p, p.Listening()
}

// TestEchoAndPushWhileServing: before any signal, /ws upgrades to a
// WebSocket that echoes what the client sends and pushes a message every
// -push-interval.
func TestEchoAndPushWhileServing(t *testing.T) {
	t.Parallel()
	p, addr := start(t)
	conn := dialWS(t, p, addr)

	if err := echo(conn, "hello", awaitBound); err != nil {
		t.Fatalf("%v; want the message echoed back.\n%s", err, p.Transcript())
	}
	_ = conn.SetReadDeadline(time.Now().Add(awaitBound))
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			t.Fatalf("waiting for a push: %v; want \"push N\" every %v.\n%s", err, pushInterval, p.Transcript())
		}
		if strings.HasPrefix(string(data), "push ") {
			return
		}
	}
}

// TestEveryClientGetsGoingAway: at SIGTERM, every WebSocket gets a close
// frame with status 1001 "going away", never a connection that just dies
// (1006); each client that answers is released at once; the program logs
// the drain's events and exits 0.
func TestEveryClientGetsGoingAway(t *testing.T) {
	t.Parallel()
	const n = 20
	p, addr := start(t)
	conns := dialAll(t, p, addr, n)
	for i, c := range conns {
		if err := echo(c, fmt.Sprintf("client %d", i), awaitBound); err != nil {
			t.Fatalf("client %d: %v; want every WebSocket served before the signal.\n%s", i, err, p.Transcript())
		}
	}

	sent := time.Now()
	p.Signal(syscall.SIGTERM)
	for i, e := range awaitAll(conns, 0, awaitBound) {
		checkGoingAway(t, p, i, e, sent)
		checkReleased(t, p, i, e, sent)
	}
	if code := p.ExitWithin(wsDrainTimeout, "every client has answered, so the drain is over"); code != 0 {
		t.Fatalf("exit code %d after a shutdown in which every WebSocket answered; want 0.%s\n%s", code, trouble(p), p.Transcript())
	}
	expectDrainEvents(t, p, n, n, 0)
}

// TestDrainEndsWhenTheLastClientAnswers: clients that take a moment to
// answer the close frame keep their connection until they do, are released
// as soon as they have, and the program exits once the last one has, well
// before -ws-drain-timeout.
func TestDrainEndsWhenTheLastClientAnswers(t *testing.T) {
	t.Parallel()
	// How long each client is busy before it answers: the scenario.
	answers := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond, 400 * time.Millisecond}
	p, addr := start(t)
	conns := dialAll(t, p, addr, len(answers))
	for i, c := range conns {
		if err := echo(c, fmt.Sprintf("client %d", i), awaitBound); err != nil {
			t.Fatalf("client %d: %v; want every WebSocket served before the signal.\n%s", i, err, p.Transcript())
		}
	}

	sent := time.Now()
	p.Signal(syscall.SIGTERM)
	endings := make([]ending, len(conns))
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() { endings[i] = await(c, answers[i], awaitBound) })
	}
	wg.Wait()
	for i, e := range endings {
		checkGoingAway(t, p, i, e, sent)
		if e.hungUpEarly != nil {
			t.Fatalf("client %d: %s.\nThe client was busy for %v before answering; the server must keep the connection open, and the "+
				"process running, until the client answers its close frame (or -ws-drain-timeout passes): the close handshake "+
				"takes both sides, and Shutdown does not wait for what RegisterOnShutdown started.\n%s",
				i, e.describe(sent), answers[i], p.Transcript())
		}
		checkReleased(t, p, i, e, sent)
	}
	code := p.ExitWithin(releaseBound+time.Second, fmt.Sprintf(
		"every client had answered, so the drain was over; the program should not wait out -ws-drain-timeout (%v). "+
			"Does every handler remove its connection from the registry when it ends, and does the registry tell the drain "+
			"when it is empty (a channel closed by the last removal)?", wsDrainTimeout))
	if code != 0 {
		t.Fatalf("exit code %d after a shutdown in which every WebSocket answered; want 0.%s\n%s", code, trouble(p), p.Transcript())
	}
	expectDrainEvents(t, p, len(answers), len(answers), 0)
}

// TestSilentClientIsForceClosedAtDrainTimeout: a client that gets the close
// frame and never answers is force-closed -ws-drain-timeout after the close
// frames, while the clients that answer are released at once, without
// waiting for it; the program exits 1, as for any forced shutdown. A
// request is in flight too, shorter than the drain timeout: the HTTP drain
// runs alongside, and the timeout counts from the close frames, not from the
// end of the HTTP drain.
func TestSilentClientIsForceClosedAtDrainTimeout(t *testing.T) {
	t.Parallel()
	// A drain timeout counted from the end of the HTTP drain instead would
	// cut the silent client off after delay+drain, well past the bound.
	const drain, delay = 2 * time.Second, 1600 * time.Millisecond
	const bound = drain + 800*time.Millisecond
	p, addr := start(t, "-ws-drain-timeout", drain.String(), "-delay", delay.String())
	conns := dialAll(t, p, addr, 4)
	for i, c := range conns {
		if err := echo(c, fmt.Sprintf("client %d", i), awaitBound); err != nil {
			t.Fatalf("client %d: %v; want every WebSocket served before the signal.\n%s", i, err, p.Transcript())
		}
	}
	answering, silent := conns[:3], conns[3]
	resp := labtest.Get("http://"+addr+"/", delay+awaitBound)
	p.WaitFor("request started", labtest.StartBound)

	sent := time.Now()
	p.Signal(syscall.SIGTERM)
	var quiet ending
	var wg sync.WaitGroup
	wg.Go(func() { quiet = await(silent, never, awaitBound) })
	for i, e := range awaitAll(answering, 0, awaitBound) {
		checkGoingAway(t, p, i, e, sent)
		checkReleased(t, p, i, e, sent)
	}
	wg.Wait()

	checkGoingAway(t, p, 3, quiet, sent)
	if quiet.closeErr != nil {
		t.Fatalf("the silent client: %s; want the server to close the TCP connection at -ws-drain-timeout (%v).\n%s",
			quiet.describe(sent), drain, p.Transcript())
	}
	// The drain starts right after the signal, and its timeout with it.
	switch took := quiet.closedAt.Sub(sent); {
	case took < drain-200*time.Millisecond:
		t.Fatalf("the silent client: %s; want the server to keep its connection open until -ws-drain-timeout (%v) after "+
			"the signal: the client has until then to answer.\n%s", quiet.describe(sent), drain, p.Transcript())
	case took > bound:
		t.Fatalf("the silent client: %s; want the server to force-close it about -ws-drain-timeout (%v) after the signal, "+
			"within %v.\nA request that takes %v was in flight: is the drain timeout counted from when Shutdown returned, "+
			"or from when the waiting began, instead of from the close frames? Set the drain's deadline when the drain "+
			"starts (start plus -ws-drain-timeout) and wait until that moment, then force-close whoever is left.\n%s",
			quiet.describe(sent), drain, bound, delay, p.Transcript())
	}
	if r := <-resp; r.Err != nil || r.Status != 200 || r.Body != "hello\n" {
		t.Fatalf("the request in flight at the signal got %v; want 200 \"hello\\n\": the HTTP drain proceeds as before.\n%s", r, p.Transcript())
	}
	code := p.ExitWithin(drain+3*time.Second, "the silent client was force-closed, so the drain was over")
	if code != 1 {
		t.Fatalf("exit code %d after a shutdown that had to force-close a WebSocket; want 1, as for any forced shutdown: "+
			"the drain should return an error when it force-closed anything.%s\n%s", code, trouble(p), p.Transcript())
	}
	expectDrainEvents(t, p, 4, 3, 1)
}

// TestStalledClientsDoNotHoldUpTheOthers: clients that stopped reading, so
// that the server's writes to them block, do not delay the close frames to
// the others: every client that reads gets its 1001 at once. The stalled
// ones are force-closed at -ws-drain-timeout.
func TestStalledClientsDoNotHoldUpTheOthers(t *testing.T) {
	t.Parallel()
	// Enough clients of both kinds that a drain writing its frames one
	// after another, in the registry's random order, meets many stalled
	// clients before the last client that reads: even with a deadline of
	// 100 ms per frame, that client would wait for its frame for seconds.
	// The drain timeout leaves a client that reads time to answer, and be
	// released, after the frameBound it has for its frame.
	const drain, readers, stalled = 1500 * time.Millisecond, 16, 24
	p, addr := start(t, "-ws-drain-timeout", drain.String())
	conns := dialAll(t, p, addr, readers)
	for i, c := range conns {
		if err := echo(c, fmt.Sprintf("client %d", i), awaitBound); err != nil {
			t.Fatalf("client %d: %v; want every WebSocket served before the signal.\n%s", i, err, p.Transcript())
		}
	}
	errs := make([]error, stalled)
	var wg sync.WaitGroup
	for i := range stalled {
		wg.Go(func() {
			c, err := stall(t, addr)
			if err == nil {
				c.stopFlooding()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("%v\n%s", err, p.Transcript())
	}

	sent := time.Now()
	p.Signal(syscall.SIGTERM)
	for i, e := range awaitAll(conns, 0, awaitBound) {
		// A frame that came late, or never: the client was cut off at the
		// drain timeout without one.
		late := e.code == websocket.CloseGoingAway && e.frameAt.Sub(sent) > frameBound
		never := e.code == 0 && e.frameAt.Sub(sent) > drain/2
		if late || never {
			t.Fatalf("client %d, which reads: %s; want its close frame within %v of the signal.\n"+
				"%d other clients had stopped reading, so the server's writes to them block. A frame to a client that reads "+
				"must not wait for those: send every frame at the same time, each from a goroutine of its own with a write "+
				"deadline (WriteControl may be called alongside the connection's writer), not one after another, "+
				"however short each one's deadline.\n%s",
				i, e.describe(sent), frameBound, stalled, p.Transcript())
		}
		checkGoingAway(t, p, i, e, sent)
		checkReleased(t, p, i, e, sent)
	}
	code := p.ExitWithin(drain+3*time.Second, "the stalled clients should be force-closed at -ws-drain-timeout")
	if code != 1 {
		t.Fatalf("exit code %d after a shutdown that had to force-close the stalled WebSockets; want 1.%s\n%s", code, trouble(p), p.Transcript())
	}
	expectDrainEvents(t, p, readers+stalled, readers, stalled)
}

// TestClientBackFromAPauseGetsGoingAway: a client that stopped reading for
// a moment (a tab in the background, a train in a tunnel), so that the
// server's writes to it block, and reads again well before
// -ws-drain-timeout, still gets its close frame then, answers, and is
// released: its frame waits for it as long as the drain does.
func TestClientBackFromAPauseGetsGoingAway(t *testing.T) {
	t.Parallel()
	// The pause outlasts a frame deadline of a second, and ends long before
	// the drain's (wsDrainTimeout).
	const pause = 1500 * time.Millisecond
	p, addr := start(t)
	conns := dialAll(t, p, addr, 2)
	for i, c := range conns {
		if err := echo(c, fmt.Sprintf("client %d", i), awaitBound); err != nil {
			t.Fatalf("client %d: %v; want every WebSocket served before the signal.\n%s", i, err, p.Transcript())
		}
	}
	paused, err := stall(t, addr)
	if err != nil {
		t.Fatalf("%v\n%s", err, p.Transcript())
	}

	sent := time.Now()
	p.Signal(syscall.SIGTERM)
	var back ending
	var wg sync.WaitGroup
	wg.Go(func() {
		// The pause is the client's behaviour, timed from the signal.
		<-time.After(time.Until(sent.Add(pause)))
		paused.stopFlooding()
		back = await(paused.Conn, 0, awaitBound)
	})
	for i, e := range awaitAll(conns, 0, awaitBound) {
		checkGoingAway(t, p, i, e, sent)
		checkReleased(t, p, i, e, sent)
	}
	wg.Wait()

	// Once it reads again, the client has its frame behind what the server
	// sent before, and its answer behind the flood it sent: both take a
	// moment on a busy machine. That it comes, and the close is clean,
	// is what counts.
	if back.code != websocket.CloseGoingAway {
		t.Fatalf("the client that stopped reading, and read again %v after the signal: %s; want its close frame 1001 "+
			"once it reads again, and a clean close, long before -ws-drain-timeout (%v).\n"+
			"Its frame has to wait for the connection's writer, stuck in a write to this client until it reads. Give the "+
			"frame the drain's own deadline (the client has until then to answer), and send it from a goroutine of its own: "+
			"a frame given a shorter one (a second, or 100 ms each, one after another) gives up before the client reads "+
			"again, and the client is cut off with 1006 at the drain timeout.%s\n%s",
			pause, back.describe(sent), wsDrainTimeout, trouble(p), p.Transcript())
	}
	if back.hungUpEarly != nil || back.closeErr != nil {
		t.Fatalf("the client that stopped reading, and read again %v after the signal: %s; want the server to keep the "+
			"connection open until the client answers its close frame, then close it.\n%s", pause, back.describe(sent), p.Transcript())
	}
	if code := p.ExitWithin(wsDrainTimeout, "every client had answered, so the drain was over"); code != 0 {
		t.Fatalf("exit code %d after a shutdown in which every WebSocket answered; want 0.%s\n%s", code, trouble(p), p.Transcript())
	}
	expectDrainEvents(t, p, len(conns)+1, len(conns)+1, 0)
}

// TestDrainNeverOutlastsShutdownTimeout: with -ws-drain-timeout longer than
// what is left of -shutdown-timeout, a client that never answers is
// force-closed when the shutdown's budget runs out, by the drain itself,
// which says so before the process exits 1.
func TestDrainNeverOutlastsShutdownTimeout(t *testing.T) {
	t.Parallel()
	const budget = 600 * time.Millisecond
	p, addr := start(t, "-ws-drain-timeout", "5s", "-shutdown-timeout", budget.String())
	silent := dialWS(t, p, addr)
	if err := echo(silent, "hello", awaitBound); err != nil {
		t.Fatalf("%v; want the WebSocket served before the signal.\n%s", err, p.Transcript())
	}

	sent := time.Now()
	p.Signal(syscall.SIGTERM)
	e := await(silent, never, awaitBound)
	checkGoingAway(t, p, 0, e, sent)
	if e.closeErr != nil || e.closedAt.Sub(sent) > budget+time.Second {
		t.Fatalf("the silent client: %s; want the connection closed when -shutdown-timeout (%v) runs out, "+
			"although -ws-drain-timeout is 5s.\n%s", e.describe(sent), budget, p.Transcript())
	}
	code := p.ExitWithin(budget+3*time.Second, "the shutdown's budget had run out")
	if !p.Log().Has("websockets force-closed") {
		t.Fatalf("the program never logged \"websockets force-closed\": it exited with the silent client's drain unfinished.\n"+
			"Either the server's phase does not wait for the drain (Shutdown does not wait for what RegisterOnShutdown started), "+
			"or the drain's wait ignores the context it was given, or notices it late (a poll), and the shutdown's budget "+
			"ran out under it. Stop waiting when ctx is done (a break inside a select leaves only the select), then "+
			"force-close the stragglers and say so.\n%s",
			p.Transcript())
	}
	if code != 1 {
		t.Fatalf("exit code %d after a shutdown that ran out of time; want 1.%s\n%s", code, trouble(p), p.Transcript())
	}
	expectDrainEvents(t, p, 1, 0, 1)
}

// TestHTTPDrainProceedsAlongside: while a slow request drains, the
// WebSockets get their close frames at once, not after the request; the
// request still gets its answer, and the program exits 0.
func TestHTTPDrainProceedsAlongside(t *testing.T) {
	t.Parallel()
	const delay = 1200 * time.Millisecond
	p, addr := start(t, "-delay", delay.String())
	conns := dialAll(t, p, addr, 3)
	for i, c := range conns {
		if err := echo(c, fmt.Sprintf("client %d", i), awaitBound); err != nil {
			t.Fatalf("client %d: %v; want every WebSocket served before the signal.\n%s", i, err, p.Transcript())
		}
	}
	resp := labtest.Get("http://"+addr+"/", delay+awaitBound)
	p.WaitFor("request started", labtest.StartBound)

	sent := time.Now()
	p.Signal(syscall.SIGTERM)
	for i, e := range awaitAll(conns, 0, awaitBound) {
		if e.code == websocket.CloseGoingAway && e.frameAt.Sub(sent) > frameBound {
			t.Fatalf("client %d: %s; want the close frame within %v of the signal, while the request (%v) is still draining.\n"+
				"Start the WebSockets' drain when Shutdown begins (RegisterOnShutdown), not after Shutdown has returned: "+
				"the two drains run side by side, and the shutdown takes as long as the longer, not the sum.\n%s",
				i, e.describe(sent), frameBound, delay, p.Transcript())
		}
		checkGoingAway(t, p, i, e, sent)
		checkReleased(t, p, i, e, sent)
	}
	if r := <-resp; r.Err != nil || r.Status != 200 || r.Body != "hello\n" {
		t.Fatalf("the request in flight at the signal got %v; want 200 \"hello\\n\": the HTTP drain proceeds as before.\n%s", r, p.Transcript())
	}
	if code := p.ExitWithin(wsDrainTimeout, "the request and every WebSocket were done"); code != 0 {
		t.Fatalf("exit code %d after a clean shutdown; want 0.%s\n%s", code, trouble(p), p.Transcript())
	}
	expectDrainEvents(t, p, 3, 3, 0)
}

// TestNewConnectionsRefusedWhileWebSocketsDrain: once the WebSockets'
// drain has begun, the listener is closed, even while a client still keeps
// that drain going: a new connection is refused at once, and its client
// tries another instance, instead of being accepted by a server that is
// leaving and cut off when it goes.
func TestNewConnectionsRefusedWhileWebSocketsDrain(t *testing.T) {
	t.Parallel()
	p, addr := start(t)
	slow := dialWS(t, p, addr)
	if err := echo(slow, "hello", awaitBound); err != nil {
		t.Fatalf("%v; want the WebSocket served before the signal.\n%s", err, p.Transcript())
	}

	// The client does not read, nor answer, until the check is done: the
	// drain goes on for as long as the test looks.
	p.Signal(syscall.SIGTERM)
	p.WaitFor("websockets draining", awaitBound)
	seen := time.Now()
	err := labtest.Dial(addr)
	for !labtest.Refused(err) && time.Since(seen) < frameBound {
		time.Sleep(10 * time.Millisecond) // a few tries: the listener may close a moment after the event
		err = labtest.Dial(addr)
	}
	if !labtest.Refused(err) {
		t.Fatalf("new TCP connections were still accepted %v after \"websockets draining\" (the last: %v); want them refused: "+
			"the listener is closed while the WebSockets drain.\nA client accepted now is served by a process that is leaving, "+
			"and cut off when it goes. Are the WebSockets drained before Shutdown is called? Have Shutdown start their "+
			"drain (RegisterOnShutdown: it runs right after the listener is closed), and wait for it after Shutdown, in "+
			"the same phase.\n%s", frameBound, describeDial(err), p.Transcript())
	}

	e := await(slow, 0, awaitBound)
	checkGoingAway(t, p, 0, e, seen)
	checkReleased(t, p, 0, e, seen)
	if code := p.ExitWithin(wsDrainTimeout, "the only WebSocket had answered"); code != 0 {
		t.Fatalf("exit code %d after a clean shutdown; want 0.%s\n%s", code, trouble(p), p.Transcript())
	}
	expectDrainEvents(t, p, 1, 1, 0)
}

// TestForcedHTTPDrainStillWaitsForWebSockets: when the HTTP drain runs out
// of time and the server is forced closed, the WebSockets' drain still
// finishes, and says so, before the phase fails; the program exits 1.
func TestForcedHTTPDrainStillWaitsForWebSockets(t *testing.T) {
	t.Parallel()
	const phase = 500 * time.Millisecond
	p, addr := start(t, "-delay", "5s", "-phase-timeout", phase.String())
	conns := dialAll(t, p, addr, 3)
	for i, c := range conns {
		if err := echo(c, fmt.Sprintf("client %d", i), awaitBound); err != nil {
			t.Fatalf("client %d: %v; want every WebSocket served before the signal.\n%s", i, err, p.Transcript())
		}
	}
	resp := labtest.Get("http://"+addr+"/", awaitBound)
	p.WaitFor("request started", labtest.StartBound)

	sent := time.Now()
	p.Signal(syscall.SIGTERM)
	// The clients answer at once; one that is slower than the phase's
	// deadline is force-closed with it, which is right too.
	for i, e := range awaitAll(conns, 0, awaitBound) {
		checkGoingAway(t, p, i, e, sent)
	}
	code := p.ExitWithin(phase+3*time.Second, "the server phase's deadline had passed")
	<-resp // cut off by the forced close; nothing to check
	if !p.Log().Has("forced close") {
		t.Fatalf("the program never logged \"forced close\" although the request outlived -phase-timeout.\n%s", p.Transcript())
	}
	if !p.Log().Has("websockets closed") {
		t.Fatalf("the program never logged \"websockets closed\". When Shutdown fails, the phase must still wait for the "+
			"WebSockets' drain before it returns its error.\n%s", p.Transcript())
	}
	if code != 1 {
		t.Fatalf("exit code %d after a forced shutdown; want 1.%s\n%s", code, trouble(p), p.Transcript())
	}
	if n, _ := eventCount(p, "websockets draining"); n != "3" {
		t.Errorf("the program logged \"websockets draining\" with count=%s; want count=3.\n%s", n, p.Transcript())
	}
}

// TestUpgradeDuringDrainDelayIsRefused: from the signal on, a new upgrade
// is refused with 503, while the WebSockets already open keep being served
// through the drain delay and get their close frame after it.
func TestUpgradeDuringDrainDelayIsRefused(t *testing.T) {
	t.Parallel()
	const drainDelay = 800 * time.Millisecond
	p, addr := start(t, "-drain-delay", drainDelay.String())
	old := dialWS(t, p, addr)
	if err := echo(old, "hello", awaitBound); err != nil {
		t.Fatalf("%v; want the WebSocket served before the signal.\n%s", err, p.Transcript())
	}

	p.Signal(syscall.SIGTERM)
	p.WaitFor("readiness off", awaitBound)
	conn, err := tryDialWS(addr, nil)
	var refused *refusedError
	switch {
	case err == nil:
		conn.Close()
		t.Fatalf("a WebSocket upgrade during the drain delay succeeded; want 503 Service Unavailable.\n"+
			"A WebSocket opened now would be told to go away within seconds: refuse it once readiness is off, and its "+
			"client retries through the load balancer, to an instance that stays.\n%s", p.Transcript())
	case labtest.Refused(err):
		t.Fatalf("a WebSocket upgrade during the drain delay got %v; want an HTTP answer, 503 Service Unavailable: "+
			"the listener stays open for the drain delay.\n%s", err, p.Transcript())
	case !errors.As(err, &refused) || refused.status != 503:
		t.Fatalf("a WebSocket upgrade during the drain delay got %v; want 503 Service Unavailable.\n%s", err, p.Transcript())
	}

	if err := echo(old, "still there?", awaitBound); err != nil {
		t.Fatalf("the WebSocket opened before the signal, during the drain delay: %v; want it still served until the "+
			"drain delay is over, like every other connection.\n%s", err, p.Transcript())
	}
	e := await(old, 0, awaitBound)
	checkGoingAway(t, p, 0, e, time.Now())
	if code := p.ExitWithin(drainDelay+wsDrainTimeout, "the only WebSocket had answered"); code != 0 {
		t.Fatalf("exit code %d after a clean shutdown; want 0.%s\n%s", code, trouble(p), p.Transcript())
	}
	expectDrainEvents(t, p, 1, 1, 0)
}

// TestUpgradeAsTheDrainStartsIsToldToGo: an upgrade that had passed the
// readiness check when the drain began (readiness goes off a moment before
// the drain, and an upgrade can be between the two) is refused, or gets a
// close frame of its own at once. It must not join the registry after the
// drain has taken its count and sent its frames: nothing would ever tell it
// to go, and it would be cut off at the end with 1006.
//
// It wires the parts in-process, as run does, to hold one upgrade at that
// very instant: readiness stays on, and the upgrade goes ahead only once the
// drain has begun.
func TestUpgradeAsTheDrainStartsIsToldToGo(t *testing.T) {
	t.Parallel()
	log := labtest.NewEventLog()
	logger := newLogger("json", log)
	var ready readiness
	ready.set(true)
	ws := newWebSockets(pushInterval, wsDrainTimeout, &ready, logger)

	arrived, proceed := make(chan struct{}), make(chan struct{})
	var release sync.Once // closes proceed
	hold := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived) // the test sends one request
		<-proceed
		ws.ServeHTTP(w, r)
	})
	srv, _, err := startServer("127.0.0.1:0", hold, logger)
	if err != nil {
		t.Fatalf("starting the server: %v\n%s", err, log.Text())
	}
	ev, err := log.WaitFor("listening", labtest.StartBound, nil)
	if err != nil {
		t.Fatalf("%v\n%s", err, log.Text())
	}
	phase := drainServer(srv, ws, logger)

	type dialed struct {
		conn *websocket.Conn
		err  error
	}
	dial := make(chan dialed, 1)
	go func() {
		conn, err := tryDialWS(ev.Str("addr"), nil)
		dial <- dialed{conn, err}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), awaitBound)
	defer cancel()
	phaseDone := make(chan struct{})
	var phaseErr error
	phaseStarted := false
	t.Cleanup(func() {
		// Whatever failed, let everything end: the held request, the
		// client's connection, the phase, the server.
		release.Do(func() { close(proceed) })
		select {
		case d := <-dial:
			if d.conn != nil {
				d.conn.Close()
			}
		case <-time.After(awaitBound):
		}
		if phaseStarted {
			select {
			case <-phaseDone:
			case <-time.After(awaitBound):
			}
		}
		_ = srv.Close()
	})

	select {
	case <-arrived:
	case <-time.After(awaitBound):
		t.Fatalf("the upgrade request never reached the handler within %v.\n%s", awaitBound, log.Text())
	}
	phaseStarted = true
	go func() {
		defer close(phaseDone)
		phaseErr = phase(ctx)
	}()
	if _, err := log.WaitFor("websockets draining", frameBound, nil); err != nil {
		t.Fatalf("%v: Shutdown began, with an upgrade in flight, and the WebSockets' drain did not start. Have Shutdown "+
			"start it the moment it begins (RegisterOnShutdown): it does not wait for the request to finish first.\n%s",
			err, log.Text())
	}
	proceeded := time.Now()
	release.Do(func() { close(proceed) })

	d := <-dial
	dial <- d // for the clean-up, which closes the connection
	var refused *refusedError
	switch {
	case errors.As(d.err, &refused) && refused.status == 503:
		// Refused before the upgrade: as good as a close frame.
	case d.err != nil:
		t.Fatalf("the upgrade that was in flight as the drain began got %v; want 503 Service Unavailable, or a "+
			"WebSocket that gets its close frame 1001 at once.\n%s", d.err, log.Text())
	default:
		e := await(d.conn, 0, awaitBound)
		if e.code != websocket.CloseGoingAway || e.frameAt.Sub(proceeded) > frameBound {
			t.Fatalf("the WebSocket upgraded as the drain began: %s; want its close frame 1001 within %v.\n"+
				"It joined the registry after the drain had counted the connections and sent their frames, so nothing "+
				"told it to go. Once draining, the registry must refuse a connection, and the handler send that "+
				"connection a close frame of its own.%s\n%s", e.describe(proceeded), frameBound, trouble(inProcess{log}),
				log.Text())
		}
	}
	select {
	case <-phaseDone:
		if phaseErr != nil {
			t.Fatalf("the server's phase failed: %v; want nil: no WebSocket was open when the drain began, and the "+
				"one upgraded then was told to go.\n%s", phaseErr, log.Text())
		}
	case <-time.After(awaitBound):
		t.Fatalf("the server's phase had not returned %v after the drain began.\n%s", awaitBound, log.Text())
	}
}

// TestIdleShutdownIsPrompt: with no WebSocket open at the signal, the
// drain has nothing to wait for: the program says so and exits 0 at once,
// long before -ws-drain-timeout.
func TestIdleShutdownIsPrompt(t *testing.T) {
	t.Parallel()
	p, _ := start(t)

	p.Signal(syscall.SIGTERM)
	code := p.ExitWithin(2*time.Second, fmt.Sprintf("no WebSocket was open, so the drain had nothing to wait for; it should not "+
		"wait out -ws-drain-timeout (%v). Does the drain see that the registry is empty when it starts?", wsDrainTimeout))
	if code != 0 {
		t.Fatalf("exit code %d after a clean shutdown; want 0.%s\n%s", code, trouble(p), p.Transcript())
	}
	expectDrainEvents(t, p, 0, 0, 0)
}

// TestNoGoroutineOutlivesRun: run, called in-process the way a test or a
// bigger program would call it, returns once its context is cancelled and
// its WebSockets have answered, and leaves the goroutine count where it
// was: every handler, pusher and close frame's goroutine has ended.
//
// It counts the goroutines of the whole test binary, so it does not call
// t.Parallel: Go runs it before any parallel test starts.
func TestNoGoroutineOutlivesRun(t *testing.T) {
	baseline := goleak.IgnoreCurrent()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := labtest.NewEventLog()
	returned := make(chan struct{})
	var code int
	go func() {
		defer close(returned)
		code = run(ctx, []string{"-addr", "127.0.0.1:0", "-log-format", "json", "-push-interval", pushInterval.String(),
			"-drain-delay", "0s", "-ws-drain-timeout", "2s"}, io.Discard, log)
	}()
	ev, err := log.WaitFor("listening", labtest.StartBound, returned)
	if err != nil {
		t.Fatalf("%v\n%s", err, log.Text())
	}
	conns := dialAll(t, inProcess{log}, ev.Str("addr"), 3)
	for i, c := range conns {
		if err := echo(c, fmt.Sprintf("client %d", i), awaitBound); err != nil {
			t.Fatalf("client %d: %v; want every WebSocket served.\n%s", i, err, log.Text())
		}
	}

	cancelled := time.Now()
	cancel()
	endings := awaitAll(conns, 0, 3*time.Second)
	for _, c := range conns {
		c.Close()
	}
	for i, e := range endings {
		if e.code != websocket.CloseGoingAway || e.closeErr != nil {
			t.Fatalf("client %d: %s; want a 1001 close frame, and the connection closed once the client answered.\n%s",
				i, e.describe(cancelled), log.Text())
		}
	}
	select {
	case <-returned:
	case <-time.After(3 * time.Second):
		t.Fatalf("run had not returned 3s after its context was cancelled and every WebSocket had answered.\n%s", log.Text())
	}
	if code != 0 {
		t.Fatalf("run returned %d after a clean shutdown; want 0.\n%s", code, log.Text())
	}
	if err := goleak.Find(baseline); err != nil {
		t.Fatalf("goroutines that run started were still there after it returned; want none. A WebSocket's handler "+
			"that outlives run means its connection was never closed.\n%v\n%s", err, log.Text())
	}
}

// TestBadFlagsExitTwo: a mistake on the command line is a usage error: one
// line that says what is wrong, and exit code 2, before anything listens.
//
// It does not call t.Parallel: Go runs it before the parallel tests start,
// so that the busy WebSocket tests do not slow its processes down.
func TestBadFlagsExitTwo(t *testing.T) {
	labtest.ExpectUsageErrors(t, [][]string{
		{"-push-interval", "0s"},
		{"-push-interval", "often"},
		{"-ws-drain-timeout", "0s"},
		{"-ws-drain-timeout", "-1s"},
		{"-drain-delay", "2s", "-shutdown-timeout", "2s"},
		{"-log-format", "xml"},
	})
}

// checkGoingAway fails the test unless client i got a close frame with
// status 1001 "going away".
func checkGoingAway(t *testing.T, p *labtest.Program, i int, e ending, since time.Time) {
	t.Helper()
	switch {
	case e.code == 0:
		t.Fatalf("client %d: %s; want a close frame with status 1001 \"going away\".\n"+
			"Server.Shutdown does not see hijacked connections: send each WebSocket a close frame "+
			"(WriteControl with websocket.FormatCloseMessage(websocket.CloseGoingAway, ...)), and keep the process "+
			"alive until the drain is over.%s\n%s", i, e.describe(since), trouble(p), p.Transcript())
	case e.code != websocket.CloseGoingAway:
		t.Fatalf("client %d: %s; want status 1001, \"going away\": the status for a server that is shutting down.\n%s",
			i, e.describe(since), p.Transcript())
	}
}

// checkReleased fails the test unless the server closed client i's
// connection cleanly, and soon, once the client had answered.
func checkReleased(t *testing.T, p *labtest.Program, i int, e ending, since time.Time) {
	t.Helper()
	switch {
	case e.hungUpEarly != nil:
		t.Fatalf("client %d: %s; want the connection kept open until the client answered the close frame.\n%s",
			i, e.describe(since), p.Transcript())
	case e.closeErr != nil:
		t.Fatalf("client %d: %s; want the server to close the TCP connection once the client has answered its close frame.\n%s",
			i, e.describe(since), p.Transcript())
	case e.closedAt.Sub(e.answeredAt) > releaseBound:
		t.Fatalf("client %d: %s; want the server to close the connection within %v of the client's answer: "+
			"a client that has answered is released at once, whatever the others do.\n%s",
			i, e.describe(since), releaseBound, p.Transcript())
	}
}

// expectDrainEvents checks the drain's events: "websockets draining" with
// the connections open when it started, "websockets closed" with the ones
// that ended before the drain timeout, and "websockets force-closed" with
// the rest (the event may be left out when there are none).
func expectDrainEvents(t *testing.T, p *labtest.Program, draining, closed, forced int) {
	t.Helper()
	for _, want := range []struct {
		msg      string
		count    int
		optional bool
	}{
		{"websockets draining", draining, false},
		{"websockets closed", closed, false},
		{"websockets force-closed", forced, forced == 0},
	} {
		got, logged := eventCount(p, want.msg)
		switch {
		case !logged && want.optional:
		case !logged:
			t.Errorf("the program never logged %q; want it, with count=%d.\n%s", want.msg, want.count, p.Transcript())
		case got != strconv.Itoa(want.count):
			t.Errorf("the program logged %q with count=%s; want count=%d.\n%s", want.msg, got, want.count, p.Transcript())
		}
	}
}

// eventCount is the count attribute of the first event msg, and whether
// the program logged that event at all.
func eventCount(p *labtest.Program, msg string) (string, bool) {
	for _, ev := range p.Log().Events() {
		if ev.Msg() == msg {
			if _, ok := ev["count"]; !ok {
				return "(none)", true
			}
			return ev.Str("count"), true
		}
	}
	return "", false
}
