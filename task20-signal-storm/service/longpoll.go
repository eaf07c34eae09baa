package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"
)

// retryAfter is the Retry-After, in seconds, of a poll released by the
// drain. The listener is closed by then, so the client's next poll goes to
// an instance that is staying; a second's pause spreads a crowd of clients
// out instead of sending them all at once.
const retryAfter = "1"

// waitHandler is /wait, a long poll: it answers with the next event
// published (200), or 204 No Content if none comes within timeout, and
// the client polls again. It waits on its request's context, so it ends as
// soon as that context does:
//   - when the drain begins, its context ends with errShuttingDown: the
//     poll answers 503 with Retry-After at once, a complete response that
//     tells the client to poll again, elsewhere, instead of holding the
//     drain up for as long as timeout;
//   - when the client goes away, it ends with context.Canceled: nobody is
//     left to answer.
func waitHandler(events *hub, timeout time.Duration, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()

		event, err := events.wait(ctx)
		switch {
		case err == nil:
			fmt.Fprintln(w, event)
		case errors.Is(err, context.DeadlineExceeded):
			// No news within the poll's time: "nothing yet, ask again".
			w.WriteHeader(http.StatusNoContent)
		case errors.Is(err, errShuttingDown):
			// Not an error of this request, and not an event: the server
			// is leaving. 503 and Retry-After say "try again shortly",
			// which any HTTP client and proxy understands.
			w.Header().Set("Retry-After", retryAfter)
			http.Error(w, "shutting down: poll again", http.StatusServiceUnavailable)
			logger.Info("poll released", "cause", err)
		default:
			// The client went away (context.Canceled): nobody to answer.
			logger.Info("poll abandoned", "cause", err)
		}
	})
}
