package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gracefulshutdown.lab/labtest"
)

// TestMain lets each test start this very program as a real process (see
// labtest.Start) and checks that no test leaves a goroutine behind.
//
// The program uses the database that DATABASE_URL names, or an embedded
// SQLite without it, and the tests pass the test process's environment on:
// run them with DATABASE_URL set to try your answer against a real Postgres.
func TestMain(m *testing.M) { labtest.Main(m, main) }

// greeting is what the handler's query returns, as the client gets it.
const greeting = "hello from the database\n"

// start runs the program on a free port and returns it with the address it
// bound, once it is listening.
func start(t *testing.T, delay, shutdownTimeout time.Duration) (*labtest.Program, string) {
	t.Helper()
	p := labtest.Start(t, "-addr", "127.0.0.1:0", "-delay", delay.String(),
		"-shutdown-timeout", shutdownTimeout.String(), "-log-format", "json")
	return p, p.Listening()
}

// TestInFlightRequestGetsItsQueryResult: a request that is waiting out its
// delay when SIGTERM arrives still makes its query and gets the row, never
// "sql: database is closed"; then the process exits 0.
func TestInFlightRequestGetsItsQueryResult(t *testing.T) {
	t.Parallel()
	const delay = 300 * time.Millisecond
	p, addr := start(t, delay, 10*time.Second)
	checkDriver(t, p)

	resp := labtest.Get("http://"+addr+"/", delay+10*time.Second)
	p.WaitFor("request started", labtest.StartBound)
	p.Signal(syscall.SIGTERM)

	r := <-resp
	// Wait for the exit before judging the response, so that the log is
	// complete when it is read for the likely cause.
	code := p.ExitWithin(5*time.Second, "after the drain and the database's close, run should return so that main can exit")
	switch {
	case r.Err == nil && strings.Contains(r.Body, "database is closed"):
		t.Fatalf("the request in flight when SIGTERM arrived got %v; want 200 %q.\n"+
			"Its handler made its query after the database had been closed. The handlers need the database until the last "+
			"of them has returned, which is when Shutdown returns: close the database after that, not at the signal.\n%s",
			r, greeting, p.Transcript())
	case r.Err != nil && forcedTooEarly(t, p, 10*time.Second) != "":
		t.Fatalf("the request in flight when SIGTERM arrived got %v; want 200 %q.\n%s\n%s",
			r, greeting, forcedTooEarly(t, p, 10*time.Second), p.Transcript())
	case r.Err != nil:
		t.Fatalf("the request in flight when SIGTERM arrived got %v; want 200 %q.\n"+
			"The process ended before the request did. Serve returns as soon as Shutdown closes the listener, while requests "+
			"are still running; if run returns then (and its deferred db.Close runs), main exits in the middle of the drain. "+
			"Wait for Shutdown itself to return.\n%s", r, greeting, p.Transcript())
	case r.Status != 200 || r.Body != greeting:
		t.Fatalf("the request in flight when SIGTERM arrived got %v; want 200 %q.\n%s", r, greeting, p.Transcript())
	}
	if code != 0 {
		t.Fatalf("exit code %d after a clean shutdown; want 0.\n%s", code, p.Transcript())
	}
	if errs := p.Log().AtLevel("ERROR"); len(errs) > 0 {
		t.Errorf("a clean shutdown logged %d event(s) at ERROR, the first %q; want none.\n%s", len(errs), errs[0].Msg(), p.Transcript())
	}
}

