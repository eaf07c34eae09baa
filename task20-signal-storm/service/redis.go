package service

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"gracefulshutdown.lab/task20-signal-storm/config"
	"gracefulshutdown.lab/task20-signal-storm/lifecycle"
)

// openRedis returns a client of the Redis that REDIS_ADDR names ("host:port")
// or, without it, of a miniredis started in this process on a free loopback
// port, so that a machine with nothing installed can run the task. Each part
// joins lc as it starts: the embedded server first, then the client, so the
// client is closed before the server it talks to, and both after whatever
// uses them. The client connects on its first command, not here.
func openRedis(cfg config.Config, lc *lifecycle.Lifecycle, logger *slog.Logger) (*redis.Client, string, error) {
	// go-redis reports some failures through a logger of its own, on
	// standard error. They arrive as DEBUG events instead: each failure
	// that matters is returned to the caller, which logs it once.
	redis.SetLogger(redisLog{logger})

	addr := os.Getenv("REDIS_ADDR")
	if addr == "" {
		srv := miniredis.NewMiniRedis()
		// Expire keys as the clock runs, as Redis does; by default
		// miniredis only expires them when a test moves its clock.
		srv.ClockTTL(true)
		if err := srv.StartAddr("127.0.0.1:0"); err != nil {
			return nil, "", fmt.Errorf("start the embedded redis: %w", err)
		}
		lc.Add("embedded redis", func(context.Context) error { srv.Close(); return nil }, lifecycle.Timeout(config.CloseTimeout))
		addr = srv.Addr()
		logger.Info("embedded redis started", "addr", addr)
	}

	rdb := redis.NewClient(&redis.Options{
		Addr: addr,
		// Every call is made with a context that has a deadline, and
		// ContextTimeoutEnabled makes go-redis apply that deadline to the
		// socket. Without it, go-redis uses the context for the pool and
		// the dial only, and a command already on the wire waits out
		// ReadTimeout whatever its context says (redis/go-redis#2243).
		ContextTimeoutEnabled: true,
		// The timeouts below are a backstop for a call without a deadline:
		// none is longer than the longest deadline this program gives.
		DialTimeout:  cfg.RedisTimeout,
		ReadTimeout:  cfg.RedisTimeout,
		WriteTimeout: cfg.RedisTimeout,
		PoolTimeout:  cfg.RedisTimeout,
		// One attempt per call: one dial, one command. The default retries
		// are wrong for a lock: a SET NX whose reply was lost, sent again,
		// finds our own token and reports the lock as someone else's. And
		// whoever calls already knows when to try again: the extension
		// tries at its next tick.
		MaxRetries:    -1,
		DialerRetries: 1,
	})
	lc.Add("redis client", func(context.Context) error { return rdb.Close() }, lifecycle.Timeout(config.CloseTimeout))
	return rdb, addr, nil
}

// redisLog passes go-redis' own log lines on as DEBUG events.
type redisLog struct{ logger *slog.Logger }

func (l redisLog) Printf(ctx context.Context, format string, v ...any) {
	l.logger.DebugContext(ctx, "go-redis", "detail", fmt.Sprintf(format, v...))
}
