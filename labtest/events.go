package labtest

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// Event is one line the program logged with slog's JSON handler.
type Event map[string]any

// Msg is the event's message, such as "listening" or "exited".
func (e Event) Msg() string { return e.Str("msg") }

// Level is the event's level: DEBUG, INFO, WARN or ERROR.
func (e Event) Level() string { return e.Str("level") }

// Time is when the program logged the event, by its own clock: the right
// clock for the gaps between its events, free of the pipe's delays.
func (e Event) Time() (time.Time, error) {
	return time.Parse(time.RFC3339Nano, e.Str("time"))
}

// EventTime is ev.Time for a test: an event without a readable time fails it.
func EventTime(t testing.TB, ev Event) time.Time {
	t.Helper()
	at, err := ev.Time()
	if err != nil {
		t.Fatalf("event %q has no time the test can read: %v", ev.Msg(), err)
	}
	return at
}

// Str is the attribute key as text, or "" if the event does not have it.
func (e Event) Str(key string) string {
	switch v := e[key].(type) {
	case nil:
		return ""
	case string:
		return v
	default:
		return fmt.Sprint(v)
	}
}

// EventLog collects a program's events as they arrive. Lines that are not
// JSON (a panic, a race report, a usage message) are kept as text.
type EventLog struct {
	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every new line
	events  []Event
	lines   []string
}

func newEventLog() *EventLog { return &EventLog{changed: make(chan struct{})} }

// NewEventLog returns an EventLog fed through its Write method, for tests
// that call run in-process and pass the log as its standard error.
func NewEventLog() *EventLog { return newEventLog() }

// Write takes whole lines of output, as slog writes them.
func (l *EventLog) Write(p []byte) (int, error) {
	for line := range strings.SplitSeq(strings.TrimRight(string(p), "\n"), "\n") {
		l.add(line)
	}
	return len(p), nil
}

func (l *EventLog) read(r io.Reader) { scanLines(r, l.add) }

func (l *EventLog) add(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, line)
	var ev Event
	if json.Unmarshal([]byte(line), &ev) == nil && ev.Msg() != "" {
		l.events = append(l.events, ev)
	}
	close(l.changed)
	l.changed = make(chan struct{})
}

// Events is a copy of the events so far, in the order they were logged.
func (l *EventLog) Events() []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Event(nil), l.events...)
}

// Index is the position of the first event with message msg, or -1.
func (l *EventLog) Index(msg string) int {
	for i, ev := range l.Events() {
		if ev.Msg() == msg {
			return i
		}
	}
	return -1
}

// Has reports whether an event with message msg was logged.
func (l *EventLog) Has(msg string) bool { return l.Index(msg) >= 0 }

// Count is how many events with message msg were logged.
func (l *EventLog) Count(msg string) int {
	n := 0
	for _, ev := range l.Events() {
		if ev.Msg() == msg {
			n++
		}
	}
	return n
}

// AtLevel is every event logged at level (such as "ERROR").
func (l *EventLog) AtLevel(level string) []Event {
	var out []Event
	for _, ev := range l.Events() {
		if ev.Level() == level {
			out = append(out, ev)
		}
	}
	return out
}

// Text is every line logged so far.
func (l *EventLog) Text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lines) == 0 {
		return "(nothing)\n"
	}
	return strings.Join(l.lines, "\n") + "\n"
}

// WaitFor returns the first event with message msg once it is logged. It
// gives up after within, or when stop is closed (the program exited).
func (l *EventLog) WaitFor(msg string, within time.Duration, stop <-chan struct{}) (Event, error) {
	return l.WaitForMatch(fmt.Sprintf("%q", msg), func(ev Event) bool { return ev.Msg() == msg }, within, stop)
}

// WaitForMatch returns the first event that match accepts once it is
// logged; what describes such an event for the error. It gives up after
// within, or when stop is closed (the program exited).
func (l *EventLog) WaitForMatch(what string, match func(Event) bool, within time.Duration, stop <-chan struct{}) (Event, error) {
	timeout := time.After(within)
	for {
		l.mu.Lock()
		for _, ev := range l.events {
			if match(ev) {
				l.mu.Unlock()
				return ev, nil
			}
		}
		changed := l.changed
		l.mu.Unlock()
		select {
		case <-changed:
		case <-stop:
			// The last lines may have arrived with the exit; look once more.
			for _, ev := range l.Events() {
				if match(ev) {
					return ev, nil
				}
			}
			return nil, fmt.Errorf("the program exited without logging %s", what)
		case <-timeout:
			return nil, fmt.Errorf("the program did not log %s within %v", what, within)
		}
	}
}