// TestDatabaseClosesAfterTheServerDrains: with a request in flight, the
// shutdown logs "draining server", then "closing DB" once the drain is
// over, then "exited": the reverse of the start-up order, where the
// database came before the server.
func TestDatabaseClosesAfterTheServerDrains(t *testing.T) {
	t.Parallel()
	const delay = 300 * time.Millisecond
	p, addr := start(t, delay, 10*time.Second)

	resp := labtest.Get("http://"+addr+"/", delay+10*time.Second)
	p.WaitFor("request started", labtest.StartBound)
	p.Signal(syscall.SIGTERM)
	<-resp
	p.ExitWithin(5*time.Second, "after the drain and the database's close, run should return so that main can exit")

	checkOrder(t, p, "draining server", "closing DB", "exited")
	// The handler waits out its delay after "request started", then makes
	// its query; the drain ends after that. Both times come from the
	// program's clock, so this holds however slow the machine is.
	gap := eventTime(t, p, "closing DB").Sub(eventTime(t, p, "request started"))
	if cause := forcedTooEarly(t, p, 10*time.Second); gap < delay && cause != "" {
		t.Fatalf("\"closing DB\" came %v after \"request started\", but that request takes at least %v (-delay); "+
			"want the database closed only once the drain is over.\n%s\n%s", gap.Round(time.Microsecond), delay, cause, p.Transcript())
	}
	if gap < delay {
		t.Fatalf("\"closing DB\" came %v after \"request started\", but that request takes at least %v (-delay); "+
			"want the database closed only once the drain is over.\n"+
			"The database was closed while the request was still in flight. Serve returns as soon as Shutdown closes the "+
			"listener; what says the drain is over is Shutdown returning.\n%s", gap.Round(time.Microsecond), delay, p.Transcript())
	}
	if p.Log().Index("database opened") > p.Log().Index("listening") {
		t.Errorf("\"database opened\" was logged after \"listening\"; want the database open before the server takes its first request.\n%s", p.Transcript())
	}
}

// TestForcedShutdownStillClosesTheDatabase: when the drain runs out of
// time, the server is closed by force and the process exits 1, but the
// database is still closed, after the server: "forced close", then
// "closing DB", then "exited".
func TestForcedShutdownStillClosesTheDatabase(t *testing.T) {
	t.Parallel()
	// The request takes far longer than the drain may: the drain must be
	// cut short.
	// The delay is far longer than the bound on the exit, so that a program
	// that waits for a time (a sleep of -delay) instead of for Shutdown
	// cannot pass for one that keeps the deadline.
	const delay, shutdownTimeout = 30 * time.Second, 200 * time.Millisecond
	p, addr := start(t, delay, shutdownTimeout)

	resp := labtest.Get("http://"+addr+"/", delay+10*time.Second)
	p.WaitFor("request started", labtest.StartBound)
	p.Signal(syscall.SIGTERM)
	code := p.ExitWithin(shutdownTimeout+5*time.Second, fmt.Sprintf(
		"the drain's deadline, -shutdown-timeout (%v) after the signal, should cut the request off, and then run should "+
			"close the database and return, long before the request's -delay (%v) is over. A program that sleeps after "+
			"Serve returns, or waits for its handlers, instead of waiting for Shutdown (which returns at its deadline), "+
			"does not keep the deadline, and the orchestrator kills it at the end of its grace period", shutdownTimeout, delay))
	<-resp
	if code == 0 && !p.Log().Has("forced close") {
		t.Fatalf("the program exited 0 before the drain's deadline, with a request still in flight; want the drain cut off at "+
			"-shutdown-timeout (%v), \"forced close\" logged, and exit code 1.\n"+
			"run returned without waiting for Shutdown: Serve returns as soon as Shutdown closes the listener.\n%s", shutdownTimeout, p.Transcript())
	}
	if code != 1 {
		t.Fatalf("exit code %d after a forced shutdown; want 1, which tells the supervisor that requests were cut off.\n%s", code, p.Transcript())
	}
	if !p.Log().Has("closing DB") {
		t.Fatalf("the program never logged \"closing DB\" after the forced close; want the database closed on this way out too.\n"+
			"An early return on the forced-close path skips a close written at the end of the happy path. Close the database "+
			"in one place that every way out passes through, after the server is done.\n%s", p.Transcript())
	}
	checkOrder(t, p, "forced close", "closing DB", "exited")
	if ev := p.Log().Events()[p.Log().Index("forced close")]; ev.Level() != "ERROR" {
		t.Errorf("\"forced close\" was logged at level %s; want ERROR: requests were cut off and the exit code is 1, "+
			"and alerts are built on ERROR.\n%s", ev.Level(), p.Transcript())
	}
}

