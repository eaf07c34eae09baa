package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
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
//
// Each test runs the program against a Redis protocol server: a miniredis
// of the test's own, over TCP, or the Redis that REDIS_ADDR names, to try
// your answer against a real one (REDIS_ADDR=127.0.0.1:6379 go test ./...).
// The test reads the lock with a go-redis client of its own.
func TestMain(m *testing.M) { labtest.Main(m, main) }

// The durations the tests run with. No drain delay: this task is not about
// readiness. A call to Redis gets a generous deadline, so that a busy
// machine never fails a start-up; the tests that cut Redis off use a
// shorter one, and their bounds follow from it.
const (
	delay        = 100 * time.Millisecond
	drainDelay   = time.Duration(0)
	redisTimeout = 2 * time.Second

	// The default -lock-ttl: nothing is extended within a test that
	// keeps it.
	defaultTTL = 30 * time.Second
	// The -lock-ttl of the tests about the extension: it is extended
	// every 333ms. A busy machine can stall a process for a few hundred
	// milliseconds; a much shorter TTL could expire under a correct
	// program.
	shortTTL = time.Second
	// The -redis-timeout of the tests that cut Redis off: the release
	// gives up after it. The program's start-up, through the test's proxy,
	// must fit in it too, on a busy machine.
	cutRedisTimeout = 700 * time.Millisecond
	// The default -redis-timeout.
	defaultRedisTimeout = 500 * time.Millisecond
)

// start runs the program against the Redis at redisAddr, with the lock
// named key and the durations above; extra flags override them.
func start(t *testing.T, redisAddr, key string, extra ...string) *labtest.Program {
	t.Helper()
	args := []string{
		"-addr", "127.0.0.1:0", "-log-format", "json",
		"-delay", delay.String(), "-drain-delay", drainDelay.String(),
		"-lock-key", key, "-redis-timeout", redisTimeout.String(),
	}
	return labtest.StartEnv(t, []string{"REDIS_ADDR=" + redisAddr}, append(args, extra...)...)
}

// TestLockReleasedOnShutdown: the program takes the lock before it listens:
// the key holds a token and expires within -lock-ttl. On SIGTERM the
// phases run readiness, http server, redis lock, redis client; the lock is
// released (the key is gone), and the process exits 0.
func TestLockReleasedOnShutdown(t *testing.T) {
	t.Parallel()
	rs := newTestRedis(t)
	key := rs.lockKey(t)
	p := start(t, rs.addr, key)
	p.Listening()

	token, ttl := rs.get(t, key)
	if token == "" {
		t.Fatalf("the program listened, but Redis has no key %q; want the lock taken at start-up, before serving.\n%s", key, p.Transcript())
	}
	if ttl <= 0 || ttl > defaultTTL {
		t.Fatalf("the lock's key has a time to live of %v; want at most -lock-ttl (%v).\n"+
			"Take it with SET key token NX PX ttl: without a TTL, a holder that crashes keeps the lock for ever.\n%s",
			describeTTL(ttl), defaultTTL, p.Transcript())
	}

	p.Signal(syscall.SIGTERM)
	code := p.ExitWithin(5*time.Second, "with nothing in flight, every phase should end at once")
	if left := rs.token(t, key); left != "" {
		hint := "Release the lock in a phase of its own (lc.Add(\"redis lock\", ...)), with the compare-and-delete script."
		if failed := p.Log().Index("release failed"); failed >= 0 && strings.Contains(p.Log().Events()[failed].Str("err"), "client is closed") {
			hint = "The release ran after the \"redis client\" phase had closed the client. Add the lock's phase after openRedis, " +
				"so that it runs before the client closes: not in a defer, which runs after every phase."
		}
		t.Fatalf("after the shutdown the key %q still holds %q; want it deleted, so that the next instance can start at once "+
			"instead of waiting out the TTL.\n%s\n%s", key, left, hint, p.Transcript())
	}
	if code != 0 {
		t.Fatalf("exit code %d after a clean shutdown; want 0.\n%s", code, p.Transcript())
	}
	if got, want := phaseLines(p), []string{
		"phase started readiness", "phase done readiness",
		"phase started http server", "phase done http server",
		"phase started redis lock", "phase done redis lock",
		"phase started redis client", "phase done redis client",
	}; !slices.Equal(got, want) {
		t.Fatalf("after \"shutdown started\" the phases went:\n  %s\nwant:\n  %s\n"+
			"Add the \"redis lock\" phase right after taking the lock: after openRedis, before the server starts.\n%s",
			strings.Join(got, "\n  "), strings.Join(want, "\n  "), p.Transcript())
	}
	if !p.Log().Has("lock released") {
		t.Errorf("the program never logged \"lock released\"; log it once the key is deleted.\n%s", p.Transcript())
	}
}

