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
const programName = "task15-phase-metrics"

type config struct {
	addr            string
	adminAddr       string
	delay           time.Duration
	drainDelay      time.Duration
	phaseTimeout    time.Duration
	metricsLinger   time.Duration
	shutdownTimeout time.Duration
	injectFault     string
	logFormat       string
}

// parseFlags reads the command line. Usage goes to stdout for -h; errors are
// returned for the caller to print as one line.
func parseFlags(args []string, stdout io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet(programName, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&cfg.addr, "addr", ":8080", "address of the public API")
	fs.StringVar(&cfg.adminAddr, "admin-addr", ":9090", "address of the admin listener: /metrics, /healthz, /readyz, /debug/pprof/")
	fs.DurationVar(&cfg.delay, "delay", 2*time.Second, "how long each request to / takes")
	fs.DurationVar(&cfg.drainDelay, "drain-delay", 3*time.Second, "how long to keep serving after readiness goes off")
	fs.DurationVar(&cfg.phaseTimeout, "phase-timeout", 10*time.Second, "how long each shutdown phase may take")
	fs.DurationVar(&cfg.metricsLinger, "metrics-linger", 15*time.Second, "how long the admin listener stays up after the other phases, for a last scrape")
	fs.DurationVar(&cfg.shutdownTimeout, "shutdown-timeout", 28*time.Second, "the whole shutdown's budget, from the signal")
	fs.StringVar(&cfg.injectFault, "inject-fault", "", "for the lab's tests: add a phase that returns an error (\"error\"), hangs (\"hang\") or panics (\"panic\")")
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
	for _, a := range []struct{ name, value string }{{"addr", cfg.addr}, {"admin-addr", cfg.adminAddr}} {
		if _, _, err := net.SplitHostPort(a.value); err != nil {
			return cfg, fmt.Errorf("invalid -%s %q: %v", a.name, a.value, err)
		}
	}
	for _, d := range []struct {
		name  string
		value time.Duration
	}{{"delay", cfg.delay}, {"drain-delay", cfg.drainDelay}, {"metrics-linger", cfg.metricsLinger}, {"shutdown-timeout", cfg.shutdownTimeout}} {
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
	if cfg.drainDelay >= cfg.phaseTimeout {
		return cfg, fmt.Errorf("invalid -drain-delay %v: must be shorter than -phase-timeout %v, the readiness phase's deadline", cfg.drainDelay, cfg.phaseTimeout)
	}
	// The linger comes last and is paid out of the same budget, after the
	// drain delay and the API's drain, which may take up to -phase-timeout.
	// Only if all three fit does the last scrape still happen after a drain
	// that had to be forced, the shutdown whose figures matter most.
	if worst := cfg.drainDelay + cfg.phaseTimeout + cfg.metricsLinger; worst > cfg.shutdownTimeout {
		return cfg, fmt.Errorf("invalid -metrics-linger %v: -drain-delay %v, -phase-timeout %v and the linger add up to %v, more than -shutdown-timeout %v",
			cfg.metricsLinger, cfg.drainDelay, cfg.phaseTimeout, worst, cfg.shutdownTimeout)
	}
	switch cfg.injectFault {
	case "", "error", "hang", "panic":
	default:
		return cfg, fmt.Errorf("invalid -inject-fault %q: want error, hang or panic", cfg.injectFault)
	}
	if cfg.logFormat != "text" && cfg.logFormat != "json" {
		return cfg, fmt.Errorf("invalid -log-format %q: want text or json", cfg.logFormat)
	}
	return cfg, nil
}
