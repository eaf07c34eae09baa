package service

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/http"
	neturl "net/url"
	"time"

	// The database/sql drivers: "pgx" for Postgres, "sqlite" for the
	// embedded database (modernc.org/sqlite is pure Go: nothing to install).
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"
)

// openDB opens the database and checks that it answers, within ctx:
// Postgres through pgx when url (DATABASE_URL) is set, otherwise an
// embedded SQLite in memory (tasks 7 and 8).
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
		// Each connection to ":memory:" is a database of its own: one
		// connection, never retired, is one database for as long as db is
		// open.
		db.SetMaxOpenConns(1)
	}
	// sql.Open connects to nothing; Ping makes the first connection.
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

// describeDB names the database for an error message, without its password.
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

// helloHandler waits delay, the slow part of the request, then answers with
// a row from the database: the database must outlive the API's drain
// (task 7). The request is short and bounded, so it is shielded from the
// drain's cancellation of every request's context, which is meant for
// open-ended work such as the long poll (task 14); the cap (task 9) still
// answers 504 at its limit.
func helloHandler(delay time.Duration, db *sql.DB, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		logger.Info("request started", "path", r.URL.Path)
		time.Sleep(delay)
		var greeting string
		if err := db.QueryRowContext(context.WithoutCancel(r.Context()), "SELECT 'hello from the database'").Scan(&greeting); err != nil {
			logger.Error("query failed", "err", err)
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, greeting)
	})
}
