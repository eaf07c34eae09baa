package main

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"gracefulshutdown.lab/labtest"
)

// The lost lock's scenario: a lock that must be extended often, so that
// the service notices a lost one soon (every third of -lock-ttl), and a
// drain delay long enough for the storm to reach the shutdown under way.
const (
	shortLockTTL   = 1200 * time.Millisecond
	lostDrainDelay = 500 * time.Millisecond
)

// redisOf is a client of the Redis that holds the program's lock: the one
// REDIS_ADDR names, or the program's embedded one.
func (s program) redisOf(t *testing.T) *redis.Client {
	t.Helper()
	addr := os.Getenv("REDIS_ADDR")
	if addr == "" {
		addr = s.WaitFor("embedded redis started", labtest.StartBound).Str("addr")
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// lockToken is the token that the program's lock holds in Redis.
func (s program) lockToken(t *testing.T, rdb *redis.Client) string {
	t.Helper()
	token, err := rdb.Get(context.Background(), s.lockKey).Result()
	if err != nil {
		t.Fatalf("reading the lock's key %q in Redis: %v\n%s", s.lockKey, err, s.Transcript())
	}
	return token
}

// TestLostLockMakesTheOneShutdownEvenInAStorm: while a request is in
// flight, the lock's key vanishes from Redis (a failover to a replica that
// did not have it yet, say): the service logs "lock lost", and Serve
// returns that failure. The service must shut down at once, exit 1 (a part
// failed), and a storm of signals during that shutdown must join it. The
// key comes back before the release, so that the lock's release, and every
// other phase, goes well: the exit code is 1 because of the lost lock
// alone.
func TestLostLockMakesTheOneShutdownEvenInAStorm(t *testing.T) {
	t.Parallel()
	s := startProgram(t, "-lock-ttl", shortLockTTL.String(), "-drain-delay", lostDrainDelay.String())
	rdb := s.redisOf(t)
	ctx := context.Background()
	token := s.lockToken(t, rdb)
	resp := s.inFlight(t)

	if err := rdb.Del(ctx, s.lockKey).Err(); err != nil {
		t.Fatalf("deleting the lock's key: %v", err)
	}
	s.WaitFor("lock lost", exitBound)
	if err := rdb.Set(ctx, s.lockKey, token, time.Minute).Err(); err != nil {
		t.Fatalf("putting the lock's key back: %v", err)
	}
	if _, err := s.Log().WaitFor("shutdown started", exitBound, s.Done()); err != nil {
		if _, exited := s.Exited(); !exited {
			t.Fatalf("the service logged \"lock lost\", and %v later it had started no shutdown; want the shutdown at once, "+
				"then exit code 1.\nThe service went on serving without its lock: another instance may hold it and run the same "+
				"jobs. Serve returns the failure of a part (here the lost lock): main must then ask for the one shutdown, "+
				"with that error, and not wait for a signal only.\n%s", exitBound, s.Transcript())
		}
	}
	s.signalStorm(storm, true)
	what := fmt.Sprintf("the lock lost, then %d SIGTERMs and SIGINTs during its shutdown", storm)
	expectOneShutdown(t, s, what, ending{code: 1, why: `a part that failed on its own ("lock lost", Serve's error)`})
	expectHello(t, s, resp, what)
}

// TestStormWithAFailedPhaseExitsOne: the lock's key holds another token by
// the time of the shutdown (another instance took it over), so the "redis
// lock" phase fails. A SIGTERM storm, with a request in flight: one
// shutdown, whole, and exit code 1, the code of a shutdown in which a phase
// failed, however the signals asked for it.
func TestStormWithAFailedPhaseExitsOne(t *testing.T) {
	t.Parallel()
	s := startProgram(t)
	rdb := s.redisOf(t)
	// The release leaves another instance's key alone: in a real Redis it
	// expires a minute later.
	if err := rdb.Set(context.Background(), s.lockKey, "another-instance", time.Minute).Err(); err != nil {
		t.Fatalf("giving the lock's key another token: %v", err)
	}
	resp := s.inFlight(t)
	s.signalStorm(storm, false)
	what := fmt.Sprintf("%d SIGTERMs, and a lock that another instance holds", storm)
	expectOneShutdown(t, s, what, ending{code: 1, why: `a shutdown in which a phase failed ("redis lock": "lock not ours")`, failed: "redis lock"})
	expectHello(t, s, resp, what)
}
