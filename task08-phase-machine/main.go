// Command task08-phase-machine answers each request with a row from its
// database, after a delay, while a background worker ticks. Each part joins
// a lifecycle.Lifecycle as a phase the moment it has started, and on Ctrl+C
// or SIGTERM the phases run last in, first out, each within a deadline of
// its own: the server drains, the worker stops, the database closes. A phase
// that fails does not stop the ones after it.
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"gracefulshutdown.lab/task08-phase-machine/lifecycle"

	// The database/sql drivers: "pgx" for Postgres, "sqlite" for the
	// embedded database (modernc.org/sqlite is pure Go: no cgo, no C
	// compiler, nothing to install).
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"
)

func main() {
	// The signal no longer kills the process: it cancels ctx, and run turns
	// that into an orderly shutdown.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole program; it returns the exit code. It starts the
// database, the worker and the server, in that order, adding each to the
// lifecycle as it starts; then it waits for the signal (or a server
// failure) and lets the lifecycle stop them in the reverse order.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "task08-phase-machine: %v\n", err)
		return 2
	}
	logger := newLogger(cfg.logFormat, stderr)

	// Start-up waits for the database, within -db-timeout; Ctrl+C during
	// the wait ends it too. Nothing has started yet, so a failure here has
	// nothing to stop.
	url := os.Getenv("DATABASE_URL")
	openCtx, cancelOpen := context.WithTimeout(ctx, cfg.dbTimeout)
	db, err := openDB(openCtx, url)
	cancelOpen()
	if err != nil {
		logger.Error("database unavailable", "err", err)
		return 1
	}
	logger.Info("database opened", "driver", driverName(url))

	// From here on, each part is added as a phase right after it starts,
	// so the order of the Add calls is the start-up order, and Shutdown,
	// which runs them backwards, needs no other list to get the shutdown
	// order right. (Add fails only once Shutdown has started, which
	// nothing has done yet, so its error is not checked.)
	lc := lifecycle.New(cfg.phaseTimeout, phaseLog{logger})

	// Closing the pool gets the same bound as opening it: both are a
	// round trip to the database.
	lc.Add("database", func(context.Context) error { return db.Close() }, lifecycle.Timeout(cfg.dbTimeout))

	// The worker gets a context of its own, not one derived from ctx, so
	// that it stops when its phase comes, after the server has drained,
	// rather than at the signal.
	workCtx, stopWork := context.WithCancel(context.Background())
	workerDone := make(chan struct{})
	go func() {
		defer close(workerDone)
		tick(workCtx, cfg.tick, logger)
	}()
	lc.Add("worker", func(ctx context.Context) error {
		stopWork()
		select {
		case <-workerDone:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})

	srv := &http.Server{
		Addr:              cfg.addr,
		Handler:           helloHandler(cfg.delay, db, logger),
		ReadHeaderTimeout: 5 * time.Second,
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- listenAndServe(srv, logger) }()
	lc.Add("http server", func(ctx context.Context) error {
		// Shutdown closes the listener, then waits for the requests in
		// flight until the phase's deadline; past it, Close cuts them off.
		// Shutdown succeeds at once for a server that never started.
		if err := srv.Shutdown(ctx); err != nil {
			logger.Error("forced close", "err", err)
			srv.Close()
			return err
		}
		return nil
	})

	code := 0
	select {
	case err := <-serveErr:
		// The server stopped on its own, before any signal: a failure.
		// The worker and the database were started all the same, so the
		// phases still run.
		logger.Error("server failed", "addr", cfg.addr, "err", err)
		code = 1
	case <-ctx.Done():
		// After Shutdown, Serve returns http.ErrServerClosed, which is
		// success: nobody needs to read it, and the channel's buffer lets
		// the serving goroutine end without a reader.
	}

	logger.Info("shutdown started")
	// One budget for the whole shutdown, on top of each phase's own: no
	// phase gets past this deadline, whatever its timeout. It counts from
	// context.Background, not ctx: ctx is already cancelled.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer cancel()
	// TODO(task08): Shutdown returns one error joining the phases that
	// failed (each one has been logged as "phase failed" already). A
	// shutdown in which a phase failed did not go to plan: exit 1 then.
	_ = lc.Shutdown(shutdownCtx)
	logger.Info("exited")
	return code
}

// phaseLog is the lifecycle's Observer that logs each phase as it runs.
type phaseLog struct{ logger *slog.Logger }

func (l phaseLog) PhaseStarted(phase string) {
	l.logger.Info("phase started", "phase", phase)
}

func (l phaseLog) PhaseDone(phase string, took time.Duration, err error) {
	if err != nil {
		l.logger.Error("phase failed", "phase", phase, "duration", took, "err", err)
		return
	}
	l.logger.Info("phase done", "phase", phase, "duration", took)
}

// tick logs "tick" every interval until ctx is cancelled.
func tick(ctx context.Context, every time.Duration, logger *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			logger.Info("ticker stopped")
			return
		case <-t.C:
			logger.Info("tick")
		}
	}
}

