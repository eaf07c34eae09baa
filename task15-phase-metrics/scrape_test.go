package main

import (
	"fmt"
	"maps"
	"math"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"gracefulshutdown.lab/labtest"
)

// The three metrics of the task, as the README names them.
const (
	durationMetric = "shutdown_phase_duration_seconds"
	startedMetric  = "shutdown_phase_started_total"
	failedMetric   = "shutdown_phase_failed_total"
)

// adminPhase is the admin listener's phase: added first, it runs last, and
// the final scrape happens while it lingers.
const adminPhase = "admin server"

// families is one scrape of /metrics, parsed: the metric families by name.
type families map[string]*dto.MetricFamily

// scrape fetches /metrics from the admin listener at addr, as Prometheus
// would, and parses the text exposition format.
func scrape(addr string) (families, string, error) {
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return nil, "", err
	}
	// Ask for the classic text format, the one expfmt's TextParser reads.
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	r := <-labtest.Do(req, 10*time.Second)
	if r.Err != nil {
		return nil, "", fmt.Errorf("GET /metrics got %v", r)
	}
	if r.Status != http.StatusOK {
		return nil, r.Body, fmt.Errorf("GET /metrics answered %d; want 200", r.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(r.Body))
	if err != nil {
		return nil, r.Body, fmt.Errorf("/metrics is not in Prometheus' text format: %v", err)
	}
	return fams, r.Body, nil
}

// finalScrape waits until every phase in before has finished (logged
// "phase done" or "phase failed") and the admin server's phase has begun
// ("lingering"), then scrapes /metrics: the scrape Prometheus makes while
// the admin listener lingers, the last one that can see the other phases'
// final figures. (A test that has what it needs from the scrape need not
// wait out the rest of the linger: the program is killed when it ends.)
func (s *service) finalScrape(before ...string) families {
	s.t.Helper()
	for _, phase := range before {
		s.phaseEnd(phase)
	}
	s.WaitFor("lingering", budget+margin)
	fams, _, err := scrape(s.admin)
	if err != nil {
		hint := "The admin listener must answer until its own phase, the last one, has lingered."
		if i, j := s.Log().Index("lingering"), s.lastPhaseEnd(before); i >= 0 && i < j {
			hint = fmt.Sprintf("The admin server's phase ran before the %q phase had finished, so its listener was closed with nothing "+
				"left to scrape. Phases run last in, first out: start the admin listener, and add its phase, before anything else.", phaseOf(s.Log().Events()[j]))
		}
		s.t.Fatalf("the scrape after the phases %s had run: %v.\n%s\n%s", strings.Join(quote(before), ", "), err, hint, s.Transcript())
	}
	return fams
}

// phaseEnd waits for the "phase done" or "phase failed" event of phase.
func (s *service) phaseEnd(phase string) labtest.Event {
	s.t.Helper()
	what := fmt.Sprintf("\"phase done\" or \"phase failed\" with phase=%q", phase)
	ev, err := s.Log().WaitForMatch(what, func(ev labtest.Event) bool {
		return isPhaseEnd(ev) && ev.Str("phase") == phase
	}, budget+margin, s.Done())
	if err != nil {
		hint := ""
		if strings.Contains(s.Log().Text(), "panic: ") {
			hint = "\nThe program panicked in the middle of its shutdown (see below). The observer's methods run on the goroutine " +
				"that runs the phases, outside any phase's recover: a panic there ends the shutdown. A metric registered " +
				"a second time panics in MustRegister: register them once, when the observer is created."
		}
		s.t.Fatalf("%v%s\n%s", err, hint, s.Transcript())
	}
	return ev
}

// lastPhaseEnd is the index of the last end event of the phases, or -1.
func (s *service) lastPhaseEnd(phases []string) int {
	last := -1
	for i, ev := range s.Log().Events() {
		if isPhaseEnd(ev) && slices.Contains(phases, ev.Str("phase")) {
			last = i
		}
	}
	return last
}

func isPhaseEnd(ev labtest.Event) bool { return ev.Msg() == "phase done" || ev.Msg() == "phase failed" }

func phaseOf(ev labtest.Event) string { return ev.Str("phase") }

// eventDuration is the duration attribute of a phase's end event, which
// slog's JSON handler writes in nanoseconds.
func eventDuration(t *testing.T, ev labtest.Event) time.Duration {
	t.Helper()
	ns, ok := ev["duration"].(float64)
	if !ok {
		t.Fatalf("the %q event of phase %q has no duration the test can read: %v", ev.Msg(), phaseOf(ev), ev)
	}
	return time.Duration(ns)
}

