package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"gracefulshutdown.lab/labtest"
)

// TestMain lets each test start this very program as a real process (see
// labtest.Start) and checks that no test leaves a goroutine behind.
//
// tracing_test.go tests the trace's structure in-process, against the SDK's
// in-memory recorder; the tests here run the program as a process that
// exports to a collector the test runs (collector_test.go), and prove that
// the spans leave the process before it exits.
func TestMain(m *testing.M) { labtest.Main(m, main) }

// The durations most tests run with.
const (
	drainDelay      = 100 * time.Millisecond
	shutdownTimeout = 3 * time.Second
	flushTimeout    = time.Second
)

// start runs the program on a free port with env added to its environment
// and the durations above (extra flags override them), and returns it with
// the address it bound.
func start(t *testing.T, env []string, extra ...string) (*labtest.Program, string) {
	t.Helper()
	args := []string{
		"-addr", "127.0.0.1:0", "-log-format", "json",
		"-delay", "200ms",
		"-drain-delay", drainDelay.String(),
		"-phase-timeout", "2s",
		"-shutdown-timeout", shutdownTimeout.String(),
		"-trace-flush-timeout", flushTimeout.String(),
	}
	p := labtest.StartEnv(t, env, append(args, extra...)...)
	return p, p.Listening()
}

