package service

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"time"
)

// worker runs a job every interval (tasks 4 and 6). At its phase it starts
// no new job and lets the one in progress finish, within the phase's
// deadline: a job cut in half can leave its work half done.
type worker struct {
	every, took time.Duration
	db          *sql.DB
	logger      *slog.Logger

	stopJobs context.CancelFunc // no new job from now on
	abandon  chan struct{}      // closed at the phase's deadline: drop the job in progress
	done     chan struct{}      // closed when the loop has returned
}

// startWorker starts the loop. The loop has a context of its own, not the
// signal's: it stops at its phase, after the API has drained.
func startWorker(every, took time.Duration, db *sql.DB, logger *slog.Logger) *worker {
	ctx, stopJobs := context.WithCancel(context.Background())
	w := &worker{every: every, took: took, db: db, logger: logger,
		stopJobs: stopJobs, abandon: make(chan struct{}), done: make(chan struct{})}
	go w.loop(ctx)
	return w
}

func (w *worker) loop(ctx context.Context) {
	defer close(w.done)
	t := time.NewTicker(w.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			w.logger.Info("worker stopped")
			return
		case <-t.C:
		}
		// A tick and the stop can be ready together; select picks at
		// random. No job starts once the stop has come.
		if ctx.Err() != nil {
			w.logger.Info("worker stopped")
			return
		}
		w.job()
	}
}

// job stands for one unit of work: took of it, then a write to the
// database, which is why the worker stops before the database closes.
func (w *worker) job() {
	w.logger.Info("job started")
	t := time.NewTimer(w.took)
	defer t.Stop()
	select {
	case <-t.C:
	case <-w.abandon:
		w.logger.Error("job abandoned", "err", "the worker's phase ran out of time")
		return
	}
	if _, err := w.db.Exec("SELECT 1"); err != nil {
		w.logger.Error("job failed", "err", err)
		return
	}
	w.logger.Info("job done")
}

// stop is the worker's phase: no new job, and the one in progress gets
// until ctx's deadline.
func (w *worker) stop(ctx context.Context) error {
	w.stopJobs()
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
	}
	close(w.abandon)
	<-w.done
	return errors.New("job abandoned at the phase's deadline")
}
