package main

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// span is one span as the tests read it, whichever way it reached them: the
// SDK's in-memory recorder, the OTLP protobuf a collector receives, or the
// stdout exporter's JSON. One shape lets one function check them all.
type span struct {
	Name       string
	TraceID    string // hex
	SpanID     string // hex
	ParentID   string // hex; "" for a root span
	Start, End time.Time
	Attrs      map[string]any // string, float64, int64 or bool
	Status     string         // "Unset", "Ok" or "Error"
	StatusMsg  string
	Events     []spanEvent
	Resource   map[string]any // empty where the source does not carry it
}

type spanEvent struct {
	Name  string
	Attrs map[string]any
}

func (s span) String() string {
	status := s.Status
	if s.StatusMsg != "" {
		status += fmt.Sprintf(" %q", s.StatusMsg)
	}
	parent := "no parent"
	if s.ParentID != "" {
		parent = "parent " + s.ParentID
	}
	var events []string
	for _, e := range s.Events {
		events = append(events, e.Name)
	}
	return fmt.Sprintf("%q span %s, %s, %v long, status %s, attributes %v, events %v",
		s.Name, s.SpanID, parent, s.End.Sub(s.Start).Round(time.Microsecond), status, s.Attrs, events)
}

// describeSpans lists spans for a failure message.
func describeSpans(spans []span) string {
	if len(spans) == 0 {
		return "  (none)"
	}
	var lines []string
	for _, s := range spans {
		lines = append(lines, "  "+s.String())
	}
	return strings.Join(lines, "\n")
}

// --- from the SDK (in-process tests) ---

func spansFromSDK(ro []sdktrace.ReadOnlySpan) []span {
	var out []span
	for _, s := range ro {
		sp := span{
			Name:      s.Name(),
			TraceID:   s.SpanContext().TraceID().String(),
			SpanID:    s.SpanContext().SpanID().String(),
			Start:     s.StartTime(),
			End:       s.EndTime(),
			Attrs:     map[string]any{},
			Status:    s.Status().Code.String(),
			StatusMsg: s.Status().Description,
		}
		if s.Parent().IsValid() {
			sp.ParentID = s.Parent().SpanID().String()
		}
		for _, kv := range s.Attributes() {
			sp.Attrs[string(kv.Key)] = kv.Value.AsInterface()
		}
		for _, e := range s.Events() {
			ev := spanEvent{Name: e.Name, Attrs: map[string]any{}}
			for _, kv := range e.Attributes {
				ev.Attrs[string(kv.Key)] = kv.Value.AsInterface()
			}
			sp.Events = append(sp.Events, ev)
		}
		out = append(out, sp)
	}
	return out
}

// --- from OTLP (what a collector receives) ---

func spansFromOTLP(rss []*tracepb.ResourceSpans) []span {
	var out []span
	for _, rs := range rss {
		res := otlpAttrs(rs.GetResource().GetAttributes())
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				sp := span{
					Name:      s.GetName(),
					TraceID:   hex.EncodeToString(s.GetTraceId()),
					SpanID:    hex.EncodeToString(s.GetSpanId()),
					ParentID:  hex.EncodeToString(s.GetParentSpanId()),
					Start:     time.Unix(0, int64(s.GetStartTimeUnixNano())),
					End:       time.Unix(0, int64(s.GetEndTimeUnixNano())),
					Attrs:     otlpAttrs(s.GetAttributes()),
					StatusMsg: s.GetStatus().GetMessage(),
					Resource:  res,
				}
				switch s.GetStatus().GetCode() {
				case tracepb.Status_STATUS_CODE_ERROR:
					sp.Status = "Error"
				case tracepb.Status_STATUS_CODE_OK:
					sp.Status = "Ok"
				default:
					sp.Status = "Unset"
				}
				for _, e := range s.GetEvents() {
					sp.Events = append(sp.Events, spanEvent{Name: e.GetName(), Attrs: otlpAttrs(e.GetAttributes())})
				}
				out = append(out, sp)
			}
		}
	}
	return out
}

func otlpAttrs(kvs []*commonpb.KeyValue) map[string]any {
	m := map[string]any{}
	for _, kv := range kvs {
		switch v := kv.GetValue().GetValue().(type) {
		case *commonpb.AnyValue_StringValue:
			m[kv.GetKey()] = v.StringValue
		case *commonpb.AnyValue_DoubleValue:
			m[kv.GetKey()] = v.DoubleValue
		case *commonpb.AnyValue_IntValue:
			m[kv.GetKey()] = v.IntValue
		case *commonpb.AnyValue_BoolValue:
			m[kv.GetKey()] = v.BoolValue
		default:
			m[kv.GetKey()] = kv.GetValue().String()
		}
	}
	return m
}

