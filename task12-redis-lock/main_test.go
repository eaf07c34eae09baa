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
	// The -lock-ttl of TestLockIsExtended: not a whole number of seconds,
	// so that the extension's TTL shows whether it counts milliseconds.
	extendTTL = 1500 * time.Millisecond
	// The -lock-ttl of TestTakenOverLockStartsShutdown: long enough that
	// noticing a takeover at the next extension (within a third of it)
	// and noticing it only a TTL later are far apart.
	takeoverTTL = 3 * time.Second
	// The -redis-timeout of the tests that cut Redis off: the release
	// gives up after it. The program's start-up, through the test's proxy,
	// must fit in it too, on a busy machine.
	cutRedisTimeout = time.Second
	// The -lock-ttl of TestLockSurvivesShortOutage: extended every 1.5s,
	// so that an extension that fails at its deadline (cutRedisTimeout)
	// leaves the key most of its TTL, and two more tries.
	outageTTL = 4500 * time.Millisecond
	// The -lock-ttl of TestLockHeldUntilRequestsDrain: shorter than the
	// request in flight, and long enough that a busy machine's stall of a
	// second never lets it expire under a correct program.
	drainTTL = 2 * time.Second
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

// startThroughProxy is start, with Redis reached through the test's proxy.
// These tests give -redis-timeout a value short next to the TTL, and the
// start-up's connect and SET must fit in it too: on a machine busy enough,
// a correct program can miss that deadline and exit with "redis
// unavailable" before the test has cut anything. What these tests look at
// comes after the start-up, so such a start is tried again (with the key
// deleted, in case the SET got through), up to three times; a program that
// never starts still fails, on the last try's transcript.
func startThroughProxy(t *testing.T, rs *testRedis, px *proxy, key string, extra ...string) *labtest.Program {
	t.Helper()
	for try := 1; ; try++ {
		p := start(t, px.addr(), key, extra...)
		ev, err := p.Log().WaitForMatch(`"listening" or "redis unavailable"`, func(ev labtest.Event) bool {
			return ev.Msg() == "listening" || ev.Msg() == "redis unavailable"
		}, labtest.StartBound, p.Done())
		if err != nil || ev.Msg() == "listening" || try == 3 {
			return p // Listening() reports what went wrong
		}
		p.ExitWithin(5*time.Second, "without Redis, the program should exit at once")
		rs.del(t, key)
	}
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

	if a, b := differingParts(firstToken, secondToken); len(a) < 16 || len(b) < 16 {
		t.Fatalf("the two instances' tokens, %q and %q, differ only in %q and %q; want them to differ in at least 16 characters, "+
			"128 random bits for each process (crypto/rand's rand.Text()).\n"+
			"A host name, a PID or a clock is not unique: the main process of a container is PID 1 everywhere, and a "+
			"restarted pod keeps its name, so a new process would take the old one's lock for its own.\n%s",
			firstToken, secondToken, a, b, second.Transcript())
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

// TestLockIsExtended: with -lock-ttl 1.5s, the key holds the program's
// token for as long as the program runs: every third of the TTL, the
// extension gives it a fresh TTL of 1.5s (not a whole number of seconds, so
// PEXPIRE's milliseconds show), checked and changed in one step in Redis.
// The test's proxy records every command the program sends: none changes
// the key on its own, after a GET (a check-then-act race).
func TestLockIsExtended(t *testing.T) {
	t.Parallel()
	rs := newTestRedis(t)
	px := newProxy(t, rs.addr)
	key := rs.lockKey(t)
	p := startThroughProxy(t, rs, px, key, "-lock-ttl", extendTTL.String())
	p.Listening()
	token := rs.token(t, key)

	// Watch the key until the program has logged four extensions: that
	// is about 2s, longer than the TTL, so a lock never extended has
	// expired. The highest TTL seen after an extension tells what TTL
	// the extension gives.
	const extensions = 4
	interval := extendTTL / 3
	var highest time.Duration
	for end := time.Now().Add(extensions*interval + 5*time.Second); p.Log().Count("lock extended") < extensions; {
		if time.Now().After(end) {
			t.Fatalf("the program logged \"lock extended\" %d times in %v; want it every third of -lock-ttl %v (every %v).\n%s",
				p.Log().Count("lock extended"), extensions*interval+5*time.Second, extendTTL, interval.Round(time.Millisecond), p.Transcript())
		}
		extendedBefore := p.Log().Has("lock extended")
		now, ttl := rs.get(t, key)
		if now != token {
			t.Fatalf("while the program runs with -lock-ttl %v, the key holds %q; want the program's token %q, "+
				"extended every third of the TTL with the compare-and-extend script.\n"+
				"A lock that expires while its holder runs lets a second instance start alongside it.\n%s",
				extendTTL, now, token, p.Transcript())
		}
		if ttl > extendTTL {
			t.Fatalf("the key has a time to live of %v; want at most -lock-ttl (%v): extend it with PEXPIRE key ttl-in-ms.\n%s",
				ttl, extendTTL, p.Transcript())
		}
		if extendedBefore && ttl > highest {
			highest = ttl
		}
		select { // poll the key, not too often
		case <-time.After(20 * time.Millisecond):
		case <-p.Done():
		}
	}
	// Right after an extension the key has about 1.5s to live; an EXPIRE
	// in whole seconds gives it 1s at most.
	if highest <= extendTTL*5/6 {
		t.Fatalf("after the extensions, the key never had more than %v to live; want about -lock-ttl (%v) right after each one.\n"+
			"Extend with PEXPIRE and the TTL in milliseconds (ttl.Milliseconds()): EXPIRE counts whole seconds, "+
			"and turns %v into %v (and a TTL under 1s into 0, which deletes the key).\n%s",
			highest, extendTTL, extendTTL, extendTTL.Truncate(time.Second), p.Transcript())
	}
	var times []time.Time
	for _, ev := range p.Log().Events() {
		if ev.Msg() == "lock extended" {
			times = append(times, labtest.EventTime(t, ev))
		}
	}
	// Between the first and the fourth extension: three intervals. Each
	// can be late on a busy machine, but the ticker does not drift, so the
	// mean stays near a third of the TTL; halfway to half of it is wrong.
	mean := times[extensions-1].Sub(times[0]) / (extensions - 1)
	if limit := (extendTTL/3 + extendTTL/2) / 2; mean > limit {
		t.Fatalf("the program extended the lock every %v on average; want every third of -lock-ttl %v (%v).\n"+
			"An extension that fails has to leave two more tries before the key can expire: use time.NewTicker(ttl / 3).\n%s",
			mean.Round(time.Millisecond), extendTTL, interval.Round(time.Millisecond), p.Transcript())
	}

	p.Signal(syscall.SIGTERM)
	if code := p.ExitWithin(5*time.Second, "the extension must not hold up the shutdown"); code != 0 {
		t.Fatalf("exit code %d after a clean shutdown; want 0.\n%s", code, p.Transcript())
	}
	if left := rs.token(t, key); left != "" {
		t.Fatalf("after the shutdown the key still holds %q; want it deleted.\n%s", left, p.Transcript())
	}
	if unguarded := unguardedChanges(px.commands(), key); len(unguarded) > 0 {
		t.Fatalf("the program sent %q to Redis on its own; want every change to the lock's key made by a Lua script "+
			"(EVALSHA) that checks the token and changes the key in one step.\n"+
			"A GET, then a DEL or PEXPIRE, is check-then-act: in between, the key can expire and another instance take it, "+
			"and the DEL deletes that instance's lock (the PEXPIRE keeps it alive as if it were ours).\nCommands sent:\n  %s\n%s",
			unguarded[0].String(), commandLines(px.commands()), p.Transcript())
	}
}

// TestTakenOverLockStartsShutdown: while the program runs with -lock-ttl
// 3s, another owner takes its key over. At its next extension (within 1s,
// a third of the TTL) the program logs "lock lost" and shuts down as it
// does at a signal: the phases run in order, the release leaves the other
// owner's key alone, and the process exits 1.
func TestTakenOverLockStartsShutdown(t *testing.T) {
	t.Parallel()
	rs := newTestRedis(t)
	key := rs.lockKey(t)
	p := start(t, rs.addr, key, "-lock-ttl", takeoverTTL.String())
	p.Listening()

	other := "another-owner-" + rand.Text()
	rs.set(t, key, other, defaultTTL)
	overwritten := time.Now()
	// The next extension comes within a third of the TTL; the other third
	// is margin for a busy machine. A program that takes a 0 from the
	// script for a failed call notices only a TTL after its last
	// extension.
	within := takeoverTTL/3 + takeoverTTL/3
	lost, err := p.Log().WaitFor("lock lost", within, p.Done())
	if err != nil {
		t.Fatalf("%v after another owner took the key over; want \"lock lost\" at the next extension, within %v.\n"+
			"Extend with a script that checks the token first and returns 0 when the key holds another one: that 0 is a lost lock, at once.\n%s",
			err, (takeoverTTL / 3).Round(time.Millisecond), p.Transcript())
	}
	if failed := slices.IndexFunc(p.Log().Events(), func(ev labtest.Event) bool {
		return ev.Msg() == "extend failed" && labtest.EventTime(t, ev).After(overwritten)
	}); failed >= 0 {
		t.Fatalf("after another owner took the key over, the program logged \"extend failed\" before \"lock lost\"; "+
			"want \"lock lost\" at the first extension that finds another token.\n"+
			"A script that returns 0 is not a failed call to try again: Redis answered, and the key is someone else's. "+
			"Both instances run until you notice.\n%s", p.Transcript())
	}
	code := p.ExitWithin(drainDelay+5*time.Second, "a lost lock must start the shutdown, as a signal does: "+
		"running on without the lock is what the lock exists to prevent")
	if now := rs.token(t, key); now != other {
		t.Fatalf("after the shutdown the key holds %q; want the other owner's token %q: the release must leave it alone.\n%s", now, other, p.Transcript())
	}
	if got, want := phasesStarted(p, lost), []string{"readiness", "http server", "redis lock", "redis client"}; !slices.Equal(got, want) {
		t.Fatalf("after \"lock lost\" the phases that started were %q; want %q, as at a signal: "+
			"requests in flight finish, and the lock's phase and the client's run.\n"+
			"Close a channel when the lock is lost and wait for it in run's select, next to ctx.Done(): "+
			"an os.Exit (or a return) from the extension skips the whole shutdown.\n%s", got, want, p.Transcript())
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
	p := startThroughProxy(t, rs, px, key, "-lock-ttl", shortTTL.String(), "-redis-timeout", cutRedisTimeout.String())
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
	// The last extension Redis confirmed was sent before it was logged
	// (or before "lock acquired", if there was none), so the lock was
	// valid until a TTL after that at most. An extension that fails after
	// that (give or take a third of the TTL, for a busy machine) is past
	// the TTL, and must report the lock lost, not try again.
	events := p.Log().Events()
	var confirmed time.Time
	for _, ev := range events {
		if ev.Msg() == "lock acquired" || ev.Msg() == "lock extended" {
			confirmed = labtest.EventTime(t, ev)
		}
	}
	if late := slices.IndexFunc(events, func(ev labtest.Event) bool {
		return ev.Msg() == "extend failed" && labtest.EventTime(t, ev).Sub(confirmed) > shortTTL+shortTTL/3
	}); late >= 0 {
		t.Fatalf("the program logged \"extend failed\" %v after the last extension Redis confirmed, with -lock-ttl %v, and tried again; "+
			"want \"lock lost\" at the first extension that fails once a whole TTL has passed since that one.\n"+
			"By then the key may have expired, and another instance may hold the lock: count the time since the last confirmed "+
			"extension (validUntil), not the failures.\n%s",
			labtest.EventTime(t, events[late]).Sub(confirmed).Round(time.Millisecond), shortTTL, p.Transcript())
	}
	if code != 1 {
		t.Fatalf("exit code %d after the lock was lost; want 1.\n%s", code, p.Transcript())
	}
}

// TestLockSurvivesShortOutage: with -lock-ttl 4.5s and -redis-timeout 1s,
// Redis stops answering until an extension has failed, then answers again.
// The key still held the program's token all along, and a failed extension
// is one of three tries in a TTL: the program logs "extend failed", extends
// the lock again once Redis answers, never logs "lock lost", and exits 0 at
// SIGTERM.
func TestLockSurvivesShortOutage(t *testing.T) {
	t.Parallel()
	rs := newTestRedis(t)
	px := newProxy(t, rs.addr)
	key := rs.lockKey(t)
	p := startThroughProxy(t, rs, px, key, "-lock-ttl", outageTTL.String(), "-redis-timeout", cutRedisTimeout.String())
	p.Listening()
	token := rs.token(t, key)

	px.cutOff()
	// The next extension comes within a third of the TTL and fails at
	// its deadline; the rest is margin for a busy machine.
	within := outageTTL/3 + cutRedisTimeout + 2*time.Second
	trouble := p.WaitForMatch(`"extend failed" or "lock lost"`, within, func(ev labtest.Event) bool {
		return ev.Msg() == "extend failed" || ev.Msg() == "lock lost"
	})
	px.letThrough()
	if trouble.Msg() == "lock lost" {
		t.Fatalf("Redis stopped answering for one extension, and the program logged \"lock lost\" at once; "+
			"want \"extend failed\" (WARN) and another try at the next tick.\n"+
			"The key still held your token, for most of its TTL: an extension that fails is lost only once a whole TTL "+
			"has passed since the last one Redis confirmed. A failover or a slow moment of Redis must not stop the service.\n%s",
			p.Transcript())
	}
	failedAt := p.Log().Count("extend failed")
	// After the failed one, the next extension is at most a third of the
	// TTL away; two of them fit before the key could expire.
	if _, err := p.Log().WaitForMatch(`"lock extended" after "extend failed"`, func(ev labtest.Event) bool {
		return ev.Msg() == "lock extended" && labtest.EventTime(t, ev).After(labtest.EventTime(t, trouble))
	}, 2*outageTTL/3+cutRedisTimeout+2*time.Second, p.Done()); err != nil {
		t.Fatalf("%v; Redis answers again since %d extension(s) failed, with -lock-ttl %v.\n"+
			"After a failed extension, wait for the next tick and try again: once Redis answers, the lock is extended as before.\n%s",
			err, failedAt, outageTTL, p.Transcript())
	}
	if p.Log().Has("lock lost") {
		t.Fatalf("the program logged \"lock lost\" although Redis answered again before the TTL ran out; want the lock kept.\n%s", p.Transcript())
	}
	if now := rs.token(t, key); now != token {
		t.Fatalf("after the outage the key holds %q; want the program's token %q.\n%s", now, token, p.Transcript())
	}

	p.Signal(syscall.SIGTERM)
	if code := p.ExitWithin(5*time.Second, "Redis answers again: the shutdown should end at once"); code != 0 {
		t.Fatalf("exit code %d after a clean shutdown that followed a short outage; want 0.\n%s", code, p.Transcript())
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
	p := startThroughProxy(t, rs, px, key, "-redis-timeout", cutRedisTimeout.String())
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
		if took := labtest.EventTime(t, events[failed]).Sub(labtest.EventTime(t, events[began])); took > cutRedisTimeout+time.Second {
			t.Errorf("\"release failed\" came %v after the \"redis lock\" phase started; want it at the release's deadline, -redis-timeout (%v).\n"+
				"Make one call, within -redis-timeout, and report its error: trying again against a Redis that does not answer "+
				"only makes the shutdown longer, and the key lingers until its TTL all the same.\n%s",
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

// TestReleaseKeepsToItsPhaseDeadline: with -phase-timeout 500ms, shorter
// than -redis-timeout (2s), Redis stops answering just before SIGTERM. The
// release's call gets the earlier of the two deadlines: "release failed"
// comes at the phase's deadline, from the release itself, before the
// lifecycle moves on and the "redis client" phase closes the client.
func TestReleaseKeepsToItsPhaseDeadline(t *testing.T) {
	t.Parallel()
	const phaseTimeout = 500 * time.Millisecond // well under redisTimeout
	rs := newTestRedis(t)
	px := newProxy(t, rs.addr)
	key := rs.lockKey(t)
	p := startThroughProxy(t, rs, px, key, "-phase-timeout", phaseTimeout.String())
	p.Listening()

	px.cutOff()
	p.Signal(syscall.SIGTERM)
	p.ExitWithin(phaseTimeout+5*time.Second, "every phase has -phase-timeout")
	hint := "Make the release's call with context.WithTimeout(ctx, timeout), ctx being the phase's: it then ends at the earlier " +
		"of the two deadlines. A context of its own (context.Background()) outlives the phase, which the lifecycle leaves " +
		"behind; then the client closes under it."
	events := p.Log().Events()
	failed := p.Log().Index("release failed")
	if failed < 0 {
		t.Fatalf("the program never logged \"release failed\"; want it at the \"redis lock\" phase's deadline (-phase-timeout %v), "+
			"before -redis-timeout (%v).\n%s\n%s", phaseTimeout, redisTimeout, hint, p.Transcript())
	}
	if err := events[failed].Str("err"); strings.Contains(err, "closed") {
		t.Fatalf("\"release failed\" says %q: the release was still waiting when the \"redis client\" phase closed the client; "+
			"want it to give up at its own phase's deadline (-phase-timeout %v).\n%s\n%s", err, phaseTimeout, hint, p.Transcript())
	}
	if began := indexOf(events, "phase started", "redis lock"); began >= 0 {
		if took := labtest.EventTime(t, events[failed]).Sub(labtest.EventTime(t, events[began])); took > phaseTimeout+time.Second {
			t.Fatalf("\"release failed\" came %v after the \"redis lock\" phase started; want it at the phase's deadline, -phase-timeout (%v).\n%s\n%s",
				took.Round(time.Millisecond), phaseTimeout, hint, p.Transcript())
		}
	}
}

// TestLockHeldUntilRequestsDrain: a request of 2.5s is in flight at
// SIGTERM, with -lock-ttl 2s. Until it has its answer, the key holds the
// program's token: the lock is extended through the drain, and released
// only after it. Then the request gets "hello", the key is gone, and the
// process exits 0.
func TestLockHeldUntilRequestsDrain(t *testing.T) {
	t.Parallel()
	const slow = 2500 * time.Millisecond // longer than the TTL
	rs := newTestRedis(t)
	key := rs.lockKey(t)
	p := start(t, rs.addr, key, "-lock-ttl", drainTTL.String(), "-delay", slow.String())
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
		// A generous -redis-timeout: a busy machine must not fail the
		// start-up, and nothing here is bounded by it.
		code = run(ctx, []string{"-addr", "127.0.0.1:0", "-log-format", "json", "-drain-delay", "0s", "-redis-timeout", "5s"}, io.Discard, log)
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

// commandLines lists commands, one a line, for a failure message.
func commandLines(sent []sentCommand) string {
	lines := make([]string, len(sent))
	for i, c := range sent {
		lines[i] = fmt.Sprintf("conn %d: %s", c.conn, c)
	}
	return strings.Join(lines, "\n  ")
}

// differingParts returns what is left of a and b once the start and the
// end they share are cut off: the part of a token that one process
// chose and another could not have.
func differingParts(a, b string) (string, string) {
	for len(a) > 0 && len(b) > 0 && a[0] == b[0] {
		a, b = a[1:], b[1:]
	}
	for len(a) > 0 && len(b) > 0 && a[len(a)-1] == b[len(b)-1] {
		a, b = a[:len(a)-1], b[:len(b)-1]
	}
	return a, b
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

// phasesStarted is the phases that started after the event from, in order.
func phasesStarted(p *labtest.Program, from labtest.Event) []string {
	events := p.Log().Events()
	at := slices.IndexFunc(events, func(ev labtest.Event) bool { return ev.Msg() == from.Msg() })
	phases := []string{}
	for _, ev := range events[at+1:] {
		if ev.Msg() == "phase started" {
			phases = append(phases, ev.Str("phase"))
		}
	}
	return phases
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
