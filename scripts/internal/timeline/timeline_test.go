package timeline

import (
	"bytes"
	"encoding/xml"
	"io"
	"strings"
	"testing"
	"time"

	"gracefulshutdown.lab/scripts/internal/events"
)

// demo is the shutdown of task 8's reference with a request in flight: a
// readiness-free lifecycle of three phases, the http server one forced.
func demo() Picture {
	signal := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return signal.Add(time.Duration(ms) * time.Millisecond) }
	ev := func(ms int, level, msg string, attrs ...events.Attr) events.Event {
		return events.Event{Time: at(ms), Level: level, Msg: msg, Attrs: attrs}
	}
	phase := func(name string) events.Attr { return events.Attr{Key: "phase", Value: name} }
	evs := []events.Event{
		ev(-900, "INFO", "listening", events.Attr{Key: "addr", Value: "127.0.0.1:8080"}),
		ev(-500, "INFO", "request started"),
		ev(1, "INFO", "shutdown started"),
		ev(2, "INFO", "phase started", phase("http server")),
		ev(1003, "ERROR", "forced close", events.Attr{Key: "err", Value: "context deadline exceeded"}),
		ev(1004, "ERROR", "phase failed", phase("http server"), events.Attr{Key: "err", Value: "context deadline exceeded"}),
		ev(1005, "INFO", "phase started", phase("database")),
		ev(1010, "INFO", "phase done", phase("database")),
		ev(1011, "INFO", "exited"),
	}
	reqs := []RequestResult{{Label: "GET /", Sent: at(-520), Done: at(1004), Outcome: "cut: EOF", Failed: true}}
	return Build("Task 8: the shutdown, signal at 0", evs, reqs, signal, at(1013), 1)
}

func TestBuildHasARowForEachRequestPhaseAndEvent(t *testing.T) {
	p := demo()
	var got []string
	for _, r := range p.Rows {
		got = append(got, r.Label)
	}
	want := "GET /|shutdown|phase http server|phase database|listening|request started|shutdown started|forced close|exited"
	if strings.Join(got, "|") != want {
		t.Errorf("rows = %q, want %q", strings.Join(got, "|"), want)
	}
	if r := p.Rows[2]; !r.Failed || r.End-r.Start != 1002*time.Millisecond {
		t.Errorf("the forced http server phase = %+v, want failed, 1.002s long", r)
	}
	if p.From >= -520*time.Millisecond || p.To != 1013*time.Millisecond {
		t.Errorf("axis %v to %v, want it to start before the request (-520ms) and end at the exit (1.013s)", p.From, p.To)
	}
}

func TestSVGIsWellFormed(t *testing.T) {
	var b bytes.Buffer
	if err := demo().SVG(&b); err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(&b)
	root, rects := "", 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("the SVG does not parse as XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			if root == "" {
				root = se.Name.Local
			}
			if se.Name.Local == "rect" {
				rects++
			}
		}
	}
	if root != "svg" {
		t.Errorf("root element %q, want svg", root)
	}
	if rects != 1+4 { // the background, then the request, the shutdown and two phases
		t.Errorf("%d rects, want 5", rects)
	}
}

func TestTextDrawsTheSignalAndTheBars(t *testing.T) {
	var b bytes.Buffer
	demo().Text(&b, Plain)
	out := b.String()
	for _, want := range []string{"↑ SIGTERM", "phase http server", "█", "◆", "0s", "1s", "cut: EOF"} {
		if !strings.Contains(out, want) {
			t.Errorf("the drawing has no %q:\n%s", want, out)
		}
	}
}
