package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"
)

// errTimeout is what quote returns when the quote service has not answered
// within the client's time-out.
var errTimeout = errors.New("the quote service did not answer in time")

// quoteClient calls the quote service. It keeps its connections open
// between calls (HTTP keep-alive), in a Transport of its own.
type quoteClient struct {
	base    string // the quote service's base URL
	timeout time.Duration
	http    *http.Client
	logger  *slog.Logger
}

func newQuoteClient(base string, timeout time.Duration, logger *slog.Logger) *quoteClient {
	return &quoteClient{
		base:    base,
		timeout: timeout,
		// No Client.Timeout: each call gets its deadline from its context.
		http:   &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}},
		logger: logger,
	}
}

// quote asks the quote service for a quote about topic, and gives up when
// ctx ends or after c.timeout, whichever comes first.
//
// The call runs on the caller's goroutine, under a context that ends when
// quote returns: nothing started here outlives it. When the time-out
// fires, the transport abandons the request and closes its connection, and
// Do returns at once.
func (c *quoteClient) quote(ctx context.Context, topic string) (string, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, c.timeout, errTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/quote?topic="+url.QueryEscape(topic), nil)
	if err != nil {
		return "", err
	}
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		if errors.Is(context.Cause(ctx), errTimeout) {
			return "", errTimeout
		}
		return "", err
	}
	// Closed on every path from here, the error statuses included: until
	// it is, the connection belongs to this response, and the transport
	// keeps its read and write loops waiting for it.
	defer resp.Body.Close()
	c.logger.Debug("downstream call", "topic", topic, "status", resp.StatusCode, "duration", time.Since(start))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("the quote service answered %s", resp.Status)
	}
	var answer struct {
		Quote string `json:"quote"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil {
		return "", fmt.Errorf("the quote service's answer: %w", err)
	}
	return answer.Quote, nil
}

// close is the client's phase, run once nothing calls the quote service any
// more: the transport keeps each connection whose response was read to the
// end open for the next call, with a goroutine reading it and another
// writing it, until it is closed; this closes the idle ones.
func (c *quoteClient) close(context.Context) error {
	c.http.CloseIdleConnections()
	return nil
}
