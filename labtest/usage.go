package labtest

import (
	"strings"
	"testing"
)

// ExpectUsageErrors starts the program once with each command line and
// checks that it is refused as a usage error: exit code 2 and a single line
// saying what is wrong, before anything listens.
func ExpectUsageErrors(t *testing.T, commandLines [][]string) {
	t.Helper()
	for _, args := range commandLines {
		p := Start(t, append([]string{"-log-format", "json"}, args...)...)
		// A bad flag ends the program at once; the bound is StartBound
		// only because a busy machine can take that long to start it.
		code := p.ExitWithin(StartBound, "a bad flag should end the program at once")
		out := strings.TrimSpace(p.Log().Text())
		if code != 2 || strings.Count(out, "\n") != 0 || p.Log().Has("listening") {
			t.Errorf("with %q: exit code %d and output:\n%s\nwant exit code 2 and a single line saying what is wrong.", args, code, out)
		}
	}
}
