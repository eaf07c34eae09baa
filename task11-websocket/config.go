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
const programName = "task11-websocket"

type config struct {
	addr            string
	delay           time.Duration
	drainDelay      time.Duration
	phaseTimeout    time.Duration
	shutdownTimeout time.Duration
	pushInterval    time.Duration
	wsDrainTimeout  time.Duration
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
	fs.DurationVar(&cfg.pushInterval, "push-interval", time.Second, "how often the server pushes a message to each WebSocket")
	fs.DurationVar(&cfg.wsDrainTimeout, "ws-drain-timeout", 5*time.Second, "how long WebSockets get to answer the close frame before they are force-closed")
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
	// A phase with no time at all would fail before it began.
	if cfg.phaseTimeout <= 0 {
		return cfg, fmt.Errorf("invalid -phase-timeout %v: must be positive", cfg.phaseTimeout)
	}
	// The drain delay is a phase of its own and is spent out of the budget;
	// one that uses it all up forces every shutdown.
	if cfg.drainDelay >= cfg.shutdownTimeout {
		return cfg, fmt.Errorf("invalid -drain-delay %v: must be shorter than -shutdown-timeout %v, which includes it", cfg.drainDelay, cfg.shutdownTimeout)
	}
	// time.NewTicker panics on an interval that is not positive.
	if cfg.pushInterval <= 0 {
		return cfg, fmt.Errorf("invalid -push-interval %v: must be positive", cfg.pushInterval)
	}
	// A drain with no time at all would force-close every WebSocket before
	// its client could answer. A drain timeout longer than what is left of
	// the shutdown is allowed: the shutdown's deadline cuts it short.
	if cfg.wsDrainTimeout <= 0 {
		return cfg, fmt.Errorf("invalid -ws-drain-timeout %v: must be positive", cfg.wsDrainTimeout)
	}
	if cfg.drainDelay >= cfg.phaseTimeout {
		return cfg, fmt.Errorf("invalid -drain-delay %v: must be shorter than -phase-timeout %v, the readiness phase's deadline", cfg.drainDelay, cfg.phaseTimeout)
	}
	if cfg.logFormat != "text" && cfg.logFormat != "json" {
		return cfg, fmt.Errorf("invalid -log-format %q: want text or json", cfg.logFormat)
	}
	return cfg, nil
}