// TestSecondInstanceIsRefused: while one instance holds the lock, a second
// one with the same -lock-key logs "lock held elsewhere" naming the key,
// never listens, and exits 1 at once, leaving the first one's lock alone.
func TestSecondInstanceIsRefused(t *testing.T) {
	t.Parallel()
	rs := newTestRedis(t)
	key := rs.lockKey(t)
	first := start(t, rs.addr, key)
	first.Listening()
	token := rs.token(t, key)

	second := start(t, rs.addr, key)
	code := second.ExitWithin(labtest.StartBound+redisTimeout,
		"another instance holds the lock: the second one should say so and exit 1 at once, not wait for the lock to be free")
	if second.Log().Has("listening") {
		t.Fatalf("the second instance listened although the first held the lock; want it to exit without serving.\n"+
			"Take the lock with SET key token NX PX ttl, which fails when the key exists, before the server starts.\n%s", second.Transcript())
	}
	if now := rs.token(t, key); now != token {
		t.Fatalf("after the second instance ran, the key holds %q; want the first instance's token %q: "+
			"a refused instance must not touch a lock it does not hold.\n%s", now, token, second.Transcript())
	}
	held := slices.IndexFunc(second.Log().AtLevel("ERROR"), func(ev labtest.Event) bool {
		return ev.Msg() == "lock held elsewhere" && ev.Str("key") == key
	})
	if held < 0 {
		t.Fatalf("the second instance never logged \"lock held elsewhere\" at ERROR with key=%q; "+
			"want that one line, so whoever started it knows why it stopped.\n%s", key, second.Transcript())
	}
	if code != 1 {
		t.Fatalf("the refused instance exited %d; want 1.\n%s", code, second.Transcript())
	}

	first.Signal(syscall.SIGTERM)
	if code := first.ExitWithin(5*time.Second, "the first instance should shut down as usual"); code != 0 {
		t.Fatalf("the first instance exited %d after the second was refused; want 0.\n%s", code, first.Transcript())
	}
}

// TestTakenOverLockSurvivesOurShutdown: the first instance's lock expires
// (the test deletes the key, as its expiry would) and a second instance
// takes it, with a token of its own. When the first shuts down, its release
// leaves the second one's lock alone, logs "lock not ours" and exits 1.
func TestTakenOverLockSurvivesOurShutdown(t *testing.T) {
	t.Parallel()
	rs := newTestRedis(t)
	key := rs.lockKey(t)
	first := start(t, rs.addr, key)
	first.Listening()
	firstToken := rs.token(t, key)

	rs.del(t, key) // the first one's lock expires (it stalled, say, for longer than its TTL)
	second := start(t, rs.addr, key)
	second.Listening()
	secondToken := rs.token(t, key)
	if secondToken == firstToken {
		t.Fatalf("both instances wrote the same token, %q; want a random one per process (crypto/rand's rand.Text()).\n"+
			"The token is how a process recognises its own lock: with the same token, each one extends and deletes the other's.\n%s",
			firstToken, second.Transcript())
	}

	first.Signal(syscall.SIGTERM)
	code := first.ExitWithin(5*time.Second, "the first instance should shut down as usual")
	if now := rs.token(t, key); now != secondToken {
		t.Fatalf("after the first instance's shutdown the key holds %q; want the second instance's token %q.\n"+
			"The first one deleted a lock that was no longer its own, and the second now runs without one. "+
			"Release with a script that deletes the key only if it holds your token.\n%s", now, secondToken, first.Transcript())
	}
	if !first.Log().Has("lock not ours") {
		t.Fatalf("the first instance never logged \"lock not ours\"; want it from the release, which found another token in the key.\n%s", first.Transcript())
	}
	if code != 1 {
		t.Errorf("the first instance exited %d; want 1: its lock was not its own any more when it stopped.\n%s", code, first.Transcript())
	}

	second.Signal(syscall.SIGTERM)
	if code := second.ExitWithin(5*time.Second, "the second instance should shut down as usual"); code != 0 {
		t.Fatalf("the second instance exited %d; want 0.\n%s", code, second.Transcript())
	}
}

