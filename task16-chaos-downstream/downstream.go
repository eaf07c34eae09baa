package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
)

// downstream is the service this one calls to answer a request: a backend,
// a partner's API, anything on the other end of the network that can be
// slow. -downstream names it; without it, run starts a stand-in (standin.go).
type downstream struct {
	url    string
	client *http.Client
}

// newDownstream returns the caller of the service at url. Its transport is
// its own rather than http.DefaultTransport, so that run can close the
// connections it keeps open when it returns.
func newDownstream(url string) downstream {
	return downstream{url: url, client: &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}}
}

// handler answers / with what the downstream answers. The call carries the
// request's context, so it lasts as long as the request does and no
// longer: when the client goes away, or a forced close cuts the
// connection, the context is cancelled and the call with it, and nothing
// goes on waiting for an answer that nobody will read.
//
// The call has no timeout of its own, here on purpose: a real service
// would bound it (task 9's per-handler timeout), but this one leaves a slow
// downstream to the shutdown's deadline and its Close fallback, the path
// that task 16's test proves.
func (d downstream) handler(logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		logger.Info("request started", "path", r.URL.Path)
		body, err := d.call(r.Context())
		if err != nil {
			// After a forced close nobody reads this 502: the connection
			// is gone. The event still says that the call was cancelled.
			logger.Warn("downstream call failed", "err", err)
			http.Error(w, "the downstream service failed", http.StatusBadGateway)
			return
		}
		_, _ = w.Write(body)
	})
}

// call asks the downstream, within ctx, and returns its answer.
func (d downstream) call(ctx context.Context) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("the downstream answered %s", resp.Status)
	}
	// An answer is a line or two; a megabyte is plenty.
	return io.ReadAll(io.LimitReader(resp.Body, 1<<20))
}
