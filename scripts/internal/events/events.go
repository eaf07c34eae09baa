// Package events reads the events a task's program logs with slog's JSON
// handler, keeping their attributes in the order the program wrote them,
// so that the lab tool can show a shutdown to people: as lines on a
// terminal (run) or as bars on a time axis (timeline).
package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Event is one line of the program's JSON log.
type Event struct {
	Time  time.Time
	Level string // DEBUG, INFO, WARN or ERROR
	Msg   string
	Attrs []Attr // everything else, in order
}

// Attr is one attribute of an event, its value as text.
type Attr struct{ Key, Value string }

// Get is the value of attribute key, or "".
func (e Event) Get(key string) string {
	for _, a := range e.Attrs {
		if a.Key == key {
			return a.Value
		}
	}
	return ""
}

// Parse reads one line. ok is false for a line that is not a JSON event:
// a panic, a race report, a usage message, a text log.
func Parse(line string) (ev Event, ok bool) {
	dec := json.NewDecoder(strings.NewReader(line))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return Event{}, false
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return Event{}, false
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return Event{}, false
		}
		value := text(raw)
		switch key {
		case "time":
			ev.Time, _ = time.Parse(time.RFC3339Nano, value)
		case "level":
			ev.Level = value
		case "msg":
			ev.Msg = value
		default:
			ev.Attrs = append(ev.Attrs, Attr{key, value})
		}
	}
	return ev, ev.Msg != "" && !ev.Time.IsZero()
}

// text is a JSON value as a person would write it: strings unquoted,
// durations in nanoseconds (slog's JSON form) as Go durations where the key
// says so is left to the caller; objects and arrays compacted.
func text(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var b bytes.Buffer
	if json.Compact(&b, raw) == nil {
		return b.String()
	}
	return string(raw)
}

// Duration reads a duration attribute: slog's JSON handler writes a
// time.Duration as integer nanoseconds.
func (e Event) Duration(key string) (time.Duration, bool) {
	v := e.Get(key)
	if v == "" {
		return 0, false
	}
	var ns int64
	if _, err := fmt.Sscan(v, &ns); err == nil {
		return time.Duration(ns), true
	}
	d, err := time.ParseDuration(v)
	return d, err == nil
}
