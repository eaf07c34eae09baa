package service

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
)

// maxMessageBytes bounds a message's body: far below what one Kafka batch
// holds (kafka-go's BatchBytes, 1 MiB by default), so one message always fits.
const maxMessageBytes = 64 << 10

// eventsHandler is /events: a POST's body is one message for the topic. It
// answers 202 Accepted as soon as the producer has taken the message, which
// is before Kafka has it: the writer sends it later, in a batch. 202 is
// a promise, and the shutdown is where the program keeps it or says it
// could not.
func eventsHandler(prod *producer, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "post the message", http.StatusMethodNotAllowed)
			return
		}
		logger.Info("request started", "path", r.URL.Path)
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxMessageBytes))
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &tooLarge):
			http.Error(w, fmt.Sprintf("message larger than %d bytes", maxMessageBytes), http.StatusRequestEntityTooLarge)
			return
		case err != nil:
			http.Error(w, "cannot read the message: "+err.Error(), http.StatusBadRequest)
			return
		case len(body) == 0:
			http.Error(w, "empty message", http.StatusBadRequest)
			return
		}
		if err := prod.publish(r.Context(), body); err != nil {
			// A closed writer says io.ErrClosedPipe: the producer was
			// stopped while the server still took requests.
			logger.Error("publish failed", "err", err)
			http.Error(w, "message not accepted: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprintln(w, "accepted")
	})
}