// TestLockIsExtended: with -lock-ttl 1s, the key still holds the
// program's token well after 1s: the lock is extended, every third of
// its TTL, for as long as the program runs.
func TestLockIsExtended(t *testing.T) {
	t.Parallel()
	rs := newTestRedis(t)
	key := rs.lockKey(t)
	p := start(t, rs.addr, key, "-lock-ttl", shortTTL.String())
	acquired := labtest.EventTime(t, p.WaitFor("lock acquired", labtest.StartBound))
	token := rs.token(t, key)

	// This wait is the scenario: past it, a lock that was never extended
	// has expired.
	time.Sleep(time.Until(acquired.Add(shortTTL + 200*time.Millisecond)))
	now, ttl := rs.get(t, key)
	if now != token {
		t.Fatalf("%v after the lock was taken, with -lock-ttl %v, the key holds %q; want the program's token %q, "+
			"extended every third of the TTL with the compare-and-extend script.\n"+
			"A lock that expires while its holder runs lets a second instance start alongside it.\n%s",
			shortTTL+200*time.Millisecond, shortTTL, now, token, p.Transcript())
	}
	if ttl <= 0 || ttl > shortTTL {
		t.Fatalf("the extended key has a time to live of %v; want at most -lock-ttl (%v): extend it with PEXPIRE key ttl-in-ms.\n%s",
			describeTTL(ttl), shortTTL, p.Transcript())
	}

	p.Signal(syscall.SIGTERM)
	if code := p.ExitWithin(5*time.Second, "the extension must not hold up the shutdown"); code != 0 {
		t.Fatalf("exit code %d after a clean shutdown; want 0.\n%s", code, p.Transcript())
	}
}

// TestTakenOverLockStartsShutdown: while the program runs with -lock-ttl
// 1s, another owner takes its key over. At its next extension (within
// 333ms) the program logs "lock lost" and shuts down: the phases run, the
// release leaves the other owner's key alone, and the process exits 1.
func TestTakenOverLockStartsShutdown(t *testing.T) {
	t.Parallel()
	rs := newTestRedis(t)
	key := rs.lockKey(t)
	p := start(t, rs.addr, key, "-lock-ttl", shortTTL.String())
	p.Listening()

	other := "another-owner-" + rand.Text()
	rs.set(t, key, other, defaultTTL)
	// The next extension comes within a third of the TTL; the rest is
	// margin for a busy machine.
	if _, err := p.Log().WaitFor("lock lost", shortTTL/3+time.Second, p.Done()); err != nil {
		t.Fatalf("%v after another owner took the key over; want \"lock lost\" at the next extension, within %v.\n"+
			"Extend with a script that checks the token first and returns 0 when the key holds another one: that is a lost lock.\n%s",
			err, (shortTTL / 3).Round(time.Millisecond), p.Transcript())
	}
	code := p.ExitWithin(drainDelay+5*time.Second, "a lost lock must start the shutdown, as a signal does: "+
		"running on without the lock is what the lock exists to prevent")
	if now := rs.token(t, key); now != other {
		t.Fatalf("after the shutdown the key holds %q; want the other owner's token %q: the release must leave it alone.\n%s", now, other, p.Transcript())
	}
	if lost, started := p.Log().Index("lock lost"), p.Log().Index("shutdown started"); started < lost {
		t.Fatalf("\"shutdown started\" was not logged after \"lock lost\"; want the lost lock to start the shutdown.\n%s", p.Transcript())
	}
	if code != 1 {
		t.Fatalf("exit code %d after the lock was lost; want 1.\n%s", code, p.Transcript())
	}
}