// noExporterEnv blanks the variables that would give the program an OTLP
// exporter, in case the shell running the tests sets them.
var noExporterEnv = []string{"OTEL_EXPORTER_OTLP_ENDPOINT=", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="}

// checkCollected fails the test unless the collector holds the trace of one
// shutdown with the phases in want, from this program.
func checkCollected(t *testing.T, c *collector, p *labtest.Program, want []wantPhase) {
	t.Helper()
	if problems := c.Problems(); len(problems) > 0 {
		t.Fatalf("the collector could not read what the exporter sent: %s.\n%s", strings.Join(problems, "; "), p.Transcript())
	}
	spans := c.Spans()
	if len(spans) == 0 {
		t.Fatalf("the collector received %d export request(s) and no span by the time the program had exited; want the trace of the shutdown.\n"+
			"First, the spans must exist: TestOneRootSpanAndOneChildPerPhase checks them in-process. Then, they must leave: "+
			"the batch span processor keeps ended spans in memory until its timer fires (set far off here) or the provider is flushed, "+
			"and whatever it holds when the process exits is lost. Flush the provider (ForceFlush, then Shutdown) before run returns, "+
			"after the root span has ended.\n%s", c.Requests(), p.Transcript())
	}
	if problems := traceProblems(spans, want); len(problems) > 0 {
		t.Fatalf("the trace the collector received is not right:\n- %s\nThe spans received:\n%s\n%s",
			strings.Join(problems, "\n- "), describeSpans(spans), p.Transcript())
	}
	for _, s := range spans {
		if name := s.Resource["service.name"]; name != programName {
			t.Fatalf("the %q span came from service.name %v; want %q, so that a backend can tell which service it traces.\n%s",
				s.Name, name, programName, p.Transcript())
		}
	}
}

// TestTraceReachesTheCollectorBeforeExit: with OTEL_EXPORTER_OTLP_ENDPOINT
// set, a shutdown sends its trace over OTLP/HTTP before the process exits:
// the collector has the root span "shutdown" and a child span for each
// phase, readiness then http server. The program logs "tracer flushed"
// before "exited", and exits 0.
func TestTraceReachesTheCollectorBeforeExit(t *testing.T) {
	t.Parallel()
	c := startCollector(t, answers)
	p, addr := start(t, c.env())

	resp := labtest.Get("http://"+addr+"/", 10*time.Second)
	p.WaitFor("request started", labtest.StartBound)
	p.Signal(syscall.SIGTERM)
	code := p.ExitWithin(shutdownTimeout+5*time.Second, "the shutdown, the flush included, fits in -shutdown-timeout")
	if r := <-resp; r.Err != nil || r.Status != 200 {
		t.Errorf("the request in flight at SIGTERM got %v; want 200: the drain still lets it finish.\n%s", r, p.Transcript())
	}

	checkCollected(t, c, p, []wantPhase{{name: "readiness"}, {name: "http server"}})
	if code != 0 {
		t.Fatalf("exit code %d after a clean shutdown whose trace was sent; want 0.\n%s", code, p.Transcript())
	}
	flushed, exited := p.Log().Index("tracer flushed"), p.Log().Index("exited")
	if flushed < 0 || flushed > exited {
		t.Errorf("want \"tracer flushed\" logged after the phases and before \"exited\".\n%s", p.Transcript())
	}
}

// TestForcedShutdownIsTracedToo: when the drain runs out of time, the
// trace is the one most worth reading, and it still reaches the collector:
// the http server span and the root span have the status Error. The phases
// get the budget less -trace-flush-timeout, so the flush keeps its share
// however long they take, and succeeds: "tracer flushed". The program exits
// 1, within -shutdown-timeout.
func TestForcedShutdownIsTracedToo(t *testing.T) {
	t.Parallel()
	// The request takes far longer than the whole budget: the drain must be cut.
	const budget, flush = 2 * time.Second, time.Second
	c := startCollector(t, answers)
	p, addr := start(t, c.env(), "-delay", "20s", "-phase-timeout", "10s",
		"-shutdown-timeout", budget.String(), "-trace-flush-timeout", flush.String())

	resp := labtest.Get("http://"+addr+"/", 30*time.Second)
	p.WaitFor("request started", labtest.StartBound)
	p.Signal(syscall.SIGTERM)
	code := p.ExitWithin(budget+3*time.Second, fmt.Sprintf(
		"the whole shutdown, the flush included, must fit in -shutdown-timeout %v", budget))
	<-resp

	if !p.Log().Has("forced close") {
		t.Fatalf("the program never logged \"forced close\"; want the drain cut off when the phases' share of the budget ran out.\n%s", p.Transcript())
	}
	checkCollected(t, c, p, []wantPhase{{name: "readiness"}, {name: "http server", failed: true}})
	if !p.Log().Has("tracer flushed") {
		t.Errorf("the program did not log \"tracer flushed\" after the drain ran out of time; want the flush to succeed, in the share "+
			"of the budget kept for it (the phases get the budget less -trace-flush-timeout).\n%s", p.Transcript())
	}
	if code != 1 {
		t.Fatalf("exit code %d after a forced shutdown; want 1.\n%s", code, p.Transcript())
	}
}

// TestUnansweringCollectorDoesNotHoldTheExit: a collector that accepts the
// connection and never answers (overloaded, or behind a network that drops
// the packets) gets -trace-flush-timeout and no more: the program logs
// "tracer flush failed" with the error and exits 1 by then, rather than
// waiting for the exporter's own time-outs and retries.
func TestUnansweringCollectorDoesNotHoldTheExit(t *testing.T) {
	t.Parallel()
	const flush = time.Second
	c := startCollector(t, hangs)
	// A long budget: the flush's own deadline, not the budget, must end it.
	p, _ := start(t, c.env(), "-shutdown-timeout", "10s", "-trace-flush-timeout", flush.String())

	p.Signal(syscall.SIGTERM)
	code := p.ExitWithin(drainDelay+flush+3*time.Second, fmt.Sprintf(
		"the collector never answers, and the flush may take -trace-flush-timeout (%v), not more, although the budget leaves it 10 s. "+
			"Give the flush a deadline of its own, counted when it starts: context.WithTimeout(ctx, flushTimeout), ctx being the budget's context. "+
			"A flush with what is left of the budget waits for the rest of it; one with no deadline waits for the exporter, which allows 10 s for "+
			"each answer and retries, up to the batch processor's limit for one export, 30 s", flush))

	if c.Requests() == 0 {
		t.Fatalf("the program exited without sending the collector anything; want it to try, and to give up after -trace-flush-timeout.\n"+
			"Flush the provider at the end of the shutdown.\n%s", p.Transcript())
	}
	ev := p.WaitFor("tracer flush failed", time.Second)
	if ev.Level() != "ERROR" || ev.Str("err") == "" {
		t.Errorf("\"tracer flush failed\" was logged at %s with err %q; want ERROR, with the error.\n%s", ev.Level(), ev.Str("err"), p.Transcript())
	}
	if code != 1 {
		t.Fatalf("exit code %d when the trace could not be sent; want 1: the spans of this shutdown are lost.\n%s", code, p.Transcript())
	}
}

// TestRefusedTraceIsReported: a collector that refuses the spans (401, as
// one that wants an API key answers) is a failed flush: "tracer flush
// failed" at ERROR with the collector's answer in err, exit 1. The
// provider's Shutdown alone would not say so: it reports a failed export of
// its last batch only to otel's global error handler, and returns nil.
func TestRefusedTraceIsReported(t *testing.T) {
	t.Parallel()
	c := startCollector(t, refuses)
	p, _ := start(t, c.env())

	p.Signal(syscall.SIGTERM)
	code := p.ExitWithin(shutdownTimeout+5*time.Second, "a refused export is not retried")

	if c.Requests() == 0 {
		t.Fatalf("the program exited without sending the collector anything; want it to try, and to report that the collector refused.\n"+
			"Flush the provider at the end of the shutdown.\n%s", p.Transcript())
	}
	ev, err := p.Log().WaitFor("tracer flush failed", time.Second, p.Done())
	if err != nil || !strings.Contains(ev.Str("err"), "401") {
		t.Fatalf("the collector answered 401 to %d export request(s); want \"tracer flush failed\" logged with the collector's answer in err.\n"+
			"TracerProvider.Shutdown exports the last batch with a context of its own and hands a failure only to otel's global error handler: "+
			"its nil does not mean the spans arrived. ForceFlush(ctx) first: it returns the exporter's error.\n%s", c.Requests(), p.Transcript())
	}
	if p.Log().Has("tracer flushed") {
		t.Errorf("the program logged \"tracer flushed\" although the collector refused the spans.\n%s", p.Transcript())
	}
	if code != 1 {
		t.Fatalf("exit code %d when the trace could not be sent; want 1.\n%s", code, p.Transcript())
	}
}

// TestNoExporterByDefault: without OTEL_EXPORTER_OTLP_ENDPOINT and without
// -trace-stdout, the spans go nowhere ("tracer started" says exporter
// "none"), and the service shuts down as before: every phase done, nothing
// printed on standard output, exit 0 (already true of the starter).
func TestNoExporterByDefault(t *testing.T) {
	t.Parallel()
	p, _ := start(t, noExporterEnv)

	if ev := p.WaitFor("tracer started", time.Second); ev.Str("exporter") != "none" {
		t.Fatalf("\"tracer started\" says exporter %q; want \"none\" when neither OTEL_EXPORTER_OTLP_ENDPOINT nor -trace-stdout is set.\n%s",
			ev.Str("exporter"), p.Transcript())
	}
	p.Signal(syscall.SIGTERM)
	code := p.ExitWithin(drainDelay+3*time.Second, "an idle shutdown with nothing to export is prompt")
	if code != 0 {
		t.Fatalf("exit code %d after a clean shutdown; want 0.\n%s", code, p.Transcript())
	}
	if n := p.Log().Count("phase done"); n != 2 {
		t.Fatalf("%d \"phase done\" event(s); want one for readiness and one for http server, as before tracing.\n%s", n, p.Transcript())
	}
	if out := strings.TrimSpace(p.Stdout()); out != "" {
		t.Errorf("the program printed %q on standard output; want nothing without -trace-stdout.\n%s", out, p.Transcript())
	}
}

// runInProcess calls run in this process with args (on top of a free port
// and JSON logs), cancels its context once it listens, as a signal would,
// and returns its exit code, what it logged and printed, and whether it
// returned within bound.
func runInProcess(t *testing.T, bound time.Duration, args ...string) (code int, log *labtest.EventLog, stdout *syncWriter) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log, stdout = labtest.NewEventLog(), &syncWriter{}
	returned := make(chan struct{})
	go func() {
		defer close(returned)
		code = run(ctx, append([]string{"-addr", "127.0.0.1:0", "-log-format", "json"}, args...), stdout, log)
	}()
	if _, err := log.WaitFor("listening", labtest.StartBound, returned); err != nil {
		t.Fatalf("%v\n%s", err, log.Text())
	}
	cancel()
	select {
	case <-returned:
	case <-time.After(bound):
		t.Fatalf("run had not returned %v after its context was cancelled; want it to return once the shutdown and the flush are done.\n%s", bound, log.Text())
	}
	return code, log, stdout
}

