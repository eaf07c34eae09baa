package service

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// quotes are the embedded quote service's answers, by topic.
var quotes = map[string]string{
	"goroutines":  "Every goroutine you start needs a way to end.",
	"channels":    "A send that nobody will ever receive waits forever.",
	"contexts":    "A context says when to stop; only the code that watches it stops.",
	"connections": "Close the body, or the connection stays yours.",
	"tickers":     "Stopping a ticker stops the ticks, not the loop that waits for them.",
	"signals":     "signal.Stop ends the deliveries, not the goroutine that reads them.",
	"shutdown":    "Finish what you started, refuse what you cannot finish, release what you hold.",
}

// quoteService is the stand-in for the downstream service that Run uses
// when -downstream names none: a real HTTP server on a loopback port, in
// this process, so that a machine with nothing else running can try the
// program. GET /quote?topic=T answers {"topic":T,"quote":...} after delay,
// or 404 at once for a topic it has no quote about.
type quoteService struct {
	srv *http.Server
	url string
}

func startQuoteService(delay time.Duration, logger *slog.Logger) (*quoteService, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("embedded quote service: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /quote", func(w http.ResponseWriter, r *http.Request) {
		topic := r.URL.Query().Get("topic")
		quote, ok := quotes[topic]
		if !ok {
			// A miss is a quick lookup: no delay.
			http.Error(w, fmt.Sprintf("no quote about %q", topic), http.StatusNotFound)
			return
		}
		// A quote takes delay, unless the caller gives up first.
		wait := time.NewTimer(delay)
		defer wait.Stop()
		select {
		case <-wait.C:
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"topic": topic, "quote": quote})
	})
	qs := &quoteService{
		srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second},
		url: "http://" + ln.Addr().String(),
	}
	go func() { _ = qs.srv.Serve(ln) }()
	logger.Info("quote service started", "url", qs.url)
	return qs, nil
}

// stop is the quote service's phase, the last to run: everything that
// calls it has stopped by then.
func (qs *quoteService) stop(ctx context.Context) error {
	if err := qs.srv.Shutdown(ctx); err != nil {
		_ = qs.srv.Close()
		return err
	}
	return nil
}
