package main

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"
)

// errLockHeld is what acquireLock returns when another owner holds the lock.
var errLockHeld = errors.New("the lock is held by another owner")

// redisLock is this process's hold on a lock in Redis: the key holds our
// token.
//
// TODO(task12): the lock needs more to be kept and given back: the client,
// its TTL and -redis-timeout, the logger; a channel closed when the lock is
// lost while serving (run waits on it); and a way to stop the extension
// and to wait for it to end.
type redisLock struct {
	key   string
	token string
}

// acquireLock takes the lock named key, with SET key token NX PX ttl, within
// timeout: it fails with errLockHeld if the key exists, and with Redis'
// error if Redis cannot be reached.
func acquireLock(ctx context.Context, rdb *redis.Client, key string, ttl, timeout time.Duration, logger *slog.Logger) (*redisLock, error) {
	// TODO(task12): the token says which process holds the lock, and the
	// extension and the release will check it. Every process needs one of
	// its own: crypto/rand's rand.Text() gives 128 random bits.
	token := "locked"

	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// SetNX sends SET key token NX PX <ms> (EX <s> when ttl is whole seconds).
	ok, err := rdb.SetNX(ctx, key, token, ttl).Result()
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errLockHeld
	}

	// TODO(task12): the key expires ttl after the SET. Keep the lock while
	// the service runs: in a goroutine with a context of its own (it must
	// go on through the drain), run a compare-and-extend Lua script every
	// ttl/3 (redis.NewScript), each call within timeout. The script gives
	// the key a fresh PEXPIRE only if it still holds our token. Log
	// "lock extended" when it did, "extend failed" (WARN) on an error, and
	// "lock lost" (ERROR), then tell run, when the script finds another
	// token or no key, or when a call fails once a whole TTL has passed
	// since the last extension Redis confirmed.
	return &redisLock{key: key, token: token}, nil
}

// TODO(task12): release is the lock's shutdown phase, a
// func(context.Context) error for lc.Add: stop the extension and wait for
// it (within ctx), then, within timeout, run a compare-and-delete Lua script
// that deletes the key only if it still holds our token. Log
// "lock released"; "lock not ours" (WARN) and fail the phase when the key
// holds another token or none; "release failed" (ERROR) and fail the phase
// when Redis does not answer.
