package timeline

import (
	"fmt"
	"io"
	"strings"
)

// Colours, for Text: functions that wrap a string in a terminal's colour,
// or leave it as it is.
type Colours struct {
	Bad, Good, Dim func(string) string
}

// Plain leaves text uncoloured.
var Plain = Colours{Bad: same, Good: same, Dim: same}

func same(s string) string { return s }

const (
	labelWidth = 26
	axisWidth  = 56
)

// Text draws the picture for a terminal: one line per row, bars of █, the
// signal as a column of │ at zero.
func (p Picture) Text(w io.Writer, c Colours) {
	fmt.Fprintf(w, "%s\n\n", p.Title)
	col := func(f float64) int { return int(f*float64(axisWidth-1) + 0.5) }
	zero := col(p.frac(0))

	// The axis: tick labels, then a ruler.
	labels := []rune(strings.Repeat(" ", axisWidth+8))
	ruler := []rune(strings.Repeat("·", axisWidth))
	for _, t := range p.ticks(7) {
		x := col(p.frac(t))
		ruler[x] = '|'
		for i, r := range tickLabel(t) {
			if x+i < len(labels) {
				labels[x+i] = r
			}
		}
	}
	fmt.Fprintf(w, "%-*s %s\n", labelWidth, "", strings.TrimRight(string(labels), " "))
	fmt.Fprintf(w, "%-*s %s\n", labelWidth, "", c.Dim(string(ruler)))

	for _, r := range p.Rows {
		line := []rune(strings.Repeat(" ", axisWidth))
		line[zero] = '│'
		from, to := col(p.frac(r.Start)), col(p.frac(r.End))
		switch r.Kind {
		case Point:
			line[from] = '◆'
		default:
			for x := from; x <= to; x++ {
				line[x] = '█'
			}
		}
		bar := string(line)
		note := r.Note
		if r.Kind == Point {
			note = strings.TrimSpace(fmt.Sprintf("%+.3fs %s", r.Start.Seconds(), r.Note))
		}
		if r.Failed {
			bar, note = c.Bad(bar), c.Bad(note)
		}
		fmt.Fprintf(w, "%-*s %s  %s\n", labelWidth, clip(r.Label, labelWidth), bar, note)
	}
	fmt.Fprintf(w, "\n%-*s %s\n", labelWidth, "", strings.Repeat(" ", zero)+"↑ SIGTERM")
}

// clip shortens s to n runes, marking the cut.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