// checkPhaseMetrics checks the three metrics of a final scrape. ran holds
// each phase that finished before the admin server's began, and whether it
// failed. Each of them must have one series in each metric, labelled with
// its name and nothing else: started 1, failed 1 if it failed and 0 if not,
// and one duration. The admin server's own phase is still running during
// this scrape: started 1, failed 0, and no duration yet.
func (s *service) checkPhaseMetrics(fams families, ran map[string]bool) {
	s.t.Helper()
	t := s.t
	if fams[durationMetric] == nil && fams[startedMetric] == nil && fams[failedMetric] == nil {
		t.Fatalf("the final scrape of /metrics has none of %s, %s, %s.\n"+
			"Does the observer record anything, and is it passed to lifecycle.New? Are the metrics registered on the registry run "+
			"creates (reg)? /metrics serves that one only, not Prometheus' global registry, which promauto and "+
			"prometheus.MustRegister use.\n%s", durationMetric, startedMetric, failedMetric, s.Transcript())
	}
	kinds := map[string]dto.MetricType{durationMetric: dto.MetricType_HISTOGRAM, startedMetric: dto.MetricType_COUNTER, failedMetric: dto.MetricType_COUNTER}
	for _, name := range []string{durationMetric, startedMetric, failedMetric} {
		mf := fams[name]
		if mf == nil {
			hint := present(fams)
			if name == failedMetric {
				hint += "\nNo phase failed here, and a series that only appears once something has failed has no zero before it: " +
					"\"no data\" is not \"0 failures\". Create each phase's failed counter at zero when the phase starts " +
					"(WithLabelValues(phase).Add(0))."
			}
			t.Fatalf("the final scrape of /metrics has no %s.\n%s\n%s", name, hint, s.Transcript())
		}
		if got, want := mf.GetType(), kinds[name]; got != want {
			why := ""
			if got == dto.MetricType_SUMMARY {
				why = " A summary's quantiles are computed in each process and cannot be added up across instances; a histogram's buckets can."
			}
			t.Fatalf("%s is a %v; want a %v.%s\n%s", name, got, want, why, s.Transcript())
		}
		if strings.TrimSpace(mf.GetHelp()) == "" {
			t.Errorf("%s has no help text; want one that says what it counts (HistogramOpts.Help, CounterOpts.Help).\n%s", name, s.Transcript())
		}
		for _, m := range mf.GetMetric() {
			if names := labelNames(m); !slices.Equal(names, []string{"phase"}) {
				t.Fatalf("a series of %s has the labels %v (%s); want exactly one label, phase.\n"+
					"Every distinct label value makes a series of its own, kept for as long as the registry lives: an error message, "+
					"a duration or an ID as a label value makes a new series every time. Put such things in the logs.\n%s",
					name, names, labelString(m), s.Transcript())
			}
		}
	}

	wantStarted := map[string]bool{adminPhase: false}
	for phase, failed := range ran {
		wantStarted[phase] = failed
	}
	s.checkSeries(fams[startedMetric], wantStarted, func(phase string, _ bool) float64 { return 1 },
		func(phase string, got float64) string {
			if phase == adminPhase && got == 0 {
				return "The admin server's phase is running during this scrape: count a phase as started when it starts (PhaseStarted), not when it is done."
			}
			return "Count each phase once, when it starts."
		})
	s.checkSeries(fams[failedMetric], wantStarted, func(_ string, failed bool) float64 {
		if failed {
			return 1
		}
		return 0
	}, func(phase string, got float64) string {
		switch {
		case got == 0 && ran[phase]:
			return fmt.Sprintf("The %q phase failed (its \"phase failed\" event says how); PhaseDone's err is not nil for every failure: "+
				"an error, a missed deadline and a panic alike.", phase)
		case got > 0 && !ran[phase]:
			return fmt.Sprintf("The %q phase did not fail: count a failure only when PhaseDone's err is not nil.", phase)
		}
		return ""
	})

	// Durations: one observation for every phase that has finished; the
	// admin server's is still running, so it has none, or a series at 0.
	durations := map[string]*dto.Histogram{}
	for _, m := range fams[durationMetric].GetMetric() {
		durations[labelValue(m, "phase")] = m.GetHistogram()
	}
	for phase := range ran {
		h := durations[phase]
		if h == nil || h.GetSampleCount() != 1 {
			t.Errorf("%s{phase=%q} has %d observations; want 1: record the duration of every phase in PhaseDone, however it ended.\n%s",
				durationMetric, phase, h.GetSampleCount(), s.Transcript())
		}
	}
	for phase, h := range durations {
		_, finished := ran[phase]
		switch {
		case phase == adminPhase && h.GetSampleCount() != 0:
			t.Errorf("%s{phase=%q} has %d observations during the admin server's own phase; want none before it is done.\n%s",
				durationMetric, phase, h.GetSampleCount(), s.Transcript())
		case phase != adminPhase && !finished:
			t.Errorf("%s has a series for phase %q, which did not run; want one for each phase that did: %s.\n%s",
				durationMetric, phase, strings.Join(quote(slices.Sorted(maps.Keys(ran))), ", "), s.Transcript())
		}
	}
}

