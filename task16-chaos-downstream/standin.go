package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// startStandIn starts a stand-in for the downstream service, for when
// -downstream names none: an HTTP server on a free loopback port that
// answers every request "hello" after delay (20 s by default, the task
// sheet's slow downstream), so that a forced close can be tried by hand on
// a machine with nothing else running. It returns the server and its URL.
//
// It is not part of the service, only something for it to call, so it
// logs no "listening" of its own: the lab's tools send their requests to
// the listener that does.
func startStandIn(delay time.Duration, logger *slog.Logger) (*http.Server, string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			answer := time.NewTimer(delay)
			defer answer.Stop()
			select {
			case <-answer.C:
				fmt.Fprintln(w, "hello")
			case <-r.Context().Done():
				// The caller hung up: its own request was cancelled.
			}
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	go func() { _ = srv.Serve(ln) }()
	url := "http://" + ln.Addr().String() + "/"
	logger.Info("downstream stand-in", "url", url, "delay", delay.String())
	return srv, url, nil
}
