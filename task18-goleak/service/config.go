package service

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"time"
)

// programName prefixes usage errors.
const programName = "task18-goleak"

type config struct {
	addr string
	// downstream is the quote service's base URL; empty means the embedded
	// one, started by Run on a loopback port.
	downstream        string
	downstreamTimeout time.Duration
	downstreamDelay   time.Duration // the embedded quote service's answer time
	statsEvery        time.Duration
	drainDelay        time.Duration
	phaseTimeout      time.Duration
	shutdownTimeout   time.Duration
	logFormat         string
}

// parseFlags reads the command line. Usage goes to stdout for -h; errors are
// returned for the caller to print as one line.
func parseFlags(args []string, stdout io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet(programName, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&cfg.addr, "addr", ":8080", "address to listen on")
	fs.StringVar(&cfg.downstream, "downstream", "", "base URL of the quote service (empty: an embedded one on a loopback port)")
	fs.DurationVar(&cfg.downstreamTimeout, "downstream-timeout", time.Second, "how long a request to / waits for the quote service")
	fs.DurationVar(&cfg.downstreamDelay, "downstream-delay", 100*time.Millisecond, "how long the embedded quote service takes to answer")
	fs.DurationVar(&cfg.statsEvery, "stats-every", 5*time.Second, "how often the stats reporter logs the counters")
	fs.DurationVar(&cfg.drainDelay, "drain-delay", 3*time.Second, "how long to keep serving after readiness goes off")
	fs.DurationVar(&cfg.phaseTimeout, "phase-timeout", 10*time.Second, "how long each shutdown phase may take")
	fs.DurationVar(&cfg.shutdownTimeout, "shutdown-timeout", 25*time.Second, "the whole shutdown's budget, from the signal")
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
	if cfg.downstream != "" {
		u, err := url.Parse(cfg.downstream)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return cfg, fmt.Errorf("invalid -downstream %q: want a base URL such as http://127.0.0.1:9000", cfg.downstream)
		}
	}
	for _, d := range []struct {
		name  string
		value time.Duration
	}{{"downstream-delay", cfg.downstreamDelay}, {"drain-delay", cfg.drainDelay}, {"shutdown-timeout", cfg.shutdownTimeout}} {
		if d.value < 0 {
			return cfg, fmt.Errorf("invalid -%s %v: must not be negative", d.name, d.value)
		}
	}
	// A time-out of zero would fail every request before it was sent; a
	// ticker panics on an interval that is not positive; a phase with no
	// time at all would fail before it began.
	for _, d := range []struct {
		name  string
		value time.Duration
	}{{"downstream-timeout", cfg.downstreamTimeout}, {"stats-every", cfg.statsEvery}, {"phase-timeout", cfg.phaseTimeout}} {
		if d.value <= 0 {
			return cfg, fmt.Errorf("invalid -%s %v: must be positive", d.name, d.value)
		}
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
