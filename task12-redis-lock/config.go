package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"time"
)

// programName prefixes usage errors.
const programName = "task12-redis-lock"

type config struct {
	addr            string
	delay           time.Duration
	drainDelay      time.Duration
	phaseTimeout    time.Duration
	shutdownTimeout time.Duration
	lockKey         string
	lockTTL         time.Duration
	redisTimeout    time.Duration
	logFormat       string
}

// parseFlags reads the command line. Usage goes to stdout for -h; errors are
// returned for the caller to print as one line.
func parseFlags(args []string, stdout io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet(programName, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&cfg.addr, "addr", ":8080", "address to listen on")
	fs.DurationVar(&cfg.delay, "delay", 2*time.Second, "how long each request to / takes")
	fs.DurationVar(&cfg.drainDelay, "drain-delay", 3*time.Second, "how long to keep serving after readiness goes off")
	fs.DurationVar(&cfg.phaseTimeout, "phase-timeout", 10*time.Second, "how long each shutdown phase may take")
	fs.DurationVar(&cfg.shutdownTimeout, "shutdown-timeout", 25*time.Second, "the whole shutdown's budget, from the signal")
	fs.StringVar(&cfg.lockKey, "lock-key", "task12-redis-lock", "the Redis key of the lock that only one instance may hold")
	fs.DurationVar(&cfg.lockTTL, "lock-ttl", 30*time.Second, "how long the lock outlives its last extension (extended every third of it)")
	fs.DurationVar(&cfg.redisTimeout, "redis-timeout", 500*time.Millisecond, "the deadline of each call to Redis: connecting, taking, extending and releasing the lock")
	fs.StringVar(&cfg.logFormat, "log-format", "text", "log format: text or json")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fs.PrintDefaults()
		}
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if _, _, err := net.SplitHostPort(cfg.addr); err != nil {
		return cfg, fmt.Errorf("invalid -addr %q: %v", cfg.addr, err)
	}
	for _, d := range []struct {
		name  string
		value time.Duration
	}{{"delay", cfg.delay}, {"drain-delay", cfg.drainDelay}, {"shutdown-timeout", cfg.shutdownTimeout}} {
		if d.value < 0 {
			return cfg, fmt.Errorf("invalid -%s %v: must not be negative", d.name, d.value)
		}
	}
	if cfg.lockKey == "" {
		return cfg, errors.New("invalid -lock-key \"\": the lock needs a key")
	}
	// Redis counts a lock's time to live (SET ... PX) in whole milliseconds.
	if cfg.lockTTL < time.Millisecond {
		return cfg, fmt.Errorf("invalid -lock-ttl %v: must be at least 1ms", cfg.lockTTL)
	}
	// A call with no time at all would fail before it was sent.
	if cfg.redisTimeout <= 0 {
		return cfg, fmt.Errorf("invalid -redis-timeout %v: must be positive", cfg.redisTimeout)
	}
	// A phase with no time at all would fail before it began.
	if cfg.phaseTimeout <= 0 {
		return cfg, fmt.Errorf("invalid -phase-timeout %v: must be positive", cfg.phaseTimeout)
	}
	// The drain delay is a phase of its own and is spent out of the budget;
	// one that uses it all up forces every shutdown.
	if cfg.drainDelay >= cfg.shutdownTimeout {
		return cfg, fmt.Errorf("invalid -drain-delay %v: must be shorter than -shutdown-timeout %v, which includes it", cfg.drainDelay, cfg.shutdownTimeout)
	}
	if cfg.drainDelay >= cfg.phaseTimeout {
		return cfg, fmt.Errorf("invalid -drain-delay %v: must be shorter than -phase-timeout %v, the readiness phase's deadline", cfg.drainDelay, cfg.phaseTimeout)
	}
	if cfg.logFormat != "text" && cfg.logFormat != "json" {
		return cfg, fmt.Errorf("invalid -log-format %q: want text or json", cfg.logFormat)
	}
	return cfg, nil
}
