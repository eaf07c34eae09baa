package timeline

import (
	"fmt"
	"math"
	"time"
)

// ticks are the moments the axis is marked at: round numbers of seconds,
// zero (the signal) among them, at most max of them.
func (p Picture) ticks(maxTicks int) []time.Duration {
	span := p.span().Seconds()
	step := 0.1
	for _, s := range []float64{0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 30, 60} {
		step = s
		if span/s <= float64(maxTicks-1) {
			break
		}
	}
	var out []time.Duration
	first := math.Ceil(p.From.Seconds()/step) * step
	for s := first; s <= p.To.Seconds()+1e-9; s += step {
		out = append(out, time.Duration(math.Round(s/step)*step*float64(time.Second)))
	}
	return out
}

// tickLabel is a tick as people write it: 0s, 0.5s, -1s.
func tickLabel(d time.Duration) string {
	s := d.Seconds()
	if s == math.Trunc(s) {
		return fmt.Sprintf("%.0fs", s)
	}
	return fmt.Sprintf("%gs", math.Round(s*10)/10)
}

// frac is where t falls on the axis, from 0 (its start) to 1 (its end).
func (p Picture) frac(t time.Duration) float64 {
	f := float64(t-p.From) / float64(p.span())
	return math.Max(0, math.Min(1, f))
}
