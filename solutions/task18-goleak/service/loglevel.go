package service

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// watchLogLevel flips level between INFO and DEBUG on every SIGUSR1, so
// that an operator can see the downstream calls of a running process
// without restarting it, and returns its phase.
func watchLogLevel(level *slog.LevelVar, logger *slog.Logger) func(context.Context) error {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGUSR1)
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-sigs:
				flip(level, logger)
			case <-quit:
				return
			}
		}
	}()
	return func(ctx context.Context) error {
		// Stop first: it takes sigs out of the process-wide table of
		// channels that signals are relayed to, and from its return on no
		// signal reaches sigs. Stop does not close sigs, so it does not
		// end the goroutine either: that is told to quit on a channel of
		// its own.
		signal.Stop(sigs)
		close(quit)
		select {
		case <-done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// flip switches level between INFO and DEBUG and says which it is now.
func flip(level *slog.LevelVar, logger *slog.Logger) {
	if level.Level() == slog.LevelDebug {
		level.Set(slog.LevelInfo)
	} else {
		level.Set(slog.LevelDebug)
	}
	// At INFO, so that it is seen at either level.
	logger.Info("log level", "now", level.Level().String())
}
