// Package service is the capstone of the Graceful Shutdown Lab, started
// and stopped: every part of the service, each added to a lifecycle as a
// phase the moment it has started, and the one shutdown sequence that stops
// them within the pod's grace period. Package main (signals.go) wires it to
// the process's signals. See ../README.md.
package service

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"

	"gracefulshutdown.lab/task20-signal-storm/config"
	"gracefulshutdown.lab/task20-signal-storm/lifecycle"
)

// errLockLost is Serve's error when the Redis lock was lost while serving
// ("lock lost" has been logged).
var errLockLost = errors.New("the redis lock was lost")

// Service is the capstone, started: its parts are running, each with its
// phase in lc.
type Service struct {
	cfg    config.Config
	logger *slog.Logger
	lc     *lifecycle.Lifecycle
	tr     *tracing
	hook   *preStop

	apiErr, adminErr <-chan error    // Serve's error of each listener
	lockLost         <-chan struct{} // closed if the lock is lost while serving
}

// Start reads the command line and starts every part of the service, in
// dependency order, adding each to the lifecycle as it starts. It returns
// the running service, or nil and the exit code: 2 for a usage error, 0
// for -h, 1 if a part could not start (what had started is stopped first).
// ctx bounds the waits of start-up: a signal ends them.
func Start(ctx context.Context, args []string, stdout, stderr io.Writer) (*Service, int) {
	cfg, err := config.Parse(args, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return nil, 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", config.ProgramName, err)
		return nil, 2
	}
	logger := newLogger(cfg.LogFormat, stderr)
	s := &Service{cfg: cfg, logger: logger}

	// The tracer is not a phase: it must outlast every phase, and the
	// root span that covers them (task 19).
	provider, exporter, err := newTracerProvider(ctx, cfg.TraceStdout, stdout)
	if err != nil {
		logger.Error("tracing unavailable", "err", err)
		return nil, 1
	}
	logger.Info("tracer started", "exporter", exporter)
	s.tr = newTracing(provider)

	// Every phase is logged, measured and traced (tasks 8, 15, 19).
	reg := newRegistry()
	forced := newForceCloses(reg)
	s.lc = lifecycle.New(cfg.PhaseTimeout, phaseLog{logger}, newPhaseMetrics(reg), s.tr)

	// The admin listener first: its phase runs last, lingering for a last
	// scrape (task 15). The preStop hook lives on it (task 17).
	var ready readiness
	s.hook = newPreStop(&ready, cfg.PreStopDelay, logger)
	adminMux := adminHandler(reg, &ready)
	adminMux.Handle("GET /admin/prestop", s.hook.handler())
	admin := newServer(adminMux)
	if s.adminErr, err = startServer("admin", cfg.AdminAddr, admin, logger); err != nil {
		logger.Error("server failed", "server", "admin", "addr", cfg.AdminAddr, "err", err)
		return nil, s.Shutdown(err)
	}
	s.lc.Add("admin server", lingerThenDrain(admin, cfg.MetricsLinger, forced, logger), lifecycle.Timeout(cfg.AdminTimeout()))

	// The database, before everything that queries it (tasks 7, 8).
	url := os.Getenv("DATABASE_URL")
	openCtx, cancelOpen := context.WithTimeout(ctx, cfg.DBTimeout)
	db, err := openDB(openCtx, url)
	cancelOpen()
	if err != nil {
		logger.Error("database unavailable", "err", err)
		return nil, s.Shutdown(err)
	}
	logger.Info("database opened", "driver", driverName(url))
	s.lc.Add("database", func(context.Context) error { return db.Close() }, lifecycle.Timeout(cfg.DBTimeout))

	// The lock, before anything that serves (task 12).
	rdb, addr, err := openRedis(cfg, s.lc, logger)
	if err != nil {
		logger.Error("redis unavailable", "err", err)
		return nil, s.Shutdown(err)
	}
	lock, err := acquireLock(ctx, rdb, cfg.LockKey, cfg.LockTTL, cfg.RedisTimeout, logger)
	switch {
	case errors.Is(err, errLockHeld):
		logger.Error("lock held elsewhere", "key", cfg.LockKey)
		return nil, s.Shutdown(err)
	case err != nil:
		logger.Error("redis unavailable", "addr", addr, "err", err)
		return nil, s.Shutdown(err)
	}
	logger.Info("lock acquired", "key", lock.key, "ttl", cfg.LockTTL.String())
	s.lc.Add("redis lock", lock.release, lifecycle.Timeout(cfg.LockReleaseTimeout()))
	s.lockLost = lock.lost

	// The producer, before the API that feeds it (task 13).
	brokers, err := connectKafka(ctx, cfg.Topic, cfg.KafkaTimeout, s.lc, logger)
	if err != nil {
		logger.Error("kafka unavailable", "err", err)
		return nil, s.Shutdown(err)
	}
	prod := newProducer(brokers, cfg.Topic, cfg.BatchTimeout, logger)
	s.lc.Add("kafka flush", prod.flush, lifecycle.Timeout(cfg.FlushTimeout))

	// The worker, which writes to the database (tasks 4, 6).
	w := startWorker(cfg.JobInterval, cfg.JobDuration, db, logger)
	s.lc.Add("worker", w.stop, lifecycle.Timeout(cfg.WorkerTimeout()))

	// The public API: the plain requests behind the cap (task 9); the long
	// poll and the WebSockets, which have ends of their own, beside it.
	ws := newWebSockets(cfg.PushInterval, cfg.WSDrainTimeout, &ready, logger)
	news := newHub(logger)
	capped := handlerTimeout(cfg.HandlerTimeout, logger)
	mux := http.NewServeMux()
	mux.Handle("/{$}", capped(helloHandler(cfg.Delay, db, logger)))
	mux.Handle("/events", capped(eventsHandler(prod, logger)))
	mux.Handle("/wait", waitHandler(news, cfg.PollTimeout, logger))
	mux.Handle("/publish", publishHandler(news, logger))
	mux.Handle("/ws", ws)
	a := newAPI(ctx, ready.closeWhenDraining(mux), ws)
	// Ready as the API starts: a client that acts on its "listening" event
	// must not find /readyz still saying no.
	ready.set(true)
	if s.apiErr, err = startServer("api", cfg.Addr, a.srv, logger); err != nil {
		ready.set(false)
		logger.Error("server failed", "server", "api", "addr", cfg.Addr, "err", err)
		return nil, s.Shutdown(err)
	}
	s.lc.Add("api server", a.drain(forced, logger))

	// Readiness last, so that it runs first (task 5); after a preStop hook
	// it waits only for what is left of the drain delay (task 17).
	s.lc.Add("readiness", s.hook.drain(cfg.DrainDelay))
	return s, 0
}

