// Package report renders probe results: a terminal table, JSON, JUnit XML
// for CI, Markdown, and an SVG picture of the topology with every flow
// drawn green or red (SPEC section 5).
package report

import (
	"fmt"
	"io"
	"slices"
	"strconv"

	"github.com/exsim/exsim/probe"
	"github.com/exsim/exsim/topology"
)

// Formats are the output formats of `exsim probe --format`, default first.
var Formats = []string{"table", "json", "junit", "markdown", "svg"}

// Write renders results in one of Formats. The topology is needed by svg
// only; color applies to table only.
func Write(w io.Writer, format string, t *topology.Topology, results []probe.Result, color bool) error {
	switch format {
	case "", "table":
		return WriteTable(w, results, color)
	case "json":
		return WriteJSON(w, results)
	case "junit":
		return WriteJUnit(w, results)
	case "markdown", "md":
		return WriteMarkdown(w, results)
	case "svg":
		return WriteSVG(w, t, results)
	}
	return fmt.Errorf("report: unknown format %q (use table, json, junit, markdown or svg)", format)
}

// group is the results of one table.
type group struct {
	table   probe.Table
	results []probe.Result
}

// groups orders results by table in probe.Tables order (unknown tables
// after them), failures first within a table, otherwise in catalogue order.
func groups(results []probe.Result) []group {
	order := slices.Clone(probe.Tables)
	by := map[probe.Table][]probe.Result{}
	for _, r := range results {
		if !slices.Contains(order, r.Flow.Table) {
			order = append(order, r.Flow.Table)
		}
		by[r.Flow.Table] = append(by[r.Flow.Table], r)
	}
	var out []group
	for _, t := range order {
		rs := by[t]
		if len(rs) == 0 {
			continue
		}
		slices.SortStableFunc(rs, func(a, b probe.Result) int {
			switch {
			case a.Pass == b.Pass:
				return 0
			case !a.Pass:
				return -1
			}
			return 1
		})
		out = append(out, group{table: t, results: rs})
	}
	return out
}

// route is "INET01 -> EDGE01:25/tcp".
func route(f probe.Flow) string {
	return f.Source + " -> " + f.Dest + ":" + strconv.Itoa(f.Port) + "/" + f.Transport
}

// verdict is PASS or FAIL.
func verdict(r probe.Result) string {
	if r.Pass {
		return "PASS"
	}
	return "FAIL"
}

// outcome is the outcome, or "error" when the check could not run.
func outcome(r probe.Result) string {
	if r.Error != "" || r.Outcome == "" {
		return "error"
	}
	return string(r.Outcome)
}

// detail is what was seen, or why the check could not run.
func detail(r probe.Result) string {
	if r.Error != "" {
		return r.Error
	}
	return r.Detail
}

func summaryLine(s probe.Summary) string {
	return fmt.Sprintf("%d flows, %d passed, %d failed", s.Flows, s.Passed, s.Failed)
}