// TestLockLostWhenRedisUnreachable: with -lock-ttl 1s, Redis stops
// answering (the test cuts the connection). Once a whole TTL has passed
// without an extension that Redis confirmed, the key may have expired and
// another instance may hold the lock: at the next extension that fails,
// the program logs "lock lost" and shuts down, and exits 1.
func TestLockLostWhenRedisUnreachable(t *testing.T) {
	t.Parallel()
	rs := newTestRedis(t)
	px := newProxy(t, rs.addr)
	key := rs.lockKey(t)
	p := start(t, px.addr(), key, "-lock-ttl", shortTTL.String(), "-redis-timeout", cutRedisTimeout.String())
	p.Listening()

	px.cutOff()
	cut := time.Now()
	// The last extension Redis confirmed came before the cut, so the key
	// can expire a TTL after the cut; the first extension to fail after
	// that, a -redis-timeout later at most, reports the lock lost. The
	// rest is margin.
	if _, err := p.Log().WaitFor("lock lost", shortTTL+cutRedisTimeout+time.Second, p.Done()); err != nil {
		t.Fatalf("%v; Redis has been unreachable for %v, with -lock-ttl %v.\n"+
			"By now the key has expired in Redis, and another instance may hold the lock. Remember when Redis last confirmed "+
			"an extension, and when an extension fails once a whole TTL has passed since then, report \"lock lost\" and shut down.\n%s",
			err, time.Since(cut).Round(time.Millisecond), shortTTL, p.Transcript())
	}
	code := p.ExitWithin(drainDelay+cutRedisTimeout+5*time.Second,
		"a lost lock must start the shutdown, and the release, with Redis still unreachable, gives up at its deadline")
	if code != 1 {
		t.Fatalf("exit code %d after the lock was lost; want 1.\n%s", code, p.Transcript())
	}
}

// TestRedisGoneAtShutdownIsBounded: Redis stops answering just before
// SIGTERM (the test cuts the connection). The release gives up at its
// deadline, -redis-timeout, logs "release failed", and its phase fails; the
// phases after it still run, and the process exits 1.
func TestRedisGoneAtShutdownIsBounded(t *testing.T) {
	t.Parallel()
	rs := newTestRedis(t)
	px := newProxy(t, rs.addr)
	key := rs.lockKey(t)
	p := start(t, px.addr(), key, "-redis-timeout", cutRedisTimeout.String())
	p.Listening()

	px.cutOff()
	p.Signal(syscall.SIGTERM)
	code := p.ExitWithin(drainDelay+cutRedisTimeout+5*time.Second,
		"the release must give up at its deadline when Redis does not answer")

	failed := p.Log().Index("release failed")
	if failed < 0 {
		t.Fatalf("the program never logged \"release failed\" although Redis did not answer; want the error reported at ERROR, with the key.\n"+
			"Check the error the release script returns: the key keeps your token until its TTL, and whoever runs the service must know.\n%s",
			p.Transcript())
	}
	events := p.Log().Events()
	began := indexOf(events, "phase started", "redis lock")
	if began >= 0 {
		if took := labtest.EventTime(t, events[failed]).Sub(labtest.EventTime(t, events[began])); took > cutRedisTimeout+2*time.Second {
			t.Errorf("\"release failed\" came %v after the \"redis lock\" phase started; want it at the release's deadline, -redis-timeout (%v).\n%s",
				took.Round(time.Millisecond), cutRedisTimeout, p.Transcript())
		}
	}
	if indexOf(events, "phase failed", "redis lock") < 0 {
		t.Fatalf("no \"phase failed\" for the \"redis lock\" phase; want the release's error returned, so the shutdown reports it.\n%s", p.Transcript())
	}
	if indexOf(events, "phase started", "redis client") < failed {
		t.Fatalf("the \"redis client\" phase did not run after the failed release; want every phase to run.\n%s", p.Transcript())
	}
	if code != 1 {
		t.Fatalf("exit code %d after a release that failed; want 1.\n%s", code, p.Transcript())
	}
}

