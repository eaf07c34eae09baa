package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"gracefulshutdown.lab/labtest"
	"gracefulshutdown.lab/task20-signal-storm/service"
)

// TestMain lets each test start this very program as a real process (see
// labtest.Start) and checks that no test leaves a goroutine behind.
//
// The program uses the Postgres, Redis and Kafka that DATABASE_URL,
// REDIS_ADDR and KAFKA_BROKERS name, or its embedded ones without them;
// the tests pass the test process's environment on.
func TestMain(m *testing.M) { labtest.Main(m, main) }

// The durations the tests run with: a request slow enough to be in flight
// when the storm comes, a short drain delay, a short linger; every other
// deadline is the program's default, and the budget fits them.
const (
	delay      = 600 * time.Millisecond
	drainDelay = 200 * time.Millisecond
	linger     = 100 * time.Millisecond
	// storm is how many signals a storm sends, stormGap apart, and at
	// least stormTail of them after "shutdown started".
	storm     = 100
	stormGap  = time.Millisecond
	stormTail = 10
	// exitBound is how long after the last signal the process must have
	// exited: the shutdown's own work takes under a second here, and the
	// rest is a margin for a busy machine under the race detector.
	exitBound = 10 * time.Second
	// exitLag is how long the process may take to end once it has logged
	// "exited": os.Exit ends it at once, and the rest is a margin for a
	// busy machine under the race detector.
	exitLag = time.Second
)

// documented is every event the program may log (README.md, "Events it
// logs"). Anything else on standard error (a panic, a race report, a stray
// log.Printf, a usage text) fails the tests that check it.
var documented = []string{
	"tracer started", "tracing unavailable", "listening", "server failed",
	"database opened", "database unavailable", "embedded redis started", "redis unavailable",
	"lock acquired", "lock held elsewhere", "lock extended", "extend failed", "lock lost",
	"kafka started", "kafka ready", "kafka unavailable",
	"request started", "handler timed out", "query failed", "publish failed", "delivery failed",
	"poll waiting", "event published", "poll released", "poll abandoned",
	"job started", "job done", "job failed", "job abandoned", "worker stopped", "prestop",
	"shutdown started", "phase started", "phase done", "phase failed", "readiness off",
	"draining server", "forced close", "websockets draining", "websockets closed", "websockets force-closed",
	"flushing kafka", "kafka flushed", "kafka flush incomplete",
	"lock released", "lock not ours", "release failed",
	"lingering", "tracer flushed", "tracer flush failed", "exited",
}

// phases is the shutdown's phases in the order they must run: the reverse
// of start-up. The embedded Kafka cluster and Redis are phases only when
// the program runs its own.
func phases() []string {
	p := []string{"readiness", "api server", "worker", "kafka flush"}
	if os.Getenv("KAFKA_BROKERS") == "" {
		p = append(p, "kafka cluster")
	}
	p = append(p, "redis lock", "redis client")
	if os.Getenv("REDIS_ADDR") == "" {
		p = append(p, "embedded redis")
	}
	return append(p, "database", "admin server")
}

// program is the program under test, its public address and its lock's
// key in Redis.
type program struct {
	*labtest.Program
	api     string
	lockKey string
	tb      *stormTB
}

// stormTB is the test as the program sees it (labtest.Program reports its
// own failures to it), except that during a storm a signal that finds the
// process gone is not a failure of its own: the storm stops, and the exit
// code says what happened.
type stormTB struct {
	*testing.T
	storming atomic.Bool
}

func (tb *stormTB) Fatalf(format string, args ...any) {
	if tb.storming.Load() {
		return
	}
	tb.T.Helper()
	tb.T.Fatalf(format, args...)
}

// launch runs the program with the tests' durations (extra flags override
// them) and the extra environment env, and returns at once. Each run takes
// a lock key of its own, so that runs can share a real Redis.
func launch(t *testing.T, env []string, extra ...string) program {
	t.Helper()
	key := "task20-" + rand.Text()
	args := []string{
		"-addr", "127.0.0.1:0", "-admin-addr", "127.0.0.1:0", "-log-format", "json",
		"-delay", delay.String(), "-drain-delay", drainDelay.String(), "-metrics-linger", linger.String(),
		"-lock-key", key,
	}
	tb := &stormTB{T: t}
	p := labtest.StartEnv(tb, env, append(args, extra...)...)
	return program{Program: p, lockKey: key, tb: tb}
}

