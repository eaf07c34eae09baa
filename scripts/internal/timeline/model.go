// Package timeline draws one shutdown on a time axis, the signal at zero:
// the requests in flight, each phase as a bar, each event as a point. It
// draws for a terminal and as SVG, for slides.
package timeline

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"gracefulshutdown.lab/scripts/internal/events"
)

// Kind is what a row of the picture shows.
type Kind int

const (
	Request  Kind = iota // a client's request, from sent to answered
	Shutdown             // the whole shutdown, from the signal to the exit
	Phase                // a lifecycle phase, or a stretch between known events
	Point                // one event
)

// Row is one line of the picture.
type Row struct {
	Kind   Kind
	Label  string
	Start  time.Duration // since the signal; negative before it
	End    time.Duration // equal to Start for a point
	Note   string        // the outcome: a status, a duration, an error
	Failed bool          // drawn as a failure: a cut request, a failed phase
}

// RequestResult is what a client of the demo got.
type RequestResult struct {
	Label      string // "GET /"
	Sent, Done time.Time
	Outcome    string // "200 hello", or the error
	Failed     bool
}

// Picture is the whole shutdown, ready to draw.
type Picture struct {
	Title    string
	From, To time.Duration // the axis, relative to the signal
	Rows     []Row
	ExitCode int
}

// Build lays out a shutdown: evs are the program's events, reqs what the
// demo's clients got, signal when SIGTERM was sent, exit when the process
// ended.
func Build(title string, evs []events.Event, reqs []RequestResult, signal, exit time.Time, exitCode int) Picture {
	at := func(t time.Time) time.Duration { return t.Sub(signal) }
	p := Picture{Title: title, ExitCode: exitCode}
	for _, r := range reqs {
		p.Rows = append(p.Rows, Row{Kind: Request, Label: r.Label, Start: at(r.Sent), End: at(r.Done), Note: r.Outcome, Failed: r.Failed})
	}
	p.Rows = append(p.Rows, Row{Kind: Shutdown, Label: "shutdown", Start: 0, End: at(exit), Note: fmt.Sprintf("%.3fs, exit code %d", exit.Sub(signal).Seconds(), exitCode), Failed: exitCode != 0})
	p.Rows = append(p.Rows, phases(evs, at, at(exit))...)
	// The demo starts when its first request is sent (or at the signal):
	// what the program logged before that, but "listening", is its
	// steady state (ticks, start-up), not the story.
	start := signal
	for _, r := range reqs {
		if r.Sent.Before(start) {
			start = r.Sent
		}
	}
	start = start.Add(-100 * time.Millisecond)
	for _, ev := range evs {
		if ev.Time.Before(start) && ev.Msg != "listening" {
			continue
		}
		if ev.Msg == "phase started" || ev.Msg == "phase done" || ev.Msg == "phase failed" {
			continue // drawn as bars
		}
		label := ev.Msg
		if v := ev.Get("phase"); v != "" {
			label += " (" + v + ")"
		}
		p.Rows = append(p.Rows, Row{Kind: Point, Label: label, Start: at(ev.Time), End: at(ev.Time), Failed: ev.Level == "ERROR", Note: attrs(ev)})
	}
	p.From, p.To = 0, at(exit)
	for _, r := range p.Rows {
		p.From = min(p.From, r.Start)
		p.To = max(p.To, r.End)
	}
	// A little room before the first thing drawn.
	p.From -= p.span() / 20
	return p
}

// attrs is what an event says beyond its message, for its note: the
// counts and errors (delivered=100, err=...), not what the row already
// shows.
func attrs(ev events.Event) string {
	var parts []string
	for _, a := range ev.Attrs {
		if a.Key == "phase" || a.Key == "duration" {
			continue
		}
		parts = append(parts, a.Key+"="+a.Value)
	}
	return strings.Join(parts, " ")
}

// span is the axis' length.
func (p Picture) span() time.Duration {
	if d := p.To - p.From; d > 0 {
		return d
	}
	return time.Second
}

// phases are the lifecycle's phases as bars; a program with no phases gets
// the stretches its events mark: the drain delay, the drain.
func phases(evs []events.Event, at func(time.Time) time.Duration, exit time.Duration) []Row {
	var rows []Row
	open := map[string]int{}
	for _, ev := range evs {
		name := ev.Get("phase")
		switch ev.Msg {
		case "phase started":
			open[name] = len(rows)
			rows = append(rows, Row{Kind: Phase, Label: "phase " + name, Start: at(ev.Time), End: exit, Note: "left running", Failed: true})
		case "phase done", "phase failed":
			i, ok := open[name]
			if !ok {
				continue
			}
			rows[i].End = at(ev.Time)
			rows[i].Failed = ev.Msg == "phase failed"
			rows[i].Note = fmt.Sprintf("%.3fs", (rows[i].End - rows[i].Start).Seconds())
			if rows[i].Failed {
				rows[i].Note += ": " + ev.Get("err")
			}
			delete(open, name)
		}
	}
	if len(rows) > 0 {
		return rows
	}
	// No lifecycle: the stretches tasks 1 to 7 log.
	first := func(msgs ...string) (time.Duration, bool) {
		for _, ev := range evs {
			for _, m := range msgs {
				if ev.Msg == m {
					return at(ev.Time), true
				}
			}
		}
		return 0, false
	}
	off, hasOff := first("readiness off")
	drain, hasDrain := first("draining server")
	if hasOff && hasDrain {
		rows = append(rows, Row{Kind: Phase, Label: "drain delay", Start: off, End: drain, Note: fmt.Sprintf("%.3fs", (drain - off).Seconds())})
	}
	if !hasDrain {
		drain, hasDrain = first("shutdown started")
	}
	if end, ok := first("forced close", "exited"); ok && hasDrain {
		_, forced := first("forced close")
		rows = append(rows, Row{Kind: Phase, Label: "drain", Start: drain, End: end, Note: fmt.Sprintf("%.3fs", (end - drain).Seconds()), Failed: forced})
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Start < rows[j].Start })
	return rows
}
