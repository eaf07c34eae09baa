// Package config reads the capstone's command line and checks that its
// shutdown fits the pod's grace period. It is a package of its own so that
// the manifest's test (deploy/) can read the container's args exactly as
// the program does.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"regexp"
	"time"
)

// ProgramName prefixes usage errors.
const ProgramName = "task20-signal-storm"

// Config is the command line, read.
type Config struct {
	Addr      string // the public API
	AdminAddr string // metrics, probes, preStop, pprof
	LogFormat string

	// The public API's requests.
	Delay          time.Duration // the slow part of GET /, before its query
	HandlerTimeout time.Duration // task 9: the cap on every plain request
	PollTimeout    time.Duration // task 14: a long poll's wait for news
	PushInterval   time.Duration // task 11: a push to each WebSocket
	WSDrainTimeout time.Duration // task 11: the WebSockets' time to answer 1001

	// The worker (tasks 4 and 6).
	JobInterval time.Duration
	JobDuration time.Duration

	// The dependencies.
	DBTimeout    time.Duration // tasks 7 and 8: opening, and closing, the database
	LockKey      string        // task 12
	LockTTL      time.Duration
	RedisTimeout time.Duration
	Topic        string // task 13
	BatchTimeout time.Duration
	FlushTimeout time.Duration
	KafkaTimeout time.Duration

	// The shutdown's budget.
	GracePeriod       time.Duration // Kubernetes' terminationGracePeriodSeconds
	PreStopDelay      time.Duration // task 17
	DrainDelay        time.Duration // task 5
	PhaseTimeout      time.Duration // task 8: the API's drain, and any phase without a deadline of its own
	MetricsLinger     time.Duration // task 15
	TraceFlushTimeout time.Duration // task 19
	TraceStdout       bool
}