// startProgram launches the program and returns once its API listens.
func startProgram(t *testing.T, extra ...string) program {
	t.Helper()
	s := launch(t, nil, extra...)
	ev := s.WaitForMatch(`"listening" with server="api"`, labtest.StartBound, func(ev labtest.Event) bool {
		return ev.Msg() == "listening" && ev.Str("server") == "api"
	})
	s.api = ev.Str("addr")
	return s
}

// inFlight sends GET / and returns once the handler has it.
func (s program) inFlight(t *testing.T) <-chan labtest.Response {
	t.Helper()
	resp := labtest.Get("http://"+s.api+"/", delay+10*time.Second)
	s.WaitFor("request started", labtest.StartBound)
	return resp
}

// signalStorm sends n signals in rapid succession, stormGap apart; mixed
// alternates SIGTERM and SIGINT. It goes on past n until stormTail of them
// have come after the shutdown has started: the storm must reach a
// shutdown under way, whatever the machine's speed. A signal that finds
// the process gone is not sent: the exit code will say why it went.
func (s program) signalStorm(n int, mixed bool) {
	s.tb.storming.Store(true)
	defer s.tb.storming.Store(false)
	after := 0
	for i := 0; i < n || after < stormTail; i++ {
		if _, exited := s.Exited(); exited || i >= 10*n {
			return
		}
		if s.Log().Has("shutdown started") {
			after++
		}
		sig := syscall.SIGTERM
		if mixed && i%2 == 1 {
			sig = syscall.SIGINT
		}
		s.Signal(sig)
		// The gap is the scenario, not a synchronisation: signals this
		// close together are a storm, and each reaches the program on its
		// own instead of merging with the one before into one pending
		// signal, as the kernel merges a signal that is already pending.
		time.Sleep(stormGap)
	}
}

// ending is how a test's one shutdown must end.
type ending struct {
	code   int      // the exit code, which the "exited" event must say too
	why    string   // why that code, for the failure messages
	failed string   // the one phase that must fail, or ""
	phases []string // the phases that must run, in order; nil: phases()
}

// clean is the ending of a shutdown that was asked for and went well.
var clean = ending{why: "one clean shutdown"}