// TestShutdownDeadlineStartsAtTheSignal: the drain may take
// -shutdown-timeout from the signal, however long the service has been up.
// The service serves for longer than -shutdown-timeout first, so that a
// deadline made at start-up has long run out when the signal comes.
func TestShutdownDeadlineStartsAtTheSignal(t *testing.T) {
	t.Parallel()
	const delay, shutdownTimeout = 50 * time.Millisecond, 1 * time.Second
	p, addr := start(t, delay, shutdownTimeout)

	up := time.Now() // the program logged "listening" before this
	for n := 1; time.Since(up) <= shutdownTimeout; n++ {
		if r := <-labtest.Get(fmt.Sprintf("http://%s/warm-up/%d", addr, n), delay+10*time.Second); r.Err != nil || r.Status != 200 {
			t.Fatalf("request %d, before any signal, got %v; want 200 %q.\n%s", n, r, greeting, p.Transcript())
		}
	}
	resp := labtest.Get("http://"+addr+"/in-flight", delay+10*time.Second)
	p.WaitForMatch(`"request started" with path="/in-flight"`, labtest.StartBound, func(ev labtest.Event) bool {
		return ev.Msg() == "request started" && ev.Str("path") == "/in-flight"
	})
	p.Signal(syscall.SIGTERM)

	r := <-resp
	code := p.ExitWithin(5*time.Second, "after the drain and the database's close, run should return so that main can exit")
	if r.Err != nil || r.Status != 200 || p.Log().Has("forced close") {
		cause := forcedTooEarly(t, p, shutdownTimeout)
		if cause == "" {
			cause = "The drain may take -shutdown-timeout counted from the signal: make the shutdown's context when the signal arrives."
		}
		t.Fatalf("after %v of serving (longer than -shutdown-timeout, %v), the request in flight when SIGTERM arrived got %v; "+
			"want 200 %q, a %v request well within the drain's deadline, and no \"forced close\".\n%s\n%s",
			time.Since(up).Round(time.Millisecond), shutdownTimeout, r, greeting, delay, cause, p.Transcript())
	}
	if code != 0 {
		t.Fatalf("exit code %d after a clean shutdown; want 0.\n%s", code, p.Transcript())
	}
}

// TestServerFailureStillClosesTheDatabase: when the server cannot even
// start (its address is taken), the program fails with exit code 1, and the
// database, already open, is still closed on that way out: "server failed",
// then "closing DB", then "exited".
func TestServerFailureStillClosesTheDatabase(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("cannot take a port for the test: %v", err)
	}
	t.Cleanup(func() { taken.Close() })

	p := labtest.Start(t, "-addr", taken.Addr().String(), "-log-format", "json")
	code := p.ExitWithin(5*time.Second, "with its address taken the server fails at once; run should then close the database and return")
	if !p.Log().Has("server failed") {
		t.Fatalf("the program never logged \"server failed\" with its address (%s) taken; want that ERROR event, then \"closing DB\" "+
			"and \"exited\".\n%s", taken.Addr(), p.Transcript())
	}
	if code != 1 {
		t.Fatalf("exit code %d after the server failed; want 1.\n%s", code, p.Transcript())
	}
	if !p.Log().Has("closing DB") {
		t.Fatalf("the program never logged \"closing DB\" after \"server failed\"; want the database closed on this way out too.\n"+
			"An early return when the server fails skips a close written after the drain. Close the database in one place "+
			"that every way out of the server's life passes through.\n%s", p.Transcript())
	}
	checkOrder(t, p, "database opened", "server failed", "closing DB", "exited")
}

