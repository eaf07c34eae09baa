package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// Tasks 11 to 20 each carry task 8's lifecycle package, solved, as a copy
// (a task folder is a module of its own, and a learner reads it whole). A
// fix made in one copy must be made in all: this says which have drifted.
func TestEveryServiceCarriesTask8sSolvedLifecycle(t *testing.T) {
	want, err := os.ReadFile(filepath.Join("..", "solutions", "task08-phase-machine", "lifecycle", "lifecycle.go"))
	if err != nil {
		t.Fatal(err)
	}
	copies, err := filepath.Glob(filepath.Join("..", "task*", "lifecycle", "lifecycle.go"))
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, c := range copies {
		if filepath.Base(filepath.Dir(filepath.Dir(c))) == "task08-phase-machine" {
			continue // the starter, which the learner solves
		}
		got, err := os.ReadFile(c)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from solutions/task08-phase-machine/lifecycle/lifecycle.go: copy the fix to every task's lifecycle", c)
		}
		checked++
	}
	if checked < 10 {
		t.Errorf("found %d copies of the lifecycle package in tasks 11 to 20, want 10", checked)
	}
}
