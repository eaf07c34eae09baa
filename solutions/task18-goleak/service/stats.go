package service

import (
	"context"
	"log/slog"
	"time"
)

// startStats starts the stats reporter, which logs the counters every
// interval, and returns its phase: stop the reporter and wait until it has
// left its loop.
func startStats(every time.Duration, counts *counters, logger *slog.Logger) func(context.Context) error {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		report(ctx, every, counts, logger)
	}()
	return func(phaseCtx context.Context) error {
		cancel()
		select {
		case <-done:
			return nil
		case <-phaseCtx.Done():
			return phaseCtx.Err()
		}
	}
}

// report logs the counters every interval until ctx ends. The select is
// what makes it stoppable: a loop that only receives from the ticker never
// looks at ctx, and Stop on the ticker does not end it either, because
// Stop does not close the ticker's channel.
func report(ctx context.Context, every time.Duration, counts *counters, logger *slog.Logger) {
	ticker := time.NewTicker(every)
	// Since Go 1.23 an unstopped ticker no longer outlives the goroutine
	// that used it; stopping it still says, here, that the ticks are over.
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			logger.Info("stats stopped")
			return
		case <-ticker.C:
			logger.Info("stats", "served", counts.served.Load(), "failed", counts.failed.Load(), "timed_out", counts.timedOut.Load())
		}
	}
}
