package service

import (
	"log/slog"
	"time"
)

// startStats starts the stats reporter, which logs the counters every
// interval.
//
// TODO(task18): the reporter's loop never ends: nothing can tell it to
// stop, and it would not listen if something did. Give it a context to
// watch (a select on ctx.Done() and the ticks), have it log "stats stopped"
// as it leaves its loop, and return a stop function for its phase that
// cancels it and waits until it has left the loop.
// Stopping the ticker is not enough: Stop does not close the channel, so a
// loop that waits on it waits forever.
func startStats(every time.Duration, counts *counters, logger *slog.Logger) {
	go func() {
		for range time.Tick(every) {
			logger.Info("stats", "served", counts.served.Load(), "failed", counts.failed.Load(), "timed_out", counts.timedOut.Load())
		}
	}()
}
