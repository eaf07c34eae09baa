// Command task07-dependency-order answers each request with a row from its
// database, after a delay. It opens the database before the server starts
// and, on Ctrl+C or SIGTERM, shuts down in the reverse order: first the
// server drains, so every request in flight gets its answer, and only then
// is the database closed. What starts first stops last.
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

// run is the whole program; it returns the exit code. Its shape is the
// dependency order: the database is opened before serve starts the server,
// and closed after serve has returned, which it does only once the last
// request is done. The database's lifetime encloses the server's, because
// the server's handlers use the database.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "task07-dependency-order: %v\n", err)
		return 2
	}
	logger := newLogger(cfg.logFormat, stderr)

	// Start-up waits for the database, but not forever: a database that
	// does not answer is a failed start, reported while someone is looking,
	// not a server that listens and then fails every request. The timeout
	// hangs off ctx, so Ctrl+C during the wait ends it too.
	url := os.Getenv("DATABASE_URL")
	openCtx, cancelOpen := context.WithTimeout(ctx, cfg.dbTimeout)
	db, err := openDB(openCtx, url)
	cancelOpen()
	if err != nil {
		logger.Error("database unavailable", "err", err)
		return 1
	}
	logger.Info("database opened", "driver", driverName(url))

	code := serve(ctx, cfg, db, logger)

	// serve has returned, so the server is drained (or was forced closed,
	// or never started): no handler will ask for a connection any more.
	// Now the database can go. Every way out of serve comes through here,
	// the failures included, so the pool is never left open.
	logger.Info("closing DB")
	if err := db.Close(); err != nil {
		logger.Error("closing DB failed", "err", err)
		code = 1
	}
	logger.Info("exited")
	return code
}

// serve runs the server until ctx is cancelled, then drains it within the
// shutdown timeout. It returns the exit code, and it returns only once the
// server is done with db: after Shutdown has returned, not merely after Serve
// has, since Serve returns as soon as Shutdown closes the listener, while the
// requests in flight are still running.
func serve(ctx context.Context, cfg config, db *sql.DB, logger *slog.Logger) int {
	srv := &http.Server{
		Addr:              cfg.addr,
		Handler:           helloHandler(cfg.delay, db, logger),
		ReadHeaderTimeout: 5 * time.Second,
	}

	serveErr := make(chan error, 1)
	go func() { serveErr <- listenAndServe(srv, logger) }()

	select {
	case err := <-serveErr:
		// The server stopped on its own, before any signal: a failure.
		logger.Error("server failed", "addr", cfg.addr, "err", err)
		return 1
	case <-ctx.Done():
	}

	logger.Info("shutdown started")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer cancel()

	logger.Info("draining server")
	// Shutdown closes the listener, then waits for the requests in flight,
	// each of which still needs the database; that is why it is still open.
	if err := srv.Shutdown(shutdownCtx); err != nil {
		// Past the deadline Close cuts the connections. It does not wait
		// for the handlers, though: one still in its delay will find the
		// database closed when it gets to its query. Its client is gone
		// by then, and the exit code already says the shutdown was forced.
		logger.Error("forced close", "err", err)
		srv.Close()
		return 1
	}
	// After Shutdown, Serve returns http.ErrServerClosed: that is success.
	if err := <-serveErr; !errors.Is(err, http.ErrServerClosed) {
		logger.Error("server failed", "addr", cfg.addr, "err", err)
		return 1
	}
	return 0
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
		// Each connection to ":memory:" gets a database of its own, empty,
		// which disappears when that connection closes. One connection,
		// never retired (no idle time or lifetime limit is set), means
		// every query sees the same database, for as long as db is open.
		// It also serialises the queries, which an embedded stand-in can
		// afford.
		db.SetMaxOpenConns(1)
	}
	// sql.Open only checks its arguments; it connects to nothing. Ping makes
	// the first connection, so an unreachable database fails here, at
	// start-up, within ctx's deadline.
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
// database. pgx's own errors already leave the password out.
func describeDB(dsn string) string {
	if dsn == "" {
		return "the embedded SQLite database"
	}
	u, err := neturl.Parse(dsn)
	if err != nil || u.Host == "" {
		// Not a URL (say, "host=db user=app password=..."): say what it
		// is, not what it contains.
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
	shutdownTimeout time.Duration
	dbTimeout       time.Duration
	logFormat       string
}

// parseFlags reads the command line. Usage goes to stdout for -h; errors are
// returned for the caller to print as one line.
func parseFlags(args []string, stdout io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("task07-dependency-order", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&cfg.addr, "addr", ":8080", "address to listen on")
	fs.DurationVar(&cfg.delay, "delay", 2*time.Second, "how long each request takes before its query")
	fs.DurationVar(&cfg.shutdownTimeout, "shutdown-timeout", 5*time.Second, "how long the drain may take before the remaining connections are closed")
	fs.DurationVar(&cfg.dbTimeout, "db-timeout", 5*time.Second, "how long start-up may wait for the database to answer")
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
	if cfg.shutdownTimeout < 0 {
		return cfg, fmt.Errorf("invalid -shutdown-timeout %v: must not be negative", cfg.shutdownTimeout)
	}
	if cfg.dbTimeout <= 0 {
		// A zero timeout would fail every start-up before the first packet.
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
