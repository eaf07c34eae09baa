package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"regexp"
	"time"
)

// programName prefixes usage errors.
const programName = "task13-kafka-flush"

// validTopic is what Kafka accepts as a topic name.
var validTopic = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,249}$`)

type config struct {
	addr            string
	delay           time.Duration
	drainDelay      time.Duration
	phaseTimeout    time.Duration
	shutdownTimeout time.Duration
	logFormat       string

	topic        string
	batchTimeout time.Duration
	flushTimeout time.Duration
	kafkaTimeout time.Duration
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
	fs.StringVar(&cfg.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&cfg.topic, "topic", "events", "the Kafka topic that POST /events produces to")
	fs.DurationVar(&cfg.batchTimeout, "batch-timeout", time.Second, "how long a batch waits for more messages before it is sent")
	fs.DurationVar(&cfg.flushTimeout, "flush-timeout", 5*time.Second, "how long the kafka flush phase may take")
	fs.DurationVar(&cfg.kafkaTimeout, "kafka-timeout", 5*time.Second, "how long start-up waits for the Kafka cluster to answer")
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
	// Zero would not mean what it says: a phase with no time fails before it
	// begins, start-up could not reach the cluster, and kafka-go reads a
	// batch timeout of zero as its default of one second.
	for _, d := range []struct {
		name  string
		value time.Duration
	}{{"phase-timeout", cfg.phaseTimeout}, {"batch-timeout", cfg.batchTimeout}, {"flush-timeout", cfg.flushTimeout}, {"kafka-timeout", cfg.kafkaTimeout}} {
		if d.value <= 0 {
			return cfg, fmt.Errorf("invalid -%s %v: must be positive", d.name, d.value)
		}
	}
	if !validTopic.MatchString(cfg.topic) {
		return cfg, fmt.Errorf("invalid -topic %q: want 1 to 249 letters, digits, '.', '_' or '-'", cfg.topic)
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
