package service

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
)

// hub hands each published event to every poll waiting at that moment. It
// keeps no history: an event published while nobody waits is gone. A real
// service would give each event a sequence number and let a poll ask for
// "everything after n", so that a client misses nothing between two polls;
// this lab needs only the waiting.
type hub struct {
	logger *slog.Logger

	mu   sync.Mutex
	next *delivery // what the polls waiting now will get
}

// delivery is one event on its way to the polls that wait for it.
type delivery struct {
	published chan struct{} // closed once event is set
	event     string
	waiting   int // polls still waiting for it; guarded by hub.mu
}

func newHub(logger *slog.Logger) *hub {
	return &hub{logger: logger, next: &delivery{published: make(chan struct{})}}
}

// wait returns the next event published, or, if ctx ends first, why it
// ended: context.Cause(ctx), which is context.DeadlineExceeded for a
// deadline, context.Canceled for a plain cancel, or whatever cause the
// canceller gave. It logs "poll waiting" once the poll is sure to get the
// next event.
func (h *hub) wait(ctx context.Context) (string, error) {
	h.mu.Lock()
	d := h.next
	d.waiting++
	h.mu.Unlock()
	h.logger.Info("poll waiting")

	select {
	case <-d.published:
		return d.event, nil
	case <-ctx.Done():
		h.mu.Lock()
		d.waiting--
		h.mu.Unlock()
		return "", context.Cause(ctx)
	}
}

// publish hands event to every poll waiting now and reports how many
// there were.
func (h *hub) publish(event string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	d := h.next
	h.next = &delivery{published: make(chan struct{})}
	d.event = event
	close(d.published) // after the write: a poll that sees it closed sees event
	return d.waiting
}

// publishHandler is POST /publish: the request's body, one line of text, is
// the event. It answers with the number of polls the event reached.
func publishHandler(h *hub, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "publish with POST: curl -d 'some news' .../publish", http.StatusMethodNotAllowed)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<10))
		event := strings.TrimSpace(string(body))
		switch {
		case err != nil:
			http.Error(w, "an event is one line of at most 1 KiB", http.StatusRequestEntityTooLarge)
			return
		case event == "" || strings.ContainsAny(event, "\r\n"):
			http.Error(w, "an event is one line of text", http.StatusBadRequest)
			return
		}
		n := h.publish(event)
		logger.Info("event published", "polls", n)
		fmt.Fprintf(w, "published to %d poll(s)\n", n)
	})
}