// TestLockHeldUntilRequestsDrain: a request of 1.6s is in flight at
// SIGTERM, with -lock-ttl 1s. Until it has its answer, the key holds the
// program's token: the lock is extended through the drain, and released
// only after it. Then the request gets "hello", the key is gone, and the
// process exits 0.
func TestLockHeldUntilRequestsDrain(t *testing.T) {
	t.Parallel()
	const slow = 1600 * time.Millisecond // longer than the TTL
	rs := newTestRedis(t)
	key := rs.lockKey(t)
	p := start(t, rs.addr, key, "-lock-ttl", shortTTL.String(), "-delay", slow.String())
	addr := p.Listening()
	token := rs.token(t, key)

	resp := labtest.Get("http://"+addr+"/", slow+10*time.Second)
	p.WaitFor("request started", labtest.StartBound)
	sent := time.Now()
	p.Signal(syscall.SIGTERM)
	p.WaitFor("draining server", 5*time.Second)

	// Look at the lock until the request has its answer.
	var r labtest.Response
	for answered := false; !answered; {
		select {
		case r = <-resp:
			answered = true
		case <-time.After(50 * time.Millisecond):
		}
		if now := rs.token(t, key); now != token && !answered {
			hint := "Add the \"redis lock\" phase right after taking the lock, before the server's: LIFO then runs it after the drain."
			if now == "" && p.Log().Index("phase started") >= 0 && indexOf(p.Log().Events(), "phase started", "redis lock") < 0 {
				hint = "The lock's phase has not run yet, so the key expired: the lock must be extended for as long as requests run, " +
					"through the drain too. Give the extension a context of its own, not the signal's, and stop it in the lock's phase."
			}
			t.Fatalf("%v after SIGTERM, with the request still in flight, the key holds %q; want the program's token %q "+
				"until the drain is over: a second instance starting now would take the lock and run alongside this one.\n%s\n%s",
				time.Since(sent).Round(time.Millisecond), now, token, hint, p.Transcript())
		}
	}
	if r.Err != nil || r.Status != 200 || r.Body != "hello\n" {
		t.Fatalf("the request in flight at SIGTERM got %v; want 200 \"hello\\n\".\n%s", r, p.Transcript())
	}
	code := p.ExitWithin(5*time.Second, "after the drain, the lock's phase and the client's should end at once")
	if left := rs.token(t, key); left != "" {
		t.Fatalf("after the shutdown the key still holds %q; want it deleted.\n%s", left, p.Transcript())
	}
	if code != 0 {
		t.Fatalf("exit code %d after a clean shutdown; want 0.\n%s", code, p.Transcript())
	}
}

// TestRedisUnreachableAtStartExitsOne: with nothing listening at
// REDIS_ADDR, the program logs "redis unavailable" naming the address,
// never listens, and exits 1 within a second or so: without Redis there is
// no lock, and without the lock no service.
func TestRedisUnreachableAtStartExitsOne(t *testing.T) {
	t.Parallel()
	redisAddr := closedPort(t)
	p := start(t, redisAddr, "task12-test:unreachable", "-redis-timeout", defaultRedisTimeout.String())

	// The bound includes the process's own start, slow on a busy machine;
	// the program itself needs a few milliseconds.
	code := p.ExitWithin(labtest.StartBound+defaultRedisTimeout,
		"Redis refused the connection: the program should say so and exit 1 at once, not wait or retry")
	if p.Log().Has("listening") {
		t.Fatalf("the program listened although it could not reach Redis, so it never held the lock; want it to exit without serving.\n%s", p.Transcript())
	}
	unavailable := slices.IndexFunc(p.Log().AtLevel("ERROR"), func(ev labtest.Event) bool {
		return ev.Msg() == "redis unavailable" && ev.Str("addr") == redisAddr
	})
	if unavailable < 0 {
		t.Fatalf("the program never logged \"redis unavailable\" at ERROR with addr=%q; want that line, with the error.\n%s", redisAddr, p.Transcript())
	}
	if code != 1 {
		t.Fatalf("exit code %d when Redis was unreachable; want 1.\n%s", code, p.Transcript())
	}
}

