package workspace

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Meta is a task's task.toml.
type Meta struct {
	Number int    `toml:"number"`
	Title  string `toml:"title"`
	Level  string `toml:"level"`
	// Kind is "program" (the learner writes the program; the default),
	// "test" (the learner writes the test, which is graded in reverse), or
	// "program+test" (both: the learner's program is graded by the lab's
	// tests, and the learner's test in reverse, against the reference
	// program and the catalogued broken ones).
	Kind string `toml:"kind"`
	// Files are the files a learner edits, relative to the task folder;
	// solutions/<task>/ holds the reference answer of each.
	Files []string `toml:"files"`
	// TestFiles are, for kind "program+test", the files among Files that
	// are the learner's test. For kind "test" they are all of Files.
	TestFiles []string `toml:"test_files"`
	// StarterFails are the top-level tests the starter must fail; it must
	// pass every other test.
	StarterFails []string `toml:"starter_fails"`
	Hints        []string `toml:"hints"`
	Bugs         []Bug    `toml:"bugs"`
	// Variants are, for a task that grades the learner's test, correct
	// programs timed differently in ways the task allows (a slow start, a
	// downstream call that starts later): the learner's test must pass on
	// each, so that a test that sleeps instead of waiting, or reads a value
	// once, is told apart from one that works.
	Variants []Variant `toml:"variants"`
	// WeakTests are, for a task that grades the learner's test, wrong tests
	// that learners write: verify proves that the grading rejects each.
	WeakTests []WeakTest `toml:"weak_tests"`
	// LearnerTestTimeout bounds one run of the learner's test, as
	// learner_test_timeout (default 30s): a test that sits out a fixed
	// wait it should not have (a downstream that sleeps its 20 s) runs past
	// it, and a time-out is never a pass.
	LearnerTestTimeout     time.Duration `toml:"-"`
	LearnerTestTimeoutText string        `toml:"learner_test_timeout"`
	// NotWrongAnswers are phrases of the README's sentences that read like
	// a warning (never, do not, …) but name no wrong answer: what the
	// program never does, say. Every other such sentence is the readme of
	// a bug or a weak test (TestEveryREADMEWarningIsACataloguedBug).
	NotWrongAnswers []string `toml:"readme_not_wrong_answers"`
	// RedTeam records the last independent attempt to pass the task with
	// wrong answers, made by people who had not seen the catalogue.
	RedTeam RedTeam `toml:"red_team"`
	Demo    Demo    `toml:"demo"`
}

// RedTeam is the record of a red-team pass: how many wrong answers it
// tried, how many the tests caught already, and how many passed and were
// then catalogued and caught.
type RedTeam struct {
	Date          string `toml:"date"`
	Tried         int    `toml:"tried"`
	AlreadyCaught int    `toml:"already_caught"`
	NewlyCaught   int    `toml:"newly_caught"`
	// Notes say what the pass found, and what it tried that is not a
	// wrong answer after all.
	Notes string `toml:"notes"`
}

// Demo is the scenario that `timeline` plays to show a task's shutdown:
// the program runs with Flags, Requests are sent once it listens, and
// SIGTERM follows SignalAfter later, with the requests in flight.
type Demo struct {
	Flags []string `toml:"flags"`
	// Requests are "METHOD /path" (or just "/path", a GET), each on a
	// connection of its own, to the program's public listener, or to its
	// admin listener with "admin:/path"; "WS /path" opens a WebSocket and
	// holds it until the server closes it. A request that ends in
	// "@DURATION" is sent that long after SIGTERM instead ("GET
	// admin:/metrics @1s": a scrape during the shutdown).
	Requests    []string      `toml:"requests"`
	SignalAfter time.Duration `toml:"-"`
	SignalText  string        `toml:"signal_after"`
}

// Bug is a catalogued wrong answer: a patch against the reference answer,
// kept at solutions/<task>/bugs/<name>.patch.
type Bug struct {
	Name string `toml:"name"`
	What string `toml:"what"`
	// CaughtBy names the test (or tests) that catch the bug; verify runs
	// only those on it, which proves as much in a fraction of the time.
	// Tests of a sub-package are named with it: lifecycle.TestLIFO.
	CaughtBy []string `toml:"caught_by"`
	// Readme quotes the README's warnings against this mistake, a phrase
	// of each sentence.
	Readme []string `toml:"readme"`
}

// Variant is a correct program timed differently, a patch kept at
// solutions/<task>/variants/<name>.patch, on the same files as a bug's.
type Variant struct {
	Name string `toml:"name"`
	What string `toml:"what"`
}

// WeakTest is a wrong learner's test, a patch against the reference test
// kept at solutions/<task>/weak-tests/<name>.patch. It passes on the
// correct program, and the program RejectedBy names (a variant's or a
// bug's name, or "correct" for the correct program itself) shows it wrong:
// it fails on a variant or on the correct program, or passes on a bug.
type WeakTest struct {
	Name       string   `toml:"name"`
	What       string   `toml:"what"`
	RejectedBy string   `toml:"rejected_by"`
	Readme     []string `toml:"readme"`
}

