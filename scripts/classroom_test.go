package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gracefulshutdown.lab/scripts/internal/workspace"
)

// The Classroom workflow has one graded test per task of the lab, each
// running that task's subtest of the root's TestLab, and its reporter adds
// up every one of them: a task added to the lab and not to the workflow
// would be worth nothing to a class.
func TestClassroomWorkflowGradesEveryTask(t *testing.T) {
	root, err := workspace.FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	ws, err := workspace.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, ".github", "workflows", "classroom.yml"))
	if err != nil {
		t.Fatal(err)
	}
	workflow := string(b)
	var ids []string
	for _, task := range ws.Present() {
		ids = append(ids, task.Dir)
		for _, want := range []string{
			"id: " + task.Dir + "\n",
			"command: go test -count=1 -run '^TestLab$/^" + task.Dir + "$' .\n",
			strings.ToUpper(task.Dir) + `_RESULTS: "${{ steps.` + task.Dir + `.outputs.result }}"`,
		} {
			if !strings.Contains(workflow, want) {
				t.Errorf(".github/workflows/classroom.yml lacks %q for %s", want, task.Dir)
			}
		}
	}
	if want := "runners: " + strings.Join(ids, ",") + "\n"; !strings.Contains(workflow, want) {
		t.Errorf(".github/workflows/classroom.yml's reporter does not list every task's step: want %q", want)
	}
}
