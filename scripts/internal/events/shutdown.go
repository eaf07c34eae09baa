package events

import (
	"fmt"
	"strings"
)

// Story is what a shutdown did, read from its events: what a person wants
// to hear about it in one line.
type Story struct {
	Started      bool     // "shutdown started" was logged
	Exited       bool     // "exited" was logged
	Forced       bool     // "forced close" was logged: requests were cut off
	PhasesDone   []string // in the order they finished
	PhasesFailed []string
	Errors       int // events at level ERROR
}

// Tell reads the story of evs.
func Tell(evs []Event) Story {
	var s Story
	for _, ev := range evs {
		switch ev.Msg {
		case "shutdown started":
			s.Started = true
		case "exited":
			s.Exited = true
		case "forced close":
			s.Forced = true
		case "phase done":
			s.PhasesDone = append(s.PhasesDone, ev.Get("phase"))
		case "phase failed":
			s.PhasesFailed = append(s.PhasesFailed, ev.Get("phase"))
		}
		if ev.Level == "ERROR" {
			s.Errors++
		}
	}
	return s
}

// Summary is the story in words: what was drained and what was cut.
func (s Story) Summary() string {
	var parts []string
	if n := len(s.PhasesDone) + len(s.PhasesFailed); n > 0 {
		part := fmt.Sprintf("%d of %d phases done", len(s.PhasesDone), n)
		if len(s.PhasesFailed) > 0 {
			part += fmt.Sprintf(", failed: %s", strings.Join(s.PhasesFailed, ", "))
		}
		parts = append(parts, part)
	}
	switch {
	case s.Forced:
		parts = append(parts, "requests were cut off (forced close)")
	case s.Started && s.Exited && s.Errors == 0:
		parts = append(parts, "no forced close, no error logged")
	}
	if s.Started && !s.Exited {
		parts = append(parts, `no "exited" event`)
	}
	return strings.Join(parts, "; ")
}
