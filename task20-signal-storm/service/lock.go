package service

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"
)

// errLockHeld is what acquireLock returns when another owner holds the lock.
var errLockHeld = errors.New("the lock is held by another owner")

// errNotOurs is what the release returns when the key no longer holds this
// process's token: the lock expired, and maybe another owner took it.
var errNotOurs = errors.New("the key no longer holds this process's token")

// extendScript gives the key a fresh time to live, in milliseconds, only if
// it still holds our token, and returns 1 if it did. Redis runs a script as
// one step, so no other client's command can come between the check and the
// extension: a GET and a PEXPIRE sent one after the other could extend a
// lock that another owner took in between.
var extendScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
	return redis.call("PEXPIRE", KEYS[1], ARGV[2])
end
return 0
`)

// releaseScript deletes the key only if it still holds our token, and
// returns 1 if it did: a plain DEL would delete the lock of whoever holds
// the key now.
var releaseScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
	return redis.call("DEL", KEYS[1])
end
return 0
`)

// redisLock is this process's hold on a lock in Redis: the key holds our
// token, and a goroutine extends its time to live until the release phase
// stops it.
type redisLock struct {
	rdb     *redis.Client
	key     string
	token   string        // random, this process's own
	ttl     time.Duration // the key's time to live after each extension
	timeout time.Duration // the deadline of each call to Redis
	logger  *slog.Logger

	lost     chan struct{}      // closed when the lock is lost while serving
	stopKeep context.CancelFunc // ends the extension
	kept     chan struct{}      // closed once the extension has ended
}

// acquireLock takes the lock named key, with SET key token NX PX ttl, within
// timeout: it fails with errLockHeld if the key exists, and with Redis'
// error if Redis cannot be reached. Once it holds the lock, it extends it
// every ttl/3 until release.
func acquireLock(ctx context.Context, rdb *redis.Client, key string, ttl, timeout time.Duration, logger *slog.Logger) (*redisLock, error) {
	// The token says which process holds the lock. It must be unique to
	// this process (128 random bits): the extension and the release check
	// it, and a token that another process could have would let that one
	// extend or delete our lock, and us theirs.
	token := rand.Text()

	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// The key expires no sooner than ttl after the SET was sent (the server
	// starts its clock when it runs the command, a little later): until
	// then, the lock is surely ours.
	sent := time.Now()
	// SetNX sends SET key token NX PX <ms> (EX <s> when ttl is whole seconds).
	ok, err := rdb.SetNX(ctx, key, token, ttl).Result()
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errLockHeld
	}

	// The extension has a context of its own, not one derived from the
	// signal's: it must go on through the drain, for as long as requests
	// run under the lock, and stop only in the lock's own phase.
	keepCtx, stopKeep := context.WithCancel(context.Background())
	l := &redisLock{
		rdb: rdb, key: key, token: token, ttl: ttl, timeout: timeout, logger: logger,
		lost: make(chan struct{}), stopKeep: stopKeep, kept: make(chan struct{}),
	}
	go l.keep(keepCtx, sent.Add(ttl))
	return l, nil
}

// keep extends the lock every ttl/3 until ctx is cancelled, each call
// within timeout. A call that fails is tried again at the next tick: with
// a timeout well under ttl/3, that leaves two more tries before the key can
// expire. The lock is lost when the script
// finds another token or no key (it expired, or was taken over), or when a
// call fails once a whole TTL has passed since the last extension that
// Redis confirmed: the key may have expired by then, and another instance
// may hold it. Either way, l.lost is closed, so that the service shuts
// down instead of running without the lock.
//
// A slow answer is not a lost lock: if the script found our token, the key
// never expired, since no other process writes that token.
func (l *redisLock) keep(ctx context.Context, validUntil time.Time) {
	defer close(l.kept)
	interval := l.ttl / 3
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		sent := time.Now()
		callCtx, cancel := context.WithTimeout(ctx, l.timeout)
		extended, err := extendScript.Run(callCtx, l.rdb, []string{l.key}, l.token, l.ttl.Milliseconds()).Int()
		cancel()
		switch {
		case ctx.Err() != nil:
			// The release phase stopped the extension during the call;
			// whatever the answer, the lock is in the release's hands.
			return
		case err == nil && extended == 1:
			validUntil = sent.Add(l.ttl)
			l.logger.Info("lock extended", "key", l.key)
		case err == nil:
			l.lose(errNotOurs)
			return
		case !time.Now().Before(validUntil):
			l.lose(fmt.Errorf("not extended for a whole TTL (%v): %w", l.ttl, err))
			return
		default:
			l.logger.Warn("extend failed", "key", l.key, "err", err)
		}
	}
}

// lose reports the lock lost and tells run, which starts the shutdown.
func (l *redisLock) lose(why error) {
	l.logger.Error("lock lost", "key", l.key, "err", why)
	close(l.lost)
}

// release is the lock's shutdown phase. It runs after the HTTP server has
// drained, so that no request runs without the lock: it stops the
// extension, then deletes the key if it still holds our token, within the
// phase's deadline and -redis-timeout. A key that holds another token is
// left alone, and the phase fails: for a while, the lock was not ours.
func (l *redisLock) release(ctx context.Context) error {
	l.stopKeep()
	// go-redis does not interrupt a command on the wire when its context
	// is cancelled: an extension in flight ends at its own deadline. Wait
	// for it, but not past the phase's.
	select {
	case <-l.kept:
	case <-ctx.Done():
	}

	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	deleted, err := releaseScript.Run(ctx, l.rdb, []string{l.key}, l.token).Int()
	switch {
	case err != nil:
		// The key keeps our token until its TTL runs out: until then,
		// no other instance can take the lock.
		l.logger.Error("release failed", "key", l.key, "err", err)
		return fmt.Errorf("release lock %q: %w", l.key, err)
	case deleted == 0:
		l.logger.Warn("lock not ours", "key", l.key)
		return fmt.Errorf("release lock %q: %w", l.key, errNotOurs)
	}
	l.logger.Info("lock released", "key", l.key)
	return nil
}