// syncWriter is a bytes.Buffer that run's goroutines and the test can share.
type syncWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// TestStdoutExporterPrintsTheTrace: with -trace-stdout the trace is printed
// on standard output, one span a line as JSON, by the time run returns:
// the root span "shutdown" and a child span per phase.
//
// It calls run in-process and sets the environment, so it does not call
// t.Parallel.
func TestStdoutExporterPrintsTheTrace(t *testing.T) {
	for _, kv := range noExporterEnv {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	code, log, stdout := runInProcess(t, 5*time.Second, "-trace-stdout", "-drain-delay", "50ms", "-shutdown-timeout", "3s", "-trace-flush-timeout", "1s")

	spans, err := spansFromStdout(strings.NewReader(stdout.String()))
	if err != nil {
		t.Fatalf("%v; want only spans, one JSON object a line, on standard output.\n%s", err, log.Text())
	}
	if len(spans) == 0 {
		t.Fatalf("run returned and nothing was printed on standard output; want the trace of the shutdown there with -trace-stdout.\n"+
			"The stdout exporter sits behind a batch span processor too: flush the provider before run returns.\n%s", log.Text())
	}
	if problems := traceProblems(spans, []wantPhase{{name: "readiness"}, {name: "http server"}}); len(problems) > 0 {
		t.Fatalf("the trace printed on standard output is not right:\n- %s\nThe spans printed:\n%s\n%s",
			strings.Join(problems, "\n- "), describeSpans(spans), log.Text())
	}
	if code != 0 {
		t.Fatalf("run returned %d after a clean shutdown; want 0.\n%s", code, log.Text())
	}
}

// TestNoGoroutineOutlivesRun: run, called in-process the way a test or a
// bigger program would call it, with OTEL_EXPORTER_OTLP_ENDPOINT set,
// returns once its context is cancelled and leaves the goroutine count where
// it was: the batch span processor's goroutine and the exporter's requests
// have ended, whether the collector answered or never did.
//
// It counts the goroutines of the whole test binary and sets the
// environment, so it does not call t.Parallel: Go runs it before any
// parallel test starts.
func TestNoGoroutineOutlivesRun(t *testing.T) {
	cases := []struct {
		name  string
		mode  collectorMode
		flush time.Duration
		code  int
		why   string
	}{
		{"the collector answers", answers, 2 * time.Second, 0, "the shutdown was clean and its trace was sent"},
		{"the collector never answers", hangs, 500 * time.Millisecond, 1, "the collector never answered, so the trace was lost: a failed flush is logged and exits 1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := startCollector(t, tc.mode)
			for _, kv := range c.env() {
				k, v, _ := strings.Cut(kv, "=")
				t.Setenv(k, v)
			}
			baseline := goleak.IgnoreCurrent()

			code, log, _ := runInProcess(t, tc.flush+3*time.Second,
				"-drain-delay", "50ms", "-shutdown-timeout", "5s", "-trace-flush-timeout", tc.flush.String())
			if code != tc.code {
				t.Fatalf("run returned %d; want %d: %s.\n%s", code, tc.code, tc.why, log.Text())
			}
			if tc.mode == answers && len(c.Spans()) == 0 {
				t.Fatalf("run returned and the collector had received no span; want the trace sent before run returns.\n%s", log.Text())
			}
			// The exporter keeps its connection to the collector in a pool
			// that the whole otlptracehttp package shares; run could close it
			// only by giving the exporter an HTTP client of its own, which
			// would lose OTEL_EXPORTER_OTLP_TIMEOUT and _CERTIFICATE. The
			// collector closing its end is how that connection ends.
			c.Close()
			if err := goleak.Find(baseline); err != nil {
				t.Fatalf("goroutines that run started were still there after it returned; want none.\n"+
					"The provider's Shutdown stops the batch span processor's goroutine; it does nothing if its context is already done.\n%v\n%s", err, log.Text())
			}
		})
	}
}