// Serve returns when the service stops serving: nil once the shutdown has
// closed the API's listener (like http.Server.ListenAndServe, long before
// the shutdown is over), or the failure of a part that stopped on its own.
func (s *Service) Serve() error {
	select {
	case err := <-s.apiErr:
		return s.stopped("api", s.cfg.Addr, err)
	case err := <-s.adminErr:
		return s.stopped("admin", s.cfg.AdminAddr, err)
	case <-s.lockLost:
		return errLockLost
	}
}

// stopped is Serve's verdict on a listener whose Serve returned err.
func (s *Service) stopped(name, addr string, err error) error {
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	s.logger.Error("server failed", "server", name, "addr", addr, "err", err)
	return fmt.Errorf("%s server: %w", name, err)
}

// Shutdown is the shutdown: the phases, last in, first out, under one root
// span, then the trace's flush, then "exited". It returns the exit code: 0,
// or 1 if failure is not nil (a part failed on its own) or a phase failed.
//
// It runs the whole sequence each time it is called: its log lines, its
// root span, its flush. Call it once.
func (s *Service) Shutdown(failure error) int {
	code := 0
	if failure != nil {
		code = 1
	}
	s.logger.Info("shutdown started")

	// One budget, from the moment readiness went off (the preStop hook, or
	// else now) to the grace period's end, less the margin to exit. A hook
	// called by hand long before the signal says nothing about this
	// shutdown: the kubelet signals -prestop-delay after the hook, so the
	// budget never counts from earlier than that.
	from, earliest := s.hook.since(), time.Now().Add(-s.cfg.PreStopDelay)
	switch {
	case from.IsZero():
		from = time.Now()
	case from.Before(earliest):
		from = earliest
	}
	ctx, cancel := context.WithDeadline(context.Background(), from.Add(s.cfg.ShutdownDeadline()))
	defer cancel()
	// The phases get it less the trace's share, so that the trace of a
	// shutdown that ran out of time can still be sent (task 19).
	phasesCtx, cancelPhases := context.WithDeadline(ctx, from.Add(s.cfg.ShutdownDeadline()-s.cfg.TraceFlushTimeout))
	defer cancelPhases()
	phasesCtx = s.tr.startShutdown(phasesCtx)
	err := s.lc.Shutdown(phasesCtx)
	if err != nil {
		code = 1
	}
	s.tr.endShutdown(err)

	flushCtx, cancelFlush := context.WithTimeout(ctx, s.cfg.TraceFlushTimeout)
	defer cancelFlush()
	if err := s.tr.flush(flushCtx); err != nil {
		s.logger.Error("tracer flush failed", "err", err)
		code = 1
	} else {
		s.logger.Info("tracer flushed")
	}
	s.logger.Info("exited", "code", code)
	return code
}