// expectOneShutdown checks what every test here wants at the end: the
// process exited with want's code, the one its shutdown logged, as soon as
// that shutdown was over, and its log is exactly one shutdown, complete:
// one "shutdown started", each phase started and done (or failed) once, in
// order, one "tracer flushed", one "exited", last; and nothing on standard
// error that is not a documented event.
func expectOneShutdown(t *testing.T, s program, what string, want ending) {
	t.Helper()
	code := s.ExitWithin(exitBound, "the shutdown should be over within a second or two of the signal: "+what)
	ended := time.Now()
	if code == 128+int(syscall.SIGTERM) || code == 128+int(syscall.SIGINT) {
		t.Fatalf("%s: the process was killed by a signal (exit code %d); want exit code %d after %s.\n"+
			"A signal found the default action (killing the process) in place: either the signals were not caught yet "+
			"(signal.NotifyContext comes first in main, before service.Start), or something stopped the program's handling "+
			"of SIGINT and SIGTERM (the stop of signal.NotifyContext, signal.Stop, signal.Reset) before it exited. "+
			"Keep them caught from the first line of main until os.Exit.\n%s", what, code, want.code, want.why, s.Transcript())
	}
	log := s.Log()
	if n := log.Count("shutdown started"); n != 1 {
		t.Fatalf("%s: \"shutdown started\" was logged %d times; want once: every later reason to stop (a signal, a part that "+
			"failed, main once Serve has returned) must join the shutdown under way, never start one of its own.\n%s", what, n, s.Transcript())
	}
	lines := strings.Split(strings.TrimRight(log.Text(), "\n"), "\n")
	for _, line := range lines {
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil || !slices.Contains(documented, fmt.Sprint(ev["msg"])) {
			t.Fatalf("%s: standard error has a line that is not a documented event:\n  %s\nwant nothing but the JSON events of README.md's table: "+
				"no panic, no race report, no log.Printf or fmt.Println of the signal.\n%s", what, line, s.Transcript())
		}
	}
	if code == 2 {
		t.Fatalf("%s: exit code 2, the code of a Go panic; want %d after %s. A later signal made the program panic: "+
			"a close of a channel that the first signal had already closed, say.\n%s", what, want.code, want.why, s.Transcript())
	}
	exited := log.Index("exited")
	if exited < 0 {
		t.Fatalf("%s: exit code %d, and the log has no \"exited\"; want exit code %d after %s.\n"+
			"The process ended in the middle of its shutdown, from outside it: an os.Exit that a later signal reached, "+
			"\"press Ctrl+C again to force\" say. That convention suits a person at a terminal; a repeated SIGTERM is the "+
			"same request sent again (README.md), so every signal after the first must change nothing.\n%s", what, code, want.code, want.why, s.Transcript())
	}
	exitedEv := log.Events()[exited]
	if said := exitedEv.Str("code"); said != fmt.Sprint(want.code) {
		t.Fatalf("%s: the shutdown logged \"exited\" with code %s; want %d after %s.%s\n%s",
			what, said, want.code, want.why, wrongShutdownCode(want), s.Transcript())
	}
	if code != want.code {
		t.Fatalf("%s: the process exited with code %d, but its one shutdown returned %d (its \"exited\" event says so): %s.\n"+
			"main must exit with the code that the shutdown returned, whoever ran it: not a code of its own, not 0 because "+
			"the shutdown is over.\n%s", what, code, want.code, want.why, s.Transcript())
	}
	if lag := ended.Sub(labtest.EventTime(t, exitedEv)); lag > exitLag {
		t.Fatalf("%s: the process ended %v after it logged \"exited\"; want it gone at once (within %v, a margin for a busy machine).\n"+
			"Something between the shutdown's end and os.Exit waits: a time.Sleep, or a loop that sleeps until a flag says "+
			"done. Whoever exits must wait for the shutdown itself (the call that runs it, or sync.Once.Do, returns the "+
			"moment it is over), not for a time.\n%s", what, lag.Round(time.Millisecond), exitLag, s.Transcript())
	}
	var seen []string
	for _, ev := range log.Events() {
		if strings.HasPrefix(ev.Msg(), "phase ") {
			seen = append(seen, ev.Msg()+" "+ev.Str("phase"))
		}
	}
	order := want.phases
	if order == nil {
		order = phases()
	}
	var wantSeen []string
	for _, p := range order {
		end := "phase done "
		if p == want.failed {
			end = "phase failed "
		}
		wantSeen = append(wantSeen, "phase started "+p, end+p)
	}
	if !slices.Equal(seen, wantSeen) {
		t.Fatalf("%s: the phases' events were\n  %s\nwant each phase started and ended once, in this order:\n  %s\n"+
			"The process exited before its shutdown was over if phases are missing at the end: whoever exits must wait for the "+
			"shutdown's end, not return at once because one is already under way.\n%s",
			what, strings.Join(seen, "\n  "), strings.Join(wantSeen, "\n  "), s.Transcript())
	}
	for _, msg := range []string{"tracer flushed", "exited"} {
		if n := log.Count(msg); n != 1 {
			t.Fatalf("%s: %q was logged %d times; want once.\n%s", what, msg, n, s.Transcript())
		}
	}
	if events := log.Events(); events[len(events)-1].Msg() != "exited" {
		t.Fatalf("%s: the last event is %q; want \"exited\".\n%s", what, events[len(events)-1].Msg(), s.Transcript())
	}
}

// wrongShutdownCode is the likely cause of a shutdown that logged the wrong
// code: Shutdown says 1 when it is given a part's failure or a phase fails.
func wrongShutdownCode(want ending) string {
	if want.code == 1 && want.failed == "" {
		return "\nThe shutdown was not told that a part failed: Serve's error is the failure to pass to Shutdown " +
			"(Shutdown(nil) is for a shutdown that was asked for), and the exit code is then 1."
	}
	return ""
}

// expectHello checks that the request in flight got its answer.
func expectHello(t *testing.T, s program, resp <-chan labtest.Response, what string) {
	t.Helper()
	if r := <-resp; r.Err != nil || r.Status != 200 || r.Body != "hello from the database\n" {
		t.Fatalf("%s: the request in flight got %v; want 200 \"hello from the database\".\n%s", what, r, s.Transcript())
	}
}

// TestOneSignalOneShutdown: one SIGTERM, with a request in flight: the
// request gets its answer, the shutdown runs once and whole, every phase
// in order, and the process exits 0 once it is over, with nothing on
// standard error but documented events. (Already true of the starter.)
func TestOneSignalOneShutdown(t *testing.T) {
	t.Parallel()
	s := startProgram(t)
	resp := s.inFlight(t)
	s.Signal(syscall.SIGTERM)
	expectOneShutdown(t, s, "one SIGTERM", clean)
	expectHello(t, s, resp, "one SIGTERM")
}

