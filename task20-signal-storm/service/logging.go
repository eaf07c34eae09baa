package service

import (
	"io"
	"log/slog"
	"time"
)

func newLogger(format string, w io.Writer) *slog.Logger {
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return slog.New(slog.NewTextHandler(w, nil))
}

// phaseLog is the lifecycle's Observer that logs each phase as it runs.
type phaseLog struct{ logger *slog.Logger }

func (l phaseLog) PhaseStarted(phase string) {
	l.logger.Info("phase started", "phase", phase)
}

func (l phaseLog) PhaseDone(phase string, took time.Duration, err error) {
	if err != nil {
		l.logger.Error("phase failed", "phase", phase, "duration", took, "err", err)
		return
	}
	l.logger.Info("phase done", "phase", phase, "duration", took)
}
