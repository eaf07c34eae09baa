package main

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net/http"
)

// The middlewares in front of every handler, as a real service has them.
// Neither is part of the task: they give each request what handlers pass
// on (its ID, in r.Context()), and log what each request got.

// requestIDKey is the key of a request's ID in its context.
type requestIDKey struct{}

// withRequestID gives every request an ID, in its context: the one its
// client sent as X-Request-ID, or a new one. Tracing and logging
// middlewares put a trace or a logger there the same way, and whatever a
// handler calls with r.Context(), or a context derived from it, carries
// them on.
func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-ID")
		if id == "" {
			id = rand.Text()
		}
		w.Header().Set("X-Request-ID", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id)))
	})
}

// requestID is the ID that withRequestID put in ctx, or "" if there is
// none.
func requestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// withAccessLog logs "request done" when a handler returns: its path and
// the status it answered, at the moment it answered, by the program's own
// clock.
func withAccessLog(next http.Handler, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		logger.Info("request done", "path", r.URL.Path, "status", sw.status, "request_id", requestID(r.Context()))
	})
}

// statusWriter remembers the status a handler answered with.
type statusWriter struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
}

func (w *statusWriter) WriteHeader(status int) {
	if !w.wroteHeader {
		w.status, w.wroteHeader = status, true
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wroteHeader = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
