package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gracefulshutdown.lab/scripts/internal/workspace"
)

// A class too big for one machine is graded in shards (grade --shard K/N
// on N machines, or N jobs of a CI matrix), each writing its learners'
// JSON reports, and comes back as one table with grade --merge.

// parseShard parses --shard's "K/N": shard K (1 to N) of N.
func parseShard(s string) (k, n int, err error) {
	a, b, found := strings.Cut(s, "/")
	k, errK := strconv.Atoi(a)
	n, errN := strconv.Atoi(b)
	if !found || errK != nil || errN != nil || n < 1 || k < 1 || k > n {
		return 0, 0, fmt.Errorf("--shard %q: want K/N, shard K of N, with 1 ≤ K ≤ N (e.g. 2/4): %w", s, errUsage)
	}
	return k, n, nil
}

// shardOf is shard k of n of the copies: every n-th, from the k-th. The
// copies come in a fixed order (the arguments', a class folder's sorted),
// so the n shards together are every copy, once.
func shardOf(copies []learnerCopy, k, n int) []learnerCopy {
	var out []learnerCopy
	for i, c := range copies {
		if i%n == k-1 {
			out = append(out, c)
		}
	}
	return out
}

// mergeReports reads the JSON reports that grade --json wrote (files, or
// folders of them, from any number of shards) and presents them as one
// grade of the whole class would: the same table, CSV and summary.
func mergeReports(lab *workspace.Workspace, paths []string, opts gradeOptions, w io.Writer) (bool, error) {
	if len(paths) == 0 {
		return false, fmt.Errorf("--merge needs the JSON reports (files, or folders of them) that grade --json wrote: %w", errUsage)
	}
	var reports []*gradeReport
	for _, p := range paths {
		files := []string{p}
		if info, err := os.Stat(p); err == nil && info.IsDir() {
			files, err = filepath.Glob(filepath.Join(p, "*.json"))
			if err != nil {
				return false, err
			}
			if len(files) == 0 {
				return false, fmt.Errorf("%s holds no .json reports: %w", p, errUsage)
			}
		}
		for _, f := range files {
			r, err := readReport(f)
			if err != nil {
				return false, err
			}
			reports = append(reports, r)
		}
	}
	sortReports(reports)
	return presentReports(lab, reports, merged, opts, w)
}

// readReport reads one learner's grade --json report.
func readReport(path string) (*gradeReport, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r gradeReport
	if err := json.Unmarshal(b, &r); err != nil || r.Learner == "" {
		return nil, fmt.Errorf("%s is not a report that grade --json wrote (in its default format): %w", path, errUsage)
	}
	if r.Tasks == nil {
		r.Tasks = []*taskGrade{}
	}
	return &r, nil
}

// parseTaskList parses --tasks: task numbers and ranges, "5", "1,4" or
// "11-20".
func parseTaskList(s string) ([]int, error) {
	var out []int
	for part := range strings.SplitSeq(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err := taskNumber(lo)
		if err != nil {
			return nil, err
		}
		b := a
		if isRange {
			if b, err = taskNumber(hi); err != nil {
				return nil, err
			}
		}
		if b < a {
			return nil, fmt.Errorf("--tasks %q: the range %s goes backwards: %w", s, part, errUsage)
		}
		for n := a; n <= b; n++ {
			out = append(out, n)
		}
	}
	return out, nil
}