// --- from the stdout exporter's JSON, one span a line ---

type stdoutSpan struct {
	Name        string
	SpanContext struct{ TraceID, SpanID string }
	Parent      struct{ TraceID, SpanID string }
	StartTime   time.Time
	EndTime     time.Time
	Attributes  []stdoutKV
	Events      []struct {
		Name       string
		Attributes []stdoutKV
	}
	Status struct{ Code, Description string }
}

type stdoutKV struct {
	Key   string
	Value struct {
		Type  string
		Value any
	}
}

func stdoutAttrs(kvs []stdoutKV) map[string]any {
	m := map[string]any{}
	for _, kv := range kvs {
		v := kv.Value.Value
		if f, ok := v.(float64); ok && kv.Value.Type == "INT64" {
			v = int64(f)
		}
		m[kv.Key] = v
	}
	return m
}

// spansFromStdout reads the stdout exporter's output; what is not a span is
// an error.
func spansFromStdout(r io.Reader) ([]span, error) {
	var out []span
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var s stdoutSpan
		if err := json.Unmarshal([]byte(line), &s); err != nil || s.Name == "" {
			return out, fmt.Errorf("standard output has a line that is not a span: %.200q", line)
		}
		sp := span{
			Name:      s.Name,
			TraceID:   s.SpanContext.TraceID,
			SpanID:    s.SpanContext.SpanID,
			Start:     s.StartTime,
			End:       s.EndTime,
			Attrs:     stdoutAttrs(s.Attributes),
			Status:    s.Status.Code,
			StatusMsg: s.Status.Description,
		}
		if strings.Trim(s.Parent.SpanID, "0") != "" {
			sp.ParentID = s.Parent.SpanID
		}
		for _, e := range s.Events {
			sp.Events = append(sp.Events, spanEvent{Name: e.Name, Attrs: stdoutAttrs(e.Attributes)})
		}
		out = append(out, sp)
	}
	return out, sc.Err()
}

// --- the check ---

// Attribute keys the spans must carry (see the README).
const (
	keyPhaseName     = "shutdown.phase.name"
	keyPhaseDuration = "shutdown.phase.duration"
)

// wantPhase is a phase the trace must show, in the order the phases ran.
type wantPhase struct {
	name   string
	failed bool
	span   string // a span the phase's stop function starts itself, if any
}

// durationSlack is how far the shutdown.phase.duration attribute may exceed
// the span's own length, for rounding: the lifecycle times the phase after
// the span has started and before it ends, so the span contains it.
const durationSlack = time.Millisecond

