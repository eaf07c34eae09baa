package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"
)

// waitHandler is /wait, a long poll: it answers with the next event
// published (200), or 204 No Content if none comes within timeout, and
// the client polls again. It waits on its request's context, so it ends as
// soon as that context does; today, only the client going away ends it.
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
		default:
			// The client went away (context.Canceled): nobody to answer.
			// TODO(task14): once the drain cancels the request's context,
			// this is where the poll ends at the drain too. Returning without
			// a word gives the client an empty 200, as if an event with no
			// content had come. Tell the two causes apart and answer the
			// drain with a complete response that says "poll again
			// shortly": 503 Service Unavailable, with a Retry-After header
			// (in seconds) and a body.
			logger.Info("poll abandoned", "cause", err)
		}
	})
}
