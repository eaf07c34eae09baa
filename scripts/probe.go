package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"
)

// probeEvery is how often --probes asks: often enough to show the moment
// readiness flips, as a load balancer's probe would see it.
const probeEvery = 100 * time.Millisecond

// probe polls /readyz and /healthz where the program serves them (its admin
// listener if it has one) and draws a line whenever their answers change,
// until ctx ends.
func (d *display) probe(ctx context.Context) {
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	defer client.CloseIdleConnections()
	tick := time.NewTicker(probeEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		base := d.probeBase()
		if base == "" {
			continue
		}
		ready, healthy := status(ctx, client, base+"/readyz"), status(ctx, client, base+"/healthz")
		if ready == "404" && healthy == "404" {
			d.note("lab: this program serves no /readyz or /healthz; --probes has nothing to show")
			return
		}
		d.mu.Lock()
		now := fmt.Sprintf("/readyz %s  /healthz %s", ready, healthy)
		if now != d.lastCode {
			d.lastCode = now
			when := d.style.dim(time.Now().Format("15:04:05.000"))
			if !d.zero.IsZero() {
				when = fmt.Sprintf("%+.3fs", time.Since(d.zero).Seconds())
			}
			fmt.Fprintf(d.w, "%-13s %s %s\n", when, d.style.dim("probe"), now)
		}
		d.mu.Unlock()
	}
}

// probeBase is the URL of the listener that serves the probes: the one
// logged as server="admin" if there is one, else the first one logged.
func (d *display) probeBase() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	addr := ""
	for _, ev := range d.evs {
		if ev.Msg != "listening" {
			continue
		}
		if addr == "" || ev.Get("server") == "admin" {
			addr = ev.Get("addr")
		}
	}
	if addr == "" {
		return ""
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// status is the HTTP status of GET url as text, or what went wrong.
func status(ctx context.Context, client *http.Client, url string) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "error"
	}
	resp, err := client.Do(req)
	if err != nil {
		return "refused"
	}
	resp.Body.Close()
	return fmt.Sprint(resp.StatusCode)
}

func (d *display) note(line string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Fprintln(d.w, line)
}
