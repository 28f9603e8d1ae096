package rca

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/exsim/exsim/internal/junit"
)

// Formats are the report formats Write knows.
var Formats = []string{"table", "json", "junit"}

// Write renders results: a step list per test (table), the results as
// JSON, or one JUnit testsuite per test with a testcase per step.
func Write(w io.Writer, format, from string, rs []Result) error {
	switch format {
	case "", "table":
		return writeTable(w, from, rs)
	case "json":
		doc := struct {
			From    string   `json:"from"`
			Summary Summary  `json:"summary"`
			Results []Result `json:"results"`
		}{from, Summarize(rs), rs}
		b, err := json.MarshalIndent(doc, "", "  ")
		if err == nil {
			_, err = w.Write(append(b, '\n'))
		}
		return err
	case "junit":
		return writeJUnit(w, from, rs)
	}
	return fmt.Errorf("rca: format %q: use %s", format, strings.Join(Formats, ", "))
}

var marks = map[Status]string{Pass: "PASS", Fail: "FAIL"}

func writeTable(w io.Writer, from string, rs []Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, r := range rs {
		fmt.Fprintf(tw, "%s  %s (from %s, %s)\n", marks[r.Status], r.Test, from, r.Duration.Round(1e6))
		for i, s := range r.Steps {
			fmt.Fprintf(tw, "  %d.\t%s\t%s\t%s\n", i+1, marks[s.Status], s.Name, oneLine(s.Detail))
		}
		fmt.Fprintln(tw)
	}
	s := Summarize(rs)
	fmt.Fprintf(tw, "%d tests: %d passed, %d failed\n", s.Tests, s.Passed, s.Failed)
	return tw.Flush()
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func writeJUnit(w io.Writer, from string, rs []Result) error {
	doc := junit.Suites{Name: "exsim rca from " + from}
	for _, r := range rs {
		suite := junit.Suite{Name: r.Test, Package: "rca." + r.ID}
		for i, s := range r.Steps {
			c := junit.Case{Name: fmt.Sprintf("%02d %s", i+1, s.Name), Classname: "rca." + r.ID}
			if s.Status == Fail {
				c.Failure = &junit.Problem{Message: s.Detail, Type: "fail"}
			} else {
				c.SystemOut = s.Detail
			}
			suite.Add(c, s.Duration)
		}
		doc.Add(suite)
	}
	return doc.Write(w)
}
