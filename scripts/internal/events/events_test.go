package events

import (
	"testing"
	"time"
)

func TestParseKeepsTheAttributesInOrder(t *testing.T) {
	ev, ok := Parse(`{"time":"2026-11-26T16:02:27.200005284Z","level":"INFO","msg":"phase done","phase":"http server","duration":156896,"nested":{"a": 1}}`)
	if !ok {
		t.Fatal("a slog JSON line was not read as an event")
	}
	if ev.Msg != "phase done" || ev.Level != "INFO" || ev.Time.Nanosecond() != 200005284 {
		t.Errorf("event = %+v", ev)
	}
	want := []Attr{{"phase", "http server"}, {"duration", "156896"}, {"nested", `{"a":1}`}}
	if len(ev.Attrs) != len(want) {
		t.Fatalf("attrs = %q, want %q", ev.Attrs, want)
	}
	for i := range want {
		if ev.Attrs[i] != want[i] {
			t.Errorf("attr %d = %q, want %q", i, ev.Attrs[i], want[i])
		}
	}
	if d, ok := ev.Duration("duration"); !ok || d != 156896*time.Nanosecond {
		t.Errorf("Duration(duration) = %v, %v", d, ok)
	}
}

func TestParseRejectsWhatIsNotAnEvent(t *testing.T) {
	for _, line := range []string{"panic: boom", "", `{"msg":"no time"}`, `time=2026 level=INFO msg=listening`, `[1,2]`} {
		if _, ok := Parse(line); ok {
			t.Errorf("Parse(%q) read an event", line)
		}
	}
}