// TestForcedCloseCutsTheConnections calls run itself, as a test or a bigger
// program would: once the drain's deadline has passed, the connections still
// open are cut (srv.Close), so that run does not return with a request still
// being served behind it. A process that exits hides the difference: its
// exit closes every connection anyway.
func TestForcedCloseCutsTheConnections(t *testing.T) {
	t.Parallel()
	// The handler is still in its delay long after the deadline.
	const delay, shutdownTimeout = 1 * time.Second, 50 * time.Millisecond
	log := labtest.NewEventLog()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	var code int
	go func() {
		defer close(done)
		code = run(ctx, []string{"-addr", "127.0.0.1:0", "-delay", delay.String(),
			"-shutdown-timeout", shutdownTimeout.String(), "-log-format", "json"}, io.Discard, log)
	}()
	transcript := func() string { return "--- what run logged ---\n" + log.Text() }
	ev, err := log.WaitFor("listening", labtest.StartBound, done)
	if err != nil {
		t.Fatalf("%v\n%s", err, transcript())
	}

	resp := labtest.Get("http://"+ev.Str("addr")+"/", delay+10*time.Second)
	if _, err := log.WaitFor("request started", labtest.StartBound, done); err != nil {
		t.Fatalf("%v\n%s", err, transcript())
	}
	cancel() // the signal
	select {
	case <-done:
	case <-time.After(shutdownTimeout + 5*time.Second):
		t.Fatalf("run had not returned %v after its context was cancelled; want it back soon after -shutdown-timeout (%v).\n%s",
			shutdownTimeout+5*time.Second, shutdownTimeout, transcript())
	}
	r := <-resp
	// The handler wakes up after its delay and finds the database closed:
	// wait for it, so that it is not left running after the test.
	_, _ = log.WaitFor("query failed", delay+5*time.Second, nil)
	if r.Err == nil {
		t.Fatalf("run returned %d after a forced shutdown, but the request in flight went on and got %v; want its connection "+
			"cut at the deadline.\nShutdown gives up at its deadline but leaves the connections open; srv.Close is what cuts "+
			"them. Without it the handlers keep running, and answering, after run has returned.\n%s", code, r, transcript())
	}
}

// TestUnreachableDatabaseFailsAtStartUp: a database that cannot be reached
// is a failed start: the program says so in one ERROR event that names the
// database but not its password, exits 1, and never listens. Whether the
// database hangs up at once or never answers, -db-timeout bounds the wait.
//
// These tests set DATABASE_URL for the program whatever the test process
// has, so they need no Postgres: the "server" is a listener of the test's.
func TestUnreachableDatabaseFailsAtStartUp(t *testing.T) {
	t.Parallel()
	const dbTimeout = 300 * time.Millisecond
	cases := []struct {
		name string
		hold bool   // keep each connection open without a word, instead of closing it at once
		opts string // query of the URL
	}{
		{"connection_closed", false, "?connect_timeout=2"},
		{"no_answer", true, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			addr := fakeDatabase(t, c.hold)
			url := "postgres://lab:secret@" + addr + "/lab" + c.opts
			p := labtest.StartEnv(t, []string{"DATABASE_URL=" + url},
				"-addr", "127.0.0.1:0", "-db-timeout", dbTimeout.String(), "-log-format", "json")
			code := p.ExitWithin(dbTimeout+5*time.Second, fmt.Sprintf(
				"with an unreachable database it should give up within -db-timeout (%v) and exit 1. "+
					"Bound the wait: ping the database with a context from context.WithTimeout(ctx, -db-timeout).", dbTimeout))

			if p.Log().Has("listening") {
				t.Fatalf("the program listened with an unreachable database; want it to fail before it takes a request.\n"+
					"sql.Open only checks its arguments and connects to nothing: call db.PingContext before starting the server.\n%s",
					p.Transcript())
			}
			if code != 1 {
				t.Fatalf("exit code %d with an unreachable database; want 1.\n%s", code, p.Transcript())
			}
			if strings.Contains(p.Transcript(), "secret") {
				t.Fatalf("the output contains the database's password (\"secret\"); want it left out: logs are read by more people "+
					"than the ones allowed into the database. Name the database without it, e.g. with url.URL's Redacted method.\n%s",
					p.Transcript())
			}
			errs := p.Log().AtLevel("ERROR")
			lines := strings.Count(strings.TrimSpace(p.Log().Text()), "\n") + 1
			if len(errs) != 1 || errs[0].Msg() != "database unavailable" || lines != 1 {
				t.Fatalf("the program logged %d line(s), %d of them at ERROR; want exactly one line: an ERROR event "+
					"\"database unavailable\" with attribute err.\n%s", lines, len(errs), p.Transcript())
			}
			if _, port, _ := net.SplitHostPort(addr); !strings.Contains(errs[0].Str("err"), port) {
				t.Errorf("the \"database unavailable\" event's err is %q; want it to name the database it could not reach (%s).\n%s",
					errs[0].Str("err"), addr, p.Transcript())
			}
		})
	}
}

