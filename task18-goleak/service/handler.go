package service

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
)

// defaultTopic is the topic of a request to / that names none.
const defaultTopic = "goroutines"

// counters are what the stats reporter reports. Every request writes them
// on its own goroutine, and the reporter reads them on another.
type counters struct {
	served, failed, timedOut atomic.Int64
}

// quoteHandler answers GET /?topic=T with the quote service's quote about
// T: 200 and the quote, 502 if the quote service failed or has none, 504 if
// it did not answer within -downstream-timeout.
func quoteHandler(client *quoteClient, counts *counters, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		logger.Info("request started", "path", r.URL.Path)
		topic := r.URL.Query().Get("topic")
		if topic == "" {
			topic = defaultTopic
		}
		// r.Context() ends when the client goes away or the handler
		// returns: the right context for any work done on the request's
		// behalf.
		quote, err := client.quote(r.Context(), topic)
		switch {
		case errors.Is(err, errTimeout):
			counts.timedOut.Add(1)
			logger.Warn("downstream timed out", "topic", topic, "after", client.timeout)
			http.Error(w, fmt.Sprintf("the quote service did not answer within %v", client.timeout), http.StatusGatewayTimeout)
		case err != nil:
			counts.failed.Add(1)
			logger.Warn("downstream failed", "topic", topic, "err", err)
			http.Error(w, err.Error(), http.StatusBadGateway)
		default:
			counts.served.Add(1)
			fmt.Fprintln(w, quote)
		}
	})
}