// TestSIGTERMStormAtTheStart: 100 SIGTERMs in rapid succession, the first
// of them the one that starts the shutdown, with a request in flight: one
// shutdown, whole, exit 0.
func TestSIGTERMStormAtTheStart(t *testing.T) {
	t.Parallel()
	s := startProgram(t)
	resp := s.inFlight(t)
	s.signalStorm(storm, false)
	expectOneShutdown(t, s, fmt.Sprintf("%d SIGTERMs", storm), clean)
	expectHello(t, s, resp, fmt.Sprintf("%d SIGTERMs", storm))
}

// TestMixedStormInTheMiddleOfAPhase: one SIGTERM starts the shutdown; once
// the API's drain is waiting for the request in flight, 100 signals,
// SIGINT and SIGTERM in turn: the drain goes on, the request gets its
// answer, one shutdown, whole, exit 0.
func TestMixedStormInTheMiddleOfAPhase(t *testing.T) {
	t.Parallel()
	// The request outlasts the drain delay, so the storm comes while the
	// "api server" phase waits for it.
	s := startProgram(t, "-delay", "1s")
	resp := s.inFlight(t)
	s.Signal(syscall.SIGTERM)
	s.WaitForMatch(`"phase started" of "api server"`, exitBound, func(ev labtest.Event) bool {
		return ev.Msg() == "phase started" && ev.Str("phase") == "api server"
	})
	s.signalStorm(storm, true)
	what := fmt.Sprintf("%d SIGINTs and SIGTERMs in the middle of the api server phase", storm)
	expectOneShutdown(t, s, what, clean)
	expectHello(t, s, resp, what)
}

// TestGracePeriodNamesThePartThatOverruns: a configuration whose shutdown
// cannot fit -grace-period is a usage error, before anything starts: exit
// 2, one line, naming the part of the shutdown that would end past it.
// (Already true of the starter.) The verdict is service.Start's, called in
// the test process: a process start costs a busy machine more than the
// check itself, and TestBadFlagsExitTwo sees main pass the 2 on.
func TestGracePeriodNamesThePartThatOverruns(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		args  []string
		names string // the flag the line must name
	}{
		{[]string{"-prestop-delay", "31s"}, "-prestop-delay"},
		{[]string{"-grace-period", "8s"}, "-phase-timeout"},
		{[]string{"-flush-timeout", "20s"}, "-flush-timeout"},
		{[]string{"-grace-period", "25s"}, "-metrics-linger"},
		{[]string{"-trace-flush-timeout", "5s"}, "-trace-flush-timeout"},
	} {
		code, out := startRefused(t, c.args)
		if code != 2 || strings.Contains(out, "\n") || !strings.Contains(out, "-grace-period") || !strings.Contains(out, c.names) {
			t.Errorf("with %q: exit code %d and output:\n%s\nwant exit code 2 and one line about -grace-period that names %s, the part that overruns it.",
				c.args, code, out, c.names)
		}
	}
}

// TestBadFlagsExitTwo: a bad flag value prints one line and exits 2.
// (Already true of the starter.) The first runs the program itself, so
// that main is seen to exit with service.Start's code; the others ask
// service.Start alone, in the test process, as above.
func TestBadFlagsExitTwo(t *testing.T) {
	t.Parallel()
	bad := [][]string{
		{"-delay", "-1s"},
		{"-addr", "8080"},
		{"-admin-addr", "nowhere"},
		{"-log-format", "xml"},
		{"-ws-drain-timeout", "0s"},
		{"-lock-ttl", "0s"},
		{"-topic", "no spaces"},
		{"-drain-delay", "6s"}, // not shorter than -phase-timeout
	}
	labtest.ExpectUsageErrors(t, bad[:1])
	for _, args := range bad[1:] {
		if code, out := startRefused(t, args); code != 2 || strings.Contains(out, "\n") || out == "" {
			t.Errorf("with %q: exit code %d and output:\n%s\nwant exit code 2 and a single line saying what is wrong.", args, code, out)
		}
	}
}

// startRefused calls service.Start with args (in JSON log format), which
// must refuse them before anything starts, and returns its exit code and
// what it wrote, trimmed.
func startRefused(t *testing.T, args []string) (int, string) {
	t.Helper()
	var out strings.Builder
	svc, code := service.Start(context.Background(), append([]string{"-log-format", "json"}, args...), &out, &out)
	if svc != nil {
		svc.Shutdown(nil)
		t.Fatalf("with %q: service.Start started the service; want it refused, exit code 2.", args)
	}
	return code, strings.TrimSpace(out.String())
}