// checkSeries checks that mf has one series per phase in want and no other,
// each with the value value gives; why explains a wrong value.
func (s *service) checkSeries(mf *dto.MetricFamily, want map[string]bool, value func(phase string, failed bool) float64, why func(phase string, got float64) string) {
	s.t.Helper()
	got := map[string]float64{}
	for _, m := range mf.GetMetric() {
		phase := labelValue(m, "phase")
		if _, dup := got[phase]; dup {
			s.t.Fatalf("%s has two series for phase %q; want one.\n%s", mf.GetName(), phase, s.Transcript())
		}
		got[phase] = m.GetCounter().GetValue()
	}
	for phase, failed := range want {
		v, ok := got[phase]
		if !ok {
			hint := "Record every phase the lifecycle reports, from PhaseStarted on."
			if mf.GetName() == failedMetric {
				hint = "Create each phase's failed counter at zero when the phase starts (WithLabelValues(phase).Add(0)): " +
					"a series that only appears once something has failed has no zero before it, and \"no data\" is not \"0 failures\"."
			}
			s.t.Fatalf("%s has no series for phase %q; want one for each phase that started (%s), got %s.\n%s\n%s",
				mf.GetName(), phase, strings.Join(quote(slices.Sorted(maps.Keys(want))), ", "), describe(got), hint, s.Transcript())
		}
		if w := value(phase, failed); v != w {
			s.t.Errorf("%s{phase=%q} is %g; want %g.\n%s\n%s", mf.GetName(), phase, v, w, why(phase, v), s.Transcript())
		}
	}
	for phase := range got {
		if _, ok := want[phase]; !ok {
			s.t.Errorf("%s has a series for phase %q, which did not run; want one for each phase that did: %s.\n%s",
				mf.GetName(), phase, strings.Join(quote(slices.Sorted(maps.Keys(want))), ", "), s.Transcript())
		}
	}
}

// checkDuration checks that the histogram's one observation of phase is the
// duration its end event reports, and that its buckets agree.
func (s *service) checkDuration(fams families, phase string) time.Duration {
	s.t.Helper()
	t := s.t
	var h *dto.Histogram
	for _, m := range fams[durationMetric].GetMetric() {
		if labelValue(m, "phase") == phase {
			h = m.GetHistogram()
		}
	}
	if h == nil || h.GetSampleCount() != 1 {
		t.Fatalf("%s{phase=%q} has %d observations; want 1.\n%s", durationMetric, phase, h.GetSampleCount(), s.Transcript())
	}
	ev := s.phaseEnd(phase)
	took := eventDuration(t, ev)
	sum := h.GetSampleSum()
	// The lifecycle hands every observer the same duration; one that times
	// the phase itself may be off by a little.
	if diff := math.Abs(sum - took.Seconds()); diff > durationTolerance.Seconds() {
		unit := ""
		switch {
		case math.Abs(sum-float64(took.Milliseconds())) < 50:
			unit = " That is the duration in milliseconds; the metric's name says seconds: Observe(took.Seconds())."
		case sum > 1e6:
			unit = " That looks like nanoseconds (float64(took)); the metric's name says seconds: Observe(took.Seconds())."
		}
		t.Errorf("%s{phase=%q} observed %g; want the phase's duration in seconds, %g (its %q event says %v).%s\n%s",
			durationMetric, phase, sum, took.Seconds(), ev.Msg(), took, unit, s.Transcript())
	}
	for _, b := range h.GetBucket() {
		want := uint64(0)
		if b.GetUpperBound() >= sum {
			want = 1
		}
		if b.GetCumulativeCount() != want {
			t.Errorf("%s{phase=%q,le=\"%g\"} is %d after one observation of %gs; want %d.\n%s",
				durationMetric, phase, b.GetUpperBound(), b.GetCumulativeCount(), sum, want, s.Transcript())
		}
	}
	return took
}

// durationTolerance is how far a recorded duration may be from the one the
// lifecycle measured: an observer that times the phase itself, from
// PhaseStarted to PhaseDone, also counts the other observers' logging.
const durationTolerance = 25 * time.Millisecond

func labelNames(m *dto.Metric) []string {
	var names []string
	for _, l := range m.GetLabel() {
		names = append(names, l.GetName())
	}
	sort.Strings(names)
	return names
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func labelString(m *dto.Metric) string {
	var parts []string
	for _, l := range m.GetLabel() {
		parts = append(parts, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// present lists the metric names of a scrape that are not the Go runtime's,
// the process's or promhttp's, for a failure message.
func present(fams families) string {
	var names []string
	for name := range fams {
		if !strings.HasPrefix(name, "go_") && !strings.HasPrefix(name, "process_") && !strings.HasPrefix(name, "promhttp_") {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return "It has only the Go runtime's, the process's and promhttp's own metrics."
	}
	sort.Strings(names)
	return "Its other metrics: " + strings.Join(names, ", ") + "."
}

func describe(values map[string]float64) string {
	if len(values) == 0 {
		return "no series"
	}
	var parts []string
	for _, phase := range slices.Sorted(maps.Keys(values)) {
		parts = append(parts, fmt.Sprintf("{phase=%q} %g", phase, values[phase]))
	}
	return strings.Join(parts, ", ")
}

func quote(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}