// TestBadFlagsExitTwo: a mistake on the command line is a usage error: one
// line that says what is wrong, and exit code 2, before anything listens.
// These are the tracing flags' mistakes; the other flags are the earlier
// tasks', checked the same way since. One command line runs as a process,
// for the exit code the shell sees; the others call run in-process, which
// is what decides it, and is quicker than starting a process for each.
func TestBadFlagsExitTwo(t *testing.T) {
	t.Parallel()
	labtest.ExpectUsageErrors(t, [][]string{{"-trace-flush-timeout", "0s"}})
	for _, args := range [][]string{
		{"-trace-stdout=maybe"},
		// The flush needs some time, and its share must leave the phases some.
		{"-trace-flush-timeout", "-1s"},
		{"-trace-flush-timeout", "25s"},
		{"-trace-flush-timeout", "3s", "-shutdown-timeout", "2s", "-drain-delay", "1s"},
		// The drain delay must fit in the phases' share: 25s less 2s.
		{"-drain-delay", "24s", "-phase-timeout", "30s"},
	} {
		// A context already cancelled: were the command line accepted, run
		// would start and shut down at once instead of serving.
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		var stdout, stderr syncWriter
		code := run(ctx, append([]string{"-addr", "127.0.0.1:0", "-log-format", "json"}, args...), &stdout, &stderr)
		out := strings.TrimSpace(stderr.String())
		if code != 2 || out == "" || strings.Contains(out, "\n") {
			t.Errorf("with %q: run returned %d and wrote:\n%s\nwant 2 and a single line saying what is wrong.", args, code, out)
		}
	}
}