// traceProblems checks that spans are the trace of one shutdown: one root
// span "shutdown" and, as its children, one span per phase in want, in that
// order, with the phase's name and duration as attributes and, for a phase
// that failed, its error and the status Error. The root's status is Error
// if and only if a phase failed. It returns what is wrong, for a person, or
// nil.
func traceProblems(spans []span, want []wantPhase) []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	var roots []span
	for _, s := range spans {
		if s.Name == "shutdown" {
			roots = append(roots, s)
		}
	}
	switch {
	case len(spans) == 0:
		return []string{"there is no span at all: is each phase given a span, and the shutdown one?"}
	case len(roots) == 0:
		return []string{"there is no span named \"shutdown\", the root that covers the whole shutdown. " +
			"Start it before the lifecycle's Shutdown and end it after, before the provider is flushed and shut down: " +
			"the provider drops a span that ends after its Shutdown."}
	case len(roots) > 1:
		return []string{fmt.Sprintf("there are %d spans named \"shutdown\"; want one root for the whole shutdown", len(roots))}
	}
	root := roots[0]
	if root.ParentID != "" {
		add("the \"shutdown\" span has a parent (%s); want it to be the root of the trace", root.ParentID)
	}

	// The spans that stop functions start themselves: not phases, but parts
	// of the shutdown, so in its trace, under the root span.
	own := map[string]string{} // span name: its phase
	for _, w := range want {
		if w.span != "" {
			own[w.span] = w.name
		}
	}
	var children []span
	for _, s := range spans {
		if s.SpanID == root.SpanID {
			continue
		}
		if phase, ok := own[s.Name]; ok {
			delete(own, s.Name)
			if s.TraceID != root.TraceID || s.ParentID != root.SpanID {
				add("the %q span, which the %q phase's stop function started from the context the lifecycle gave it, is not in the shutdown's trace "+
					"(trace %s, parent %q; the root is span %s of trace %s): a stop function's context comes from the one passed to lc.Shutdown, "+
					"so pass lc.Shutdown the context that carries the root span, the one the root span's Start returned. Then whatever a stop "+
					"function traces (an instrumented database, HTTP or Kafka client) joins the shutdown's trace instead of starting one of its own",
					s.Name, phase, s.TraceID, s.ParentID, root.SpanID, root.TraceID)
			}
			continue
		}
		if s.TraceID != root.TraceID || s.ParentID != root.SpanID {
			add("the %q span is not a child of the \"shutdown\" span (trace %s, parent %q; the root is span %s of trace %s): "+
				"start each phase's span from the context that carries the root span, not from a context without it, "+
				"such as context.Background()", s.Name, s.TraceID, s.ParentID, root.SpanID, root.TraceID)
			continue
		}
		children = append(children, s)
	}
	for name, phase := range own {
		add("there is no %q span, which the %q phase's stop function started from the context it was given; want it in the trace, "+
			"under the root span: pass lc.Shutdown the context that carries the root span", name, phase)
	}
	slices.SortStableFunc(children, func(a, b span) int { return a.Start.Compare(b.Start) })
	var got, wantNames []string
	for _, c := range children {
		got = append(got, c.Name)
	}
	for _, w := range want {
		wantNames = append(wantNames, w.name)
	}
	if !slices.Equal(got, wantNames) {
		add("the children of \"shutdown\", in the order they started, are %q; want one span per phase, named after it, "+
			"in the order the phases ran: %q", got, wantNames)
		return problems
	}

	anyFailed := false
	for i, w := range want {
		c := children[i]
		if c.Start.Before(root.Start) || c.End.After(root.End) {
			add("the %q span (%v to %v) does not lie within the \"shutdown\" span (%v to %v): "+
				"the root span starts before the first phase and ends after the last",
				c.Name, c.Start.Format(time.StampMicro), c.End.Format(time.StampMicro),
				root.Start.Format(time.StampMicro), root.End.Format(time.StampMicro))
		}
		if name, ok := c.Attrs[keyPhaseName].(string); !ok || name != w.name {
			add("the %q span's attribute %s is %#v; want the phase's name, %q, as a string", c.Name, keyPhaseName, c.Attrs[keyPhaseName], w.name)
		}
		length := c.End.Sub(c.Start)
		if d, ok := c.Attrs[keyPhaseDuration].(float64); !ok {
			add("the %q span's attribute %s is %#v; want the phase's duration in seconds, as a float64 "+
				"(attribute.Float64, took.Seconds())", c.Name, keyPhaseDuration, c.Attrs[keyPhaseDuration])
		} else if d <= 0 || d > (length+durationSlack).Seconds() {
			add("the %q span's %s is %v, but the span lasted %v s; want the phase's duration in seconds, "+
				"which the span, open from just before the phase to just after, contains",
				c.Name, keyPhaseDuration, d, length.Seconds())
		}
		exception := slices.ContainsFunc(c.Events, func(e spanEvent) bool {
			msg, _ := e.Attrs["exception.message"].(string)
			return e.Name == "exception" && msg != ""
		})
		switch {
		case w.failed && c.Status != "Error":
			add("the %q phase failed, but its span's status is %s; want Error, with the error as its description: "+
				"span.RecordError only adds an event, span.SetStatus(codes.Error, err.Error()) marks the span as failed", c.Name, c.Status)
		case w.failed && c.StatusMsg == "":
			add("the %q span's status is Error with no description; want the error's text", c.Name)
		case w.failed && !exception:
			add("the %q phase failed, but its span has no \"exception\" event with the error's message: record it with span.RecordError(err)", c.Name)
		case !w.failed && (c.Status == "Error" || exception):
			add("the %q phase succeeded, but its span says it failed (status %s, events %v)", c.Name, c.Status, c.Events)
		case !w.failed && c.Status != "Unset":
			add("the %q phase succeeded, and its span's status is %s; want Unset: set a status only on failure. "+
				"Ok is final (the SDK then ignores a later SetStatus(codes.Error)), and OpenTelemetry leaves it to the application's "+
				"own explicit decision: instrumentation such as this observer keeps successful spans Unset", c.Name, c.Status)
		}
		anyFailed = anyFailed || w.failed
	}
	switch {
	case anyFailed && root.Status != "Error":
		add("a phase failed, so the shutdown as a whole did; want the \"shutdown\" span's status Error, not %s", root.Status)
	case !anyFailed && root.Status == "Error":
		add("every phase succeeded, but the \"shutdown\" span's status is Error (%q)", root.StatusMsg)
	case !anyFailed && root.Status != "Unset":
		add("every phase succeeded, and the \"shutdown\" span's status is %s; want Unset: set a status only on failure "+
			"(Ok is final, and OpenTelemetry leaves it to the application's own explicit decision)", root.Status)
	}
	return problems
}
