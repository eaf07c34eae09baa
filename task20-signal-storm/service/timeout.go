package service

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"sync"
	"time"
)

// handlerTimeout caps each request at limit (task 9). The handler runs on a
// goroutine of its own and writes into a buffer; the middleware waits for
// whichever comes first. If the handler finishes in time, its status,
// headers and body go to the client unchanged. If the cap comes first, the
// handler's context is cancelled, the client gets 504 at once, and whatever
// the handler writes from then on is discarded. So no plain request, and no
// drain of them, outlasts the cap.
//
// It buffers the whole response, so it is not for streaming: the WebSockets
// and the long poll, which have their own ends, are not behind it.
func handlerTimeout(limit time.Duration, logger *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// The cap's own context: the request's values, its deadline,
			// and its end when the client goes away, but not the drain's
			// cancellation, which is for open-ended work (task 14): a
			// request under the cap is short and bounded, and finishing it
			// is what the drain is for.
			ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), limit)
			defer cancel()
			stop := context.AfterFunc(r.Context(), func() {
				if !errors.Is(context.Cause(r.Context()), errShuttingDown) {
					cancel()
				}
			})
			defer stop()

			tw := &timeoutWriter{header: make(http.Header)}
			done := make(chan struct{})
			var panicked any
			go func() {
				defer close(done)
				// A panic on this goroutine would bypass net/http's recovery
				// and kill the process; hand it back to be re-panicked on the
				// request's goroutine, where the server handles it.
				defer func() { panicked = recover() }()
				next.ServeHTTP(tw, r.WithContext(ctx))
			}()

			select {
			case <-done:
				if panicked != nil {
					panic(panicked)
				}
			case <-ctx.Done():
				// The handler may well still be running, and may never stop
				// (Go cannot kill a goroutine). Waiting for it here would
				// make the client, and Shutdown, wait for it too.
			}

			tw.mu.Lock()
			defer tw.mu.Unlock()
			// Test the context, not which case the select took: a handler
			// that returns because its context was cancelled closes done at
			// about the moment ctx.Done fires, and select picks between
			// ready cases at random. Past the cap the answer is 504, always.
			switch {
			case errors.Is(ctx.Err(), context.DeadlineExceeded):
				tw.timedOut = true
				logger.Warn("handler timed out", "path", r.URL.Path, "after", limit.String())
				http.Error(w, "handler timed out", http.StatusGatewayTimeout)
			case ctx.Err() != nil:
				// The client went away (the server cancels the request's
				// context when the connection closes): nobody to answer.
				tw.timedOut = true
			default:
				maps.Copy(w.Header(), tw.header)
				w.WriteHeader(tw.status())
				_, _ = w.Write(tw.body.Bytes())
			}
		})
	}
}

// timeoutWriter is the ResponseWriter the handler gets: it keeps the
// response in memory until handlerTimeout decides what the client sees. The
// handler writes on its goroutine and handlerTimeout reads and sets timedOut
// on the request's, possibly at the same moment, so both hold mu.
type timeoutWriter struct {
	mu       sync.Mutex
	header   http.Header
	body     bytes.Buffer
	code     int
	timedOut bool
}

// Header is the handler's own header map. handlerTimeout copies it only
// after the handler has returned, so the handler needs no lock to use it.
func (tw *timeoutWriter) Header() http.Header { return tw.header }

func (tw *timeoutWriter) WriteHeader(code int) {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	if tw.timedOut || tw.code != 0 {
		return
	}
	tw.code = code
}

// Write returns http.ErrHandlerTimeout once the client has had its 504, so
// that a handler that checks its writes can stop.
func (tw *timeoutWriter) Write(p []byte) (int, error) {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	if tw.timedOut {
		return 0, http.ErrHandlerTimeout
	}
	if tw.code == 0 {
		tw.code = http.StatusOK
	}
	return tw.body.Write(p)
}

// status is the code the handler chose; like net/http, 200 if it wrote
// nothing at all. The caller holds mu.
func (tw *timeoutWriter) status() int {
	if tw.code == 0 {
		return http.StatusOK
	}
	return tw.code
}
