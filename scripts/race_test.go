package main

import (
	"regexp"
	"testing"

	"gracefulshutdown.lab/scripts/internal/workspace"
)

// aRace finds a race in a bug's description ("a data race", "races").
var aRace = regexp.MustCompile(`(?i)\braces?\b`)

// A task that runs its tests without the race detector (race = false) must
// not count on it: none of its catalogued bugs or weak tests may be a data
// race, which only the detector would report.
func TestTasksWithoutTheRaceDetectorCatalogueNoRace(t *testing.T) {
	root, err := workspace.FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	ws, err := workspace.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	without := 0
	for _, task := range ws.Present() {
		if task.Meta.RaceDetector() {
			continue
		}
		without++
		for _, b := range task.Meta.Bugs {
			if aRace.MatchString(b.What) {
				t.Errorf("%s: race = false, but bug %s is a race (%q): with the detector off nothing would report it", task.Dir, b.Name, b.What)
			}
		}
		for _, w := range task.Meta.WeakTests {
			if aRace.MatchString(w.What) {
				t.Errorf("%s: race = false, but weak test %s is about a race (%q)", task.Dir, w.Name, w.What)
			}
		}
	}
	if without == 0 {
		t.Error("no task runs without the race detector; task 1 should (race = false in its task.toml)")
	}
}