// TestBadFlagsExitTwo: a mistake on the command line is a usage error: one
// line that says what is wrong, and exit code 2, before anything listens.
func TestBadFlagsExitTwo(t *testing.T) {
	t.Parallel()
	labtest.ExpectUsageErrors(t, [][]string{
		{"-delay", "-1s"},
		{"-delay", "soon"},
		{"-shutdown-timeout", "-1s"},
		// A start-up that may not wait at all could never reach a database.
		{"-db-timeout", "0s"},
		{"-db-timeout", "-5s"},
		{"-db-timeout", "later"},
		{"-addr", "8080"},
		{"-log-format", "xml"},
	})
}

// checkDriver checks that the program uses the database the environment
// asks for: Postgres when DATABASE_URL is set, the embedded SQLite otherwise.
func checkDriver(t *testing.T, p *labtest.Program) {
	t.Helper()
	want := "sqlite"
	if os.Getenv("DATABASE_URL") != "" {
		want = "pgx"
	}
	if got := p.WaitFor("database opened", labtest.StartBound).Str("driver"); got != want {
		t.Fatalf("the \"database opened\" event says driver %q; want %q (DATABASE_URL set means Postgres through pgx, unset means SQLite).\n%s",
			got, want, p.Transcript())
	}
}

// checkOrder checks that the program logged each of msgs, in that order.
func checkOrder(t *testing.T, p *labtest.Program, msgs ...string) {
	t.Helper()
	for i, msg := range msgs {
		if !p.Log().Has(msg) {
			t.Fatalf("the program never logged %q; want %s, in that order.\n%s", msg, quoteAll(msgs), p.Transcript())
		}
		if i > 0 && p.Log().Index(msg) < p.Log().Index(msgs[i-1]) {
			t.Fatalf("%q was logged before %q; want %s, in that order.\n"+
				"Shut down in the reverse order of start-up: the database was opened before the server because the handlers "+
				"use it, so it is closed after the server is done with them.\n%s", msg, msgs[i-1], quoteAll(msgs), p.Transcript())
		}
	}
}

// forcedTooEarly explains a "forced close" that came before the drain's
// deadline, -shutdown-timeout after "draining server", could have passed;
// it returns "" if there was none.
func forcedTooEarly(t *testing.T, p *labtest.Program, shutdownTimeout time.Duration) string {
	t.Helper()
	i := p.Log().Index("forced close")
	if i < 0 || !p.Log().Has("draining server") {
		return ""
	}
	forced := p.Log().Events()[i]
	if strings.Contains(forced.Str("err"), "canceled") {
		return "\"forced close\" says the shutdown's context was cancelled before the drain could begin: it was made from " +
			"the signal's ctx, which is already done when the signal arrives. Give Shutdown a context of its own, " +
			"context.WithTimeout(context.Background(), -shutdown-timeout), made at the signal."
	}
	if after := labtest.EventTime(t, forced).Sub(eventTime(t, p, "draining server")); after < shutdownTimeout {
		return fmt.Sprintf("\"forced close\" came %v after \"draining server\", sooner than -shutdown-timeout (%v): the drain's "+
			"deadline was counting before the signal came (was its context made at start-up?). Make the shutdown's "+
			"context when the signal arrives.", after.Round(time.Millisecond), shutdownTimeout)
	}
	return ""
}

// eventTime is when the program logged msg, by its own clock.
func eventTime(t *testing.T, p *labtest.Program, msg string) time.Time {
	t.Helper()
	i := p.Log().Index(msg)
	if i < 0 {
		t.Fatalf("the program never logged %q.\n%s", msg, p.Transcript())
	}
	return labtest.EventTime(t, p.Log().Events()[i])
}

func quoteAll(msgs []string) string {
	return `"` + strings.Join(msgs, `", "`) + `"`
}

// fakeDatabase listens where a database would and returns its address. It
// accepts every connection and either closes it at once, like a server
// that is going down, or holds it without a word, like a host behind a
// firewall that drops packets, until the test ends.
func fakeDatabase(t *testing.T, hold bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("cannot listen for the fake database: %v", err)
	}
	var (
		mu   sync.Mutex
		held []net.Conn
		wg   sync.WaitGroup
	)
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return // the listener was closed: the test is over
			}
			if !hold {
				conn.Close()
				continue
			}
			mu.Lock()
			held = append(held, conn)
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		for _, conn := range held {
			conn.Close()
		}
	})
	return ln.Addr().String()
}