var validTopic = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,249}$`)

// Parse reads the command line. Usage goes to stdout for -h; errors are
// returned for the caller to print as one line.
func Parse(args []string, stdout io.Writer) (Config, error) {
	var c Config
	fs := flag.NewFlagSet(ProgramName, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&c.Addr, "addr", ":8080", "address of the public API")
	fs.StringVar(&c.AdminAddr, "admin-addr", ":9090", "address of the admin listener: /metrics, /healthz, /readyz, /admin/prestop, /debug/pprof/")
	fs.StringVar(&c.LogFormat, "log-format", "text", "log format: text or json")

	fs.DurationVar(&c.Delay, "delay", 2*time.Second, "how long each request to / takes before its query")
	fs.DurationVar(&c.HandlerTimeout, "handler-timeout", 4*time.Second, "the cap on every request to / and /events: 504 past it")
	fs.DurationVar(&c.PollTimeout, "poll-timeout", 30*time.Second, "how long a long poll on /wait waits for an event before answering 204")
	fs.DurationVar(&c.PushInterval, "push-interval", time.Second, "how often the server pushes a message to each WebSocket")
	fs.DurationVar(&c.WSDrainTimeout, "ws-drain-timeout", 3*time.Second, "how long WebSockets get to answer the close frame before they are force-closed")

	fs.DurationVar(&c.JobInterval, "job-interval", 5*time.Second, "how often the worker starts a job")
	fs.DurationVar(&c.JobDuration, "job-duration", time.Second, "how long each job takes")

	fs.DurationVar(&c.DBTimeout, "db-timeout", 2*time.Second, "how long opening, and closing, the database may take")
	fs.StringVar(&c.LockKey, "lock-key", ProgramName, "the Redis key of the lock that only one instance may hold")
	fs.DurationVar(&c.LockTTL, "lock-ttl", 30*time.Second, "how long the lock outlives its last extension (extended every third of it)")
	fs.DurationVar(&c.RedisTimeout, "redis-timeout", 500*time.Millisecond, "the deadline of each call to Redis")
	fs.StringVar(&c.Topic, "topic", "events", "the Kafka topic that POST /events produces to")
	fs.DurationVar(&c.BatchTimeout, "batch-timeout", time.Second, "how long a Kafka batch waits for more messages before it is sent")
	fs.DurationVar(&c.FlushTimeout, "flush-timeout", 3*time.Second, "how long the kafka flush phase may take")
	fs.DurationVar(&c.KafkaTimeout, "kafka-timeout", 5*time.Second, "how long start-up waits for the Kafka cluster to answer")

	fs.DurationVar(&c.GracePeriod, "grace-period", 30*time.Second, "the pod's terminationGracePeriodSeconds: the whole shutdown, preStop hook included, must fit in it")
	fs.DurationVar(&c.PreStopDelay, "prestop-delay", 5*time.Second, "how long GET /admin/prestop waits, readiness off, before the kubelet sends SIGTERM")
	fs.DurationVar(&c.DrainDelay, "drain-delay", 3*time.Second, "how long readiness is off before the API stops listening, counted from the preStop hook or else the signal")
	fs.DurationVar(&c.PhaseTimeout, "phase-timeout", 5*time.Second, "how long the API's drain may take (HTTP, WebSockets, long polls), and any phase without a deadline of its own")
	fs.DurationVar(&c.MetricsLinger, "metrics-linger", 5*time.Second, "how long the admin listener stays up after the other phases, for a last scrape")
	fs.DurationVar(&c.TraceFlushTimeout, "trace-flush-timeout", 2*time.Second, "how long exporting the shutdown's trace may take, at the very end")
	fs.BoolVar(&c.TraceStdout, "trace-stdout", false, "print the spans to standard output as JSON, one per line (OTEL_EXPORTER_OTLP_ENDPOINT sends them to a collector)")

	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fs.PrintDefaults()
		}
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return c, c.check()
}

// check refuses values that cannot mean what they say, then a shutdown
// that cannot fit the grace period.
func (c Config) check() error {
	for _, a := range []struct{ name, value string }{{"addr", c.Addr}, {"admin-addr", c.AdminAddr}} {
		if _, _, err := net.SplitHostPort(a.value); err != nil {
			return fmt.Errorf("invalid -%s %q: %v", a.name, a.value, err)
		}
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return fmt.Errorf("invalid -log-format %q: want text or json", c.LogFormat)
	}
	for _, d := range []struct {
		name  string
		value time.Duration
	}{{"delay", c.Delay}, {"prestop-delay", c.PreStopDelay}, {"drain-delay", c.DrainDelay}, {"metrics-linger", c.MetricsLinger}} {
		if d.value < 0 {
			return fmt.Errorf("invalid -%s %v: must not be negative", d.name, d.value)
		}
	}
	// Zero would not mean what it says: a ticker panics on it, a deadline
	// of zero fails before it begins, kafka-go reads a zero batch timeout
	// as its default, and a long poll that cannot wait is a busy loop.
	for _, d := range []struct {
		name  string
		value time.Duration
	}{
		{"handler-timeout", c.HandlerTimeout}, {"poll-timeout", c.PollTimeout}, {"push-interval", c.PushInterval},
		{"ws-drain-timeout", c.WSDrainTimeout}, {"job-interval", c.JobInterval}, {"job-duration", c.JobDuration},
		{"db-timeout", c.DBTimeout}, {"redis-timeout", c.RedisTimeout}, {"batch-timeout", c.BatchTimeout},
		{"flush-timeout", c.FlushTimeout}, {"kafka-timeout", c.KafkaTimeout}, {"grace-period", c.GracePeriod},
		{"phase-timeout", c.PhaseTimeout}, {"trace-flush-timeout", c.TraceFlushTimeout},
	} {
		if d.value <= 0 {
			return fmt.Errorf("invalid -%s %v: must be positive", d.name, d.value)
		}
	}
	if c.LockKey == "" {
		return errors.New("invalid -lock-key \"\": the lock needs a key")
	}
	// Redis counts a lock's time to live in whole milliseconds.
	if c.LockTTL < time.Millisecond {
		return fmt.Errorf("invalid -lock-ttl %v: must be at least 1ms", c.LockTTL)
	}
	if !validTopic.MatchString(c.Topic) {
		return fmt.Errorf("invalid -topic %q: want 1 to 249 letters, digits, '.', '_' or '-'", c.Topic)
	}
	// A drain delay as long as the readiness phase's deadline would fail it.
	if c.DrainDelay >= c.PhaseTimeout {
		return fmt.Errorf("invalid -drain-delay %v: must be shorter than -phase-timeout %v, the readiness phase's deadline", c.DrainDelay, c.PhaseTimeout)
	}
	return Check(c.Budget(), c.GracePeriod)
}
