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
const programName = "task19-tracing"

type config struct {
	addr            string
	delay           time.Duration
	drainDelay      time.Duration
	phaseTimeout    time.Duration
	shutdownTimeout time.Duration
	logFormat       string

	// traceFlushTimeout is the part of shutdownTimeout kept for exporting
	// the trace once every phase has run; the phases get the rest.
	traceFlushTimeout time.Duration
	// traceStdout prints every span to standard output, for demos.
	traceStdout bool
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
	fs.DurationVar(&cfg.traceFlushTimeout, "trace-flush-timeout", 2*time.Second, "the part of -shutdown-timeout kept for exporting the trace at the end")
	fs.BoolVar(&cfg.traceStdout, "trace-stdout", false, "print the spans to standard output as JSON, one per line (OTEL_EXPORTER_OTLP_ENDPOINT sends them to a collector)")
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
	// A flush with no time at all would lose every span. Its share comes
	// out of the budget, and must leave the phases some.
	if cfg.traceFlushTimeout <= 0 {
		return cfg, fmt.Errorf("invalid -trace-flush-timeout %v: must be positive", cfg.traceFlushTimeout)
	}
	if cfg.traceFlushTimeout >= cfg.shutdownTimeout {
		return cfg, fmt.Errorf("invalid -trace-flush-timeout %v: must be shorter than -shutdown-timeout %v, which includes it", cfg.traceFlushTimeout, cfg.shutdownTimeout)
	}
	// The drain delay is a phase of its own and is spent out of the phases'
	// share of the budget; one that uses it all up forces every shutdown.
	if phases := cfg.shutdownTimeout - cfg.traceFlushTimeout; cfg.drainDelay >= phases {
		return cfg, fmt.Errorf("invalid -drain-delay %v: must be shorter than the phases' share of the budget, %v (-shutdown-timeout %v less -trace-flush-timeout %v)",
			cfg.drainDelay, phases, cfg.shutdownTimeout, cfg.traceFlushTimeout)
	}
	if cfg.drainDelay >= cfg.phaseTimeout {
		return cfg, fmt.Errorf("invalid -drain-delay %v: must be shorter than -phase-timeout %v, the readiness phase's deadline", cfg.drainDelay, cfg.phaseTimeout)
	}
	if cfg.logFormat != "text" && cfg.logFormat != "json" {
		return cfg, fmt.Errorf("invalid -log-format %q: want text or json", cfg.logFormat)
	}
	return cfg, nil
}