// helloHandler waits delay, the slow part of the request, then answers with
// a row from the database.
func helloHandler(delay time.Duration, db *sql.DB, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		logger.Info("request started", "path", r.URL.Path)
		time.Sleep(delay)

		// r.Context() ends the query if the client goes away. The query is
		// valid SQL for both SQLite and Postgres.
		var greeting string
		err := db.QueryRowContext(r.Context(), "SELECT 'hello from the database'").Scan(&greeting)
		if err != nil {
			logger.Error("query failed", "err", err)
			// A real service would keep its internals out of the response;
			// this lab shows the error so that a client can see which one
			// it was (say, "sql: database is closed").
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, greeting)
	})
}

// openDB opens the database the program depends on and checks that it
// answers: Postgres through pgx's database/sql driver when url is set
// (DATABASE_URL), otherwise an embedded SQLite database in memory, so that a
// machine with nothing installed can run the lab.
func openDB(ctx context.Context, url string) (*sql.DB, error) {
	driver, dsn := driverName(url), url
	if driver == "sqlite" {
		dsn = ":memory:"
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", describeDB(url), err)
	}
	if driver == "sqlite" {
		// Each connection to ":memory:" gets a database of its own, which
		// disappears when that connection closes. One connection, never
		// retired, means every query sees the same database for as long as
		// db is open.
		db.SetMaxOpenConns(1)
	}
	// sql.Open connects to nothing; Ping makes the first connection, so an
	// unreachable database fails here, at start-up, within ctx's deadline.
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to %s: %w", describeDB(url), err)
	}
	return db, nil
}

// driverName is the database/sql driver that openDB uses for url.
func driverName(url string) string {
	if url == "" {
		return "sqlite"
	}
	return "pgx"
}

// describeDB names the database at dsn for an error message, without its
// password: logs are read by more people than the ones allowed to read the
// database.
func describeDB(dsn string) string {
	if dsn == "" {
		return "the embedded SQLite database"
	}
	u, err := neturl.Parse(dsn)
	if err != nil || u.Host == "" {
		return "postgres"
	}
	return u.Redacted()
}

// listenAndServe is srv.ListenAndServe that logs the address it bound, so
// that -addr :0 reports its real port. Like ListenAndServe it returns a bind
// error at once, and http.ErrServerClosed after Shutdown.
func listenAndServe(srv *http.Server, logger *slog.Logger) error {
	ln, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		return err
	}
	logger.Info("listening", "addr", ln.Addr().String())
	return srv.Serve(ln)
}

type config struct {
	addr            string
	delay           time.Duration
	tick            time.Duration
	phaseTimeout    time.Duration
	shutdownTimeout time.Duration
	dbTimeout       time.Duration
	logFormat       string
}

// parseFlags reads the command line. Usage goes to stdout for -h; errors are
// returned for the caller to print as one line.
func parseFlags(args []string, stdout io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("task08-phase-machine", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&cfg.addr, "addr", ":8080", "address to listen on")
	fs.DurationVar(&cfg.delay, "delay", 2*time.Second, "how long each request takes before its query")
	fs.DurationVar(&cfg.tick, "tick", 5*time.Second, "how often the background worker ticks")
	fs.DurationVar(&cfg.phaseTimeout, "phase-timeout", 10*time.Second, "how long each shutdown phase may take")
	fs.DurationVar(&cfg.shutdownTimeout, "shutdown-timeout", 30*time.Second, "how long the whole shutdown may take")
	fs.DurationVar(&cfg.dbTimeout, "db-timeout", 5*time.Second, "how long opening, and closing, the database may take")
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
	if cfg.delay < 0 {
		return cfg, fmt.Errorf("invalid -delay %v: must not be negative", cfg.delay)
	}
	// time.NewTicker panics on an interval that is not positive.
	if cfg.tick <= 0 {
		return cfg, fmt.Errorf("invalid -tick %v: must be positive", cfg.tick)
	}
	// A phase with no time at all would fail before it began.
	if cfg.phaseTimeout <= 0 {
		return cfg, fmt.Errorf("invalid -phase-timeout %v: must be positive", cfg.phaseTimeout)
	}
	if cfg.shutdownTimeout < 0 {
		return cfg, fmt.Errorf("invalid -shutdown-timeout %v: must not be negative", cfg.shutdownTimeout)
	}
	if cfg.dbTimeout <= 0 {
		return cfg, fmt.Errorf("invalid -db-timeout %v: must be positive", cfg.dbTimeout)
	}
	if cfg.logFormat != "text" && cfg.logFormat != "json" {
		return cfg, fmt.Errorf("invalid -log-format %q: want text or json", cfg.logFormat)
	}
	return cfg, nil
}

func newLogger(format string, w io.Writer) *slog.Logger {
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return slog.New(slog.NewTextHandler(w, nil))
}
