package timeline

import (
	"fmt"
	"html"
	"io"
	"strings"
)

// SVG draws the picture as an SVG image, for slides: the same rows as
// Text, with the axis in seconds and the signal as a red line at zero.
func (p Picture) SVG(w io.Writer) error {
	const (
		left, chart, right = 230.0, 600.0, 260.0
		top, rowH          = 64.0, 24.0
		width              = left + chart + right
	)
	height := top + rowH*float64(len(p.Rows)) + 40
	x := func(f float64) float64 { return left + f*chart }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="Helvetica, Arial, sans-serif" font-size="13">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="#ffffff"/>`+"\n")
	fmt.Fprintf(&b, `<text x="16" y="26" font-size="16" font-weight="bold">%s</text>`+"\n", html.EscapeString(p.Title))
	for _, t := range p.ticks(9) {
		tx := x(p.frac(t))
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#dddddd"/>`+"\n", tx, top-8, tx, height-30)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" fill="#666666">%s</text>`+"\n", tx, top-14, tickLabel(t))
	}
	for i, r := range p.Rows {
		y := top + rowH*float64(i)
		fmt.Fprintf(&b, `<text x="16" y="%.1f">%s</text>`+"\n", y+16, html.EscapeString(clip(r.Label, 34)))
		colour := map[Kind]string{Request: "#4e79a7", Shutdown: "#9c9c9c", Phase: "#59a14f", Point: "#f28e2b"}[r.Kind]
		if r.Failed {
			colour = "#e15759"
		}
		x0, x1 := x(p.frac(r.Start)), x(p.frac(r.End))
		note := r.Note
		if r.Kind == Point {
			fmt.Fprintf(&b, `<path d="M %.1f %.1f l 6 6 l -6 6 l -6 -6 z" fill="%s"><title>%s</title></path>`+"\n", x0, y+5, colour, html.EscapeString(r.Label))
			note = strings.TrimSpace(fmt.Sprintf("%+.3fs %s", r.Start.Seconds(), r.Note))
		} else {
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="14" rx="3" fill="%s"><title>%s</title></rect>`+"\n", x0, y+5, max(x1-x0, 2), colour, html.EscapeString(r.Label+": "+r.Note))
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" fill="#444444">%s</text>`+"\n", left+chart+12, y+16, html.EscapeString(clip(note, 40)))
	}
	zx := x(p.frac(0))
	fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e15759" stroke-width="2"/>`+"\n", zx, top-8, zx, height-30)
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" fill="#e15759" font-weight="bold">SIGTERM</text>`+"\n", zx, height-12)
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}
