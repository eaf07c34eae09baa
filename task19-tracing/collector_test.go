package main

import (
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// collectorMode is how the test's collector answers an export.
type collectorMode int

const (
	// answers: takes the spans and answers 200, as a healthy collector does.
	answers collectorMode = iota
	// hangs: accepts the connection and never answers, as a collector that
	// is overloaded, or behind a network that drops packets, looks.
	hangs
	// refuses: answers 401, as a collector that wants an API key
	// (OTEL_EXPORTER_OTLP_HEADERS) does. The exporter does not retry it.
	refuses
)

// collector is an OTLP/HTTP receiver for traces, as an OpenTelemetry
// Collector runs one on :4318: it decodes each export request (protobuf,
// gzipped or not) and keeps the spans.
type collector struct {
	URL  string // for OTEL_EXPORTER_OTLP_ENDPOINT
	mode collectorMode

	close func() // stops it; safe to call more than once

	mu       sync.Mutex
	spans    []span
	requests int
	problems []string // requests it could not make sense of
}

// startCollector runs a collector until the test ends.
func startCollector(t *testing.T, mode collectorMode) *collector {
	t.Helper()
	c := &collector{mode: mode}
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.export(w, r, stop)
	}))
	c.URL = srv.URL
	var once sync.Once
	c.close = func() {
		once.Do(func() {
			close(stop) // releases the handlers that hang, so that Close can wait for them
			srv.Close()
		})
	}
	t.Cleanup(c.close)
	return c
}

// Close stops the collector and closes every connection to it.
func (c *collector) Close() { c.close() }

func (c *collector) export(w http.ResponseWriter, r *http.Request, stop <-chan struct{}) {
	c.mu.Lock()
	c.requests++
	c.mu.Unlock()
	switch c.mode {
	case hangs:
		// Until the exporter gives up (the request's context ends when its
		// connection closes) or the test ends.
		select {
		case <-r.Context().Done():
		case <-stop:
		}
		return
	case refuses:
		http.Error(w, "missing API key", http.StatusUnauthorized)
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" {
		c.problem("%s %s: want POST /v1/traces", r.Method, r.URL.Path)
		http.NotFound(w, r)
		return
	}
	body := io.Reader(r.Body)
	if r.Header.Get("Content-Encoding") == "gzip" {
		gz, err := gzip.NewReader(r.Body)
		if err != nil {
			c.problem("gzip: %v", err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		defer gz.Close()
		body = gz
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		c.problem("reading the request: %v", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var req coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(raw, &req); err != nil {
		c.problem("a %s body that is not an OTLP ExportTraceServiceRequest: %v", r.Header.Get("Content-Type"), err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	c.spans = append(c.spans, spansFromOTLP(req.GetResourceSpans())...)
	c.mu.Unlock()
	resp, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(resp)
}

func (c *collector) problem(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.problems = append(c.problems, fmt.Sprintf(format, args...))
}

// Spans is every span received so far.
func (c *collector) Spans() []span {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]span(nil), c.spans...)
}

// Requests is how many export requests arrived.
func (c *collector) Requests() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.requests
}

// Problems is what the collector could not decode.
func (c *collector) Problems() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.problems...)
}

// env is the environment that points the program's exporter at c. The
// batch processor's own timer is set past any test's length, so that only
// the flush at exit can send the spans: a batch not flushed never leaves.
// Variables that a developer's shell may set, and that would send the spans
// elsewhere or in another form, are blanked (the SDK treats "" as unset).
func (c *collector) env() []string {
	return []string{
		"OTEL_EXPORTER_OTLP_ENDPOINT=" + c.URL,
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=",
		"OTEL_EXPORTER_OTLP_PROTOCOL=",
		"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=",
		"OTEL_TRACES_SAMPLER=",
		"OTEL_BSP_SCHEDULE_DELAY=600000",
	}
}