// TestNoGoroutineOutlivesRun: run, called in-process the way a test or a
// bigger program would call it, with the embedded miniredis, returns once
// its context is cancelled and leaves the goroutine count where it was
// before it started: the extension has stopped, and the Redis client and
// the embedded server are closed.
//
// It counts the goroutines of the whole test binary, so it does not call
// t.Parallel: Go runs it before any parallel test starts.
func TestNoGoroutineOutlivesRun(t *testing.T) {
	t.Setenv("REDIS_ADDR", "") // the embedded miniredis, whatever the test's environment says
	baseline := goleak.IgnoreCurrent()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := labtest.NewEventLog()
	returned := make(chan struct{})
	var code int
	go func() {
		defer close(returned)
		// With the default -lock-ttl, the extension's goroutine sleeps for
		// 10s between extensions: only its phase can end it within the test.
		code = run(ctx, []string{"-addr", "127.0.0.1:0", "-log-format", "json", "-drain-delay", "0s"}, io.Discard, log)
	}()
	if _, err := log.WaitFor("listening", labtest.StartBound, returned); err != nil {
		t.Fatalf("%v.\n%s", err, log.Text())
	}
	cancel()
	select {
	case <-returned:
	case <-time.After(5 * time.Second):
		t.Fatalf("run had not returned 5s after its context was cancelled; want it to return once its phases are done.\n%s", log.Text())
	}
	if code != 0 {
		t.Fatalf("run returned %d after a clean shutdown; want 0.\n%s", code, log.Text())
	}
	// goleak.Find waits half a second for goroutines on their way out; a
	// busy machine may need longer. A goroutine left behind is still there
	// at the end.
	err := goleak.Find(baseline)
	for end := time.Now().Add(5 * time.Second); err != nil && time.Now().Before(end); {
		time.Sleep(100 * time.Millisecond)
		err = goleak.Find(baseline)
	}
	if err != nil {
		t.Fatalf("goroutines that run started were still there after it returned; want none.\n"+
			"Does the lock's phase stop the extension and wait for its goroutine to end?\n%v\n%s", err, log.Text())
	}
}

// TestBadFlagsExitTwo: a mistake on the command line is a usage error: one
// line that says what is wrong, and exit code 2, before anything listens.
// (The base service's own flags are checked the same way in earlier tasks.)
func TestBadFlagsExitTwo(t *testing.T) {
	t.Parallel()
	labtest.ExpectUsageErrors(t, [][]string{
		{"-lock-ttl", "500us"}, // Redis counts it in milliseconds
		{"-lock-key", ""},
		{"-redis-timeout", "0s"},
	})
}

// phaseLines is the phase events logged after "shutdown started", each as
// "<message> <phase>", e.g. "phase started redis lock".
func phaseLines(p *labtest.Program) []string {
	from := p.Log().Index("shutdown started")
	if from < 0 {
		return []string{`(no "shutdown started" event)`}
	}
	var lines []string
	for _, ev := range p.Log().Events()[from:] {
		if strings.HasPrefix(ev.Msg(), "phase ") {
			lines = append(lines, ev.Msg()+" "+ev.Str("phase"))
		}
	}
	return lines
}

// indexOf is the position of the first event with message msg and
// attribute phase, or -1.
func indexOf(events []labtest.Event, msg, phase string) int {
	return slices.IndexFunc(events, func(ev labtest.Event) bool { return ev.Msg() == msg && ev.Str("phase") == phase })
}

// describeTTL says what a PTTL reply means.
func describeTTL(ttl time.Duration) string {
	switch {
	case ttl == -1: // go-redis' PTTL for a key without a TTL
		return "none (the key never expires)"
	case ttl < 0:
		return "none (no such key)"
	}
	return fmt.Sprint(ttl)
}