func loadMeta(path string) (*Meta, error) {
	var m Meta
	md, err := toml.DecodeFile(path, &m)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if undecoded := md.Undecoded(); len(undecoded) > 0 {
		return nil, fmt.Errorf("%s: unknown key %q", path, undecoded[0].String())
	}
	if m.Kind == "" {
		m.Kind = "program"
	}
	switch m.Kind {
	case "program":
		if len(m.TestFiles) > 0 {
			return nil, fmt.Errorf("%s: test_files is for kind program+test", path)
		}
	case "test":
		if len(m.TestFiles) == 0 {
			m.TestFiles = m.Files
		}
	case "program+test":
		if len(m.TestFiles) == 0 || len(m.TestFiles) == len(m.Files) {
			return nil, fmt.Errorf("%s: kind program+test needs test_files: the learner's test among files, and a program file besides", path)
		}
		for _, f := range m.TestFiles {
			if !slices.Contains(m.Files, f) || !strings.HasSuffix(f, "_test.go") {
				return nil, fmt.Errorf("%s: test file %q must be a _test.go file listed in files", path, f)
			}
		}
	default:
		return nil, fmt.Errorf("%s: kind %q: want program, test or program+test", path, m.Kind)
	}
	if len(m.Files) == 0 {
		return nil, fmt.Errorf("%s: files is empty: name the files a learner edits", path)
	}
	for _, f := range m.Files {
		if filepath.IsAbs(f) || strings.HasPrefix(filepath.Clean(f), "..") {
			return nil, fmt.Errorf("%s: file %q must be inside the task folder", path, f)
		}
	}
	if err := m.checkGrading(path); err != nil {
		return nil, err
	}
	m.Demo.SignalAfter = 500 * time.Millisecond
	if m.Demo.SignalText != "" {
		d, err := time.ParseDuration(m.Demo.SignalText)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("%s: demo.signal_after %q: want a duration such as 500ms", path, m.Demo.SignalText)
		}
		m.Demo.SignalAfter = d
	}
	if len(m.Demo.Requests) == 0 {
		m.Demo.Requests = []string{"GET /"}
	}
	for _, r := range m.Demo.Requests {
		if _, after, ok := strings.Cut(r, " @"); ok {
			if d, err := time.ParseDuration(after); err != nil || d < 0 {
				return nil, fmt.Errorf("%s: demo request %q: want a duration after @, such as @500ms", path, r)
			}
		}
	}
	for i := range m.Hints {
		m.Hints[i] = strings.TrimSpace(m.Hints[i])
	}
	return &m, nil
}

// checkGrading reads learner_test_timeout and checks that variants and
// weak tests belong to a task that grades a test, and that each weak test
// is rejected by a program the task has.
func (m *Meta) checkGrading(path string) error {
	m.LearnerTestTimeout = 30 * time.Second
	if m.LearnerTestTimeoutText != "" {
		d, err := time.ParseDuration(m.LearnerTestTimeoutText)
		if err != nil || d <= 0 {
			return fmt.Errorf("%s: learner_test_timeout %q: want a duration such as 15s", path, m.LearnerTestTimeoutText)
		}
		m.LearnerTestTimeout = d
	}
	if !m.GradesTest() && (len(m.Variants) > 0 || len(m.WeakTests) > 0 || m.LearnerTestTimeoutText != "") {
		return fmt.Errorf("%s: variants, weak_tests and learner_test_timeout are for a task that grades the learner's test", path)
	}
	names := map[string]bool{"correct": true}
	for _, b := range m.Bugs {
		names[b.Name] = true
	}
	for _, v := range m.Variants {
		if names[v.Name] {
			return fmt.Errorf("%s: variant %q: the name is taken", path, v.Name)
		}
		names[v.Name] = true
	}
	for _, w := range m.WeakTests {
		if !names[w.RejectedBy] {
			return fmt.Errorf("%s: weak test %q: rejected_by %q is no variant, no bug, nor \"correct\"", path, w.Name, w.RejectedBy)
		}
	}
	return nil
}

// Variant returns the variant named name, if there is one.
func (m *Meta) Variant(name string) (Variant, bool) {
	for _, v := range m.Variants {
		if v.Name == name {
			return v, true
		}
	}
	return Variant{}, false
}

// Bug returns the bug named name, if there is one.
func (m *Meta) Bug(name string) (Bug, bool) {
	for _, b := range m.Bugs {
		if b.Name == name {
			return b, true
		}
	}
	return Bug{}, false
}

// GradesProgram reports whether the lab's tests grade the learner's program.
func (m *Meta) GradesProgram() bool { return m.Kind != "test" }

// GradesTest reports whether the learner's test is graded in reverse.
func (m *Meta) GradesTest() bool { return m.Kind != "program" }

// TestPackages are the packages of the learner's test, as go test names
// them relative to the task folder ("." or "./service"): all that a run of
// the learner's test needs. The task's other packages hold only the lab's
// tests, which must not judge with it, and would only add their time.
func (m *Meta) TestPackages() []string {
	var pkgs []string
	for _, f := range m.TestFiles {
		dir := filepath.ToSlash(filepath.Dir(f))
		if dir != "." {
			dir = "./" + dir
		}
		if !slices.Contains(pkgs, dir) {
			pkgs = append(pkgs, dir)
		}
	}
	return pkgs
}

// BugPatch is where the patch of bug b of task t lives.
func (t *Task) BugPatch(b Bug) string {
	return filepath.Join(t.SolPath, "bugs", b.Name+".patch")
}

// VariantPatch is where the patch of variant v of task t lives.
func (t *Task) VariantPatch(v Variant) string {
	return filepath.Join(t.SolPath, "variants", v.Name+".patch")
}

// WeakTestPatch is where the patch of weak test w of task t lives.
func (t *Task) WeakTestPatch(w WeakTest) string {
	return filepath.Join(t.SolPath, "weak-tests", w.Name+".patch")
}

// ReadFile is os.ReadFile with the path in the error, for one-line reports.
func ReadFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return b, nil
}
