package scenarios

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/exsim/exsim/internal/junit"
)

// Formats are the report formats (the probe's, but the picture).
var Formats = []string{"table", "json", "junit", "markdown"}

// Write writes results in format.
func Write(w io.Writer, format string, results []Result, color bool) error {
	switch format {
	case "table":
		return WriteTable(w, results, color)
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Summary Summary  `json:"summary"`
			Results []Result `json:"results"`
		}{Summarize(results), results})
	case "junit":
		return WriteJUnit(w, results)
	case "markdown":
		return WriteMarkdown(w, results)
	}
	return fmt.Errorf("format %q: use %s", format, strings.Join(Formats, ", "))
}

// Summary counts results.
type Summary struct {
	Scenarios int `json:"scenarios"`
	Passed    int `json:"passed"`
	Failed    int `json:"failed"`
}

// Summarize counts results.
func Summarize(rs []Result) Summary {
	s := Summary{Scenarios: len(rs)}
	s.Passed, s.Failed = junit.Tally(rs, func(r Result) bool { return r.Pass })
	return s
}

const (
	green = "\x1b[32m"
	red   = "\x1b[31m"
	reset = "\x1b[0m"
)

// WriteTable is the terminal report: one line per scenario, failing ones
// with the failing step and the flows to look at.
func WriteTable(w io.Writer, rs []Result, color bool) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RESULT\tSCENARIO\tTABLE\tTIME")
	for _, r := range rs {
		mark := "PASS"
		if !r.Pass {
			mark = "FAIL"
		}
		if color {
			c := green
			if !r.Pass {
				c = red
			}
			mark = c + mark + reset
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", mark, r.Name, r.Table, r.Duration.Round(10*time.Millisecond))
	}
	tw.Flush()
	for _, r := range rs {
		if r.Pass {
			continue
		}
		fmt.Fprintf(w, "\nFAIL %s (%s)\n  %s\n", r.Name, r.File, r.Error)
		if len(r.Flows) > 0 {
			fmt.Fprintf(w, "  depends on flows: %s (exsim probe --flow ID)\n", strings.Join(r.Flows, ", "))
		}
	}
	s := Summarize(rs)
	fmt.Fprintf(w, "\n%d scenarios, %d passed, %d failed\n", s.Scenarios, s.Passed, s.Failed)
	return nil
}

// WriteMarkdown writes a Markdown table.
func WriteMarkdown(w io.Writer, rs []Result) error {
	fmt.Fprintln(w, "| result | scenario | table | detail |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for _, r := range rs {
		mark, detail := "pass", ""
		if !r.Pass {
			mark, detail = "**FAIL**", r.Error
			if len(r.Flows) > 0 {
				detail += " (flows: " + strings.Join(r.Flows, ", ") + ")"
			}
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", mark, mdEscape(r.Name), r.Table, mdEscape(detail))
	}
	s := Summarize(rs)
	fmt.Fprintf(w, "\n%d scenarios, %d passed, %d failed\n", s.Scenarios, s.Passed, s.Failed)
	return nil
}

func mdEscape(s string) string { return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s) }

// WriteJUnit writes one testsuite "exsim scenarios" with a testcase per
// scenario, its steps in system-out.
func WriteJUnit(w io.Writer, rs []Result) error {
	doc := junit.Suites{Name: "exsim"}
	doc.Add(JUnitSuite(rs))
	return doc.Write(w)
}

// JUnitSuite is WriteJUnit's testsuite, for documents that hold others.
func JUnitSuite(rs []Result) junit.Suite {
	suite := junit.Suite{Name: "exsim scenarios", Package: "exsim.scenarios"}
	for _, r := range rs {
		c := junit.Case{Name: r.Name, Classname: "exsim.scenarios." + strings.ReplaceAll(r.Table, "-", "_")}
		if c.Classname == "exsim.scenarios." {
			c.Classname = "exsim.scenarios"
		}
		var out strings.Builder
		for _, s := range r.Steps {
			mark := "ok  "
			if !s.Pass {
				mark = "FAIL"
			}
			fmt.Fprintf(&out, "%s %d %s: %s (%s)\n", mark, s.Index+1, s.Kind, s.Detail, s.Duration.Round(time.Millisecond))
		}
		c.SystemOut = out.String()
		if !r.Pass {
			text := r.Error
			if len(r.Flows) > 0 {
				text += "\ndepends on flows: " + strings.Join(r.Flows, ", ")
			}
			c.Failure = &junit.Problem{Message: r.Error, Type: "scenario", Text: text}
		}
		suite.Add(c, r.Duration)
	}
	return suite
}
