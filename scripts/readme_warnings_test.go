package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gracefulshutdown.lab/scripts/internal/workspace"
)

// warningWords find the sentences of a README that may name a wrong
// answer: "never …", "do not …", "a test that only …", "… is a race".
var warningWords = regexp.MustCompile(`(?i)\b(never|do not|don't|must not|not enough|is a race|a test that only|wrong|too late|too early|instead of|rather than|not unique|mistake|forget)\b`)

// TestEveryREADMEWarningIsACataloguedBug: a README that warns against a
// mistake promises that the tests catch it. Each sentence that reads like
// a warning is quoted (a phrase of it) by the readme of a bug or a weak
// test, which verify proves caught or rejected; or, when it names no wrong
// answer after all (what the program never does, say), by
// readme_not_wrong_answers. A quote that no longer matches the README is
// stale, and fails too.
func TestEveryREADMEWarningIsACataloguedBug(t *testing.T) {
	root, err := workspace.FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	ws, err := workspace.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range ws.Present() {
		readme, err := os.ReadFile(filepath.Join(task.Path, "README.md"))
		if err != nil {
			t.Fatal(err)
		}
		sentences := readmeSentences(string(readme))
		quotes := map[string]string{} // phrase: who quotes it
		for _, b := range task.Meta.Bugs {
			for _, q := range b.Readme {
				quotes[oneSpace(q)] = "bug " + b.Name
			}
		}
		for _, w := range task.Meta.WeakTests {
			for _, q := range w.Readme {
				quotes[oneSpace(q)] = "weak test " + w.Name
			}
		}
		for _, q := range task.Meta.NotWrongAnswers {
			quotes[oneSpace(q)] = "readme_not_wrong_answers"
		}
		for q, who := range quotes {
			if !strings.Contains(strings.Join(sentences, " "), q) {
				t.Errorf("%s: %s quotes %q, which its README.md no longer says", task.Dir, who, q)
			}
		}
		for _, s := range sentences {
			if !warningWords.MatchString(s) {
				continue
			}
			quoted := false
			for q := range quotes {
				quoted = quoted || strings.Contains(s, q)
			}
			if !quoted {
				t.Errorf("%s: README.md warns %q: quote a phrase of it in the readme of the bug (or weak test) that proves it caught, or in readme_not_wrong_answers if it names none", task.Dir, s)
			}
		}
	}
}

// readmeSentences is a README's prose, code blocks left out, one sentence
// an entry, with its line breaks and runs of spaces made one space.
func readmeSentences(readme string) []string {
	readme = regexp.MustCompile("(?s)```.*?```").ReplaceAllString(readme, "\n")
	var out []string
	for _, s := range regexp.MustCompile(`[.!?:](\s+|$)|\n\s*\n|\n\|`).Split(readme, -1) {
		if s = oneSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func oneSpace(s string) string { return strings.Join(strings.Fields(s), " ") }

// TestEveryTaskRecordsItsRedTeamPass: each task says when wrong answers
// written without the catalogue last tried to pass it, and how they fared.
func TestEveryTaskRecordsItsRedTeamPass(t *testing.T) {
	root, err := workspace.FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	ws, err := workspace.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range ws.Present() {
		r := task.Meta.RedTeam
		switch {
		case r.Date == "" || r.Tried == 0:
			t.Errorf("%s: task.toml has no [red_team] record (date, tried, already_caught, newly_caught)", task.Dir)
		case r.AlreadyCaught+r.NewlyCaught > r.Tried:
			t.Errorf("%s: red_team: %d already caught and %d newly caught of %d tried", task.Dir, r.AlreadyCaught, r.NewlyCaught, r.Tried)
		}
	}
}
