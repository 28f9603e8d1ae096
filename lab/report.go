package lab

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"github.com/exsim/exsim/internal/junit"
	"github.com/exsim/exsim/probe"
	"github.com/exsim/exsim/probe/report"
)

// TestFormats are the output formats of `exsim lab test --format`.
var TestFormats = []string{"table", "json", "junit"}

// WriteTestReport renders a lab test: the probe's port matrix (the
// probe/report renderers), then the scenarios and the verdict.
func WriteTestReport(w io.Writer, format string, rep *TestReport, color bool) error {
	switch format {
	case "", "table":
		return writeTestTable(w, rep, color)
	case "json":
		return writeTestJSON(w, rep)
	case "junit":
		return WriteTestJUnit(w, rep)
	}
	return fmt.Errorf("lab test: unknown format %q (use table, json or junit)", format)
}

func writeTestTable(w io.Writer, rep *TestReport, color bool) error {
	fmt.Fprintf(w, "Firewall: %s\n\n", rep.Firewall)
	if err := report.WriteTable(w, rep.Flows, color); err != nil {
		return err
	}
	fmt.Fprintln(w)
	switch {
	case rep.ScenariosSkipped != "":
		fmt.Fprintf(w, "Scenarios: not run (%s)\n", rep.ScenariosSkipped)
	case len(rep.Scenarios) > 0:
		fmt.Fprintln(w, "Scenarios:")
		for _, s := range rep.Scenarios {
			v, detail := "PASS", s.Detail
			switch {
			case s.Skipped != "":
				v, detail = "SKIP", "skipped: "+s.Skipped
			case !s.Pass:
				v = "FAIL"
			}
			fmt.Fprintf(w, "  %s  %s  %s\n", v, s.Name, detail)
		}
	}
	if fails := rep.Failures(); len(fails) > 0 {
		fmt.Fprintf(w, "\nFAILED: %d problem(s):\n", len(fails))
		for _, f := range fails {
			fmt.Fprintf(w, "  - %s\n", f)
		}
		return nil
	}
	fmt.Fprintln(w, "\nPASSED: every documented flow works and nothing undocumented is open.")
	return nil
}

// testJSON is the document of `exsim lab test --format json`.
type testJSON struct {
	Passed           bool            `json:"passed"`
	Firewall         string          `json:"firewall"`
	Failures         []string        `json:"failures"`
	Probe            json.RawMessage `json:"probe"`
	Scenarios        []scenarioJSON  `json:"scenarios"`
	ScenarioSummary  scenarioCounts  `json:"scenario_summary"`
	ScenariosSkipped string          `json:"scenarios_skipped,omitempty"`
	ScenarioError    string          `json:"scenario_error,omitempty"`
	Down             map[string]any  `json:"down,omitempty"`
	DurationMS       int64           `json:"duration_ms"`
}

// scenarioCounts sums up the scenarios: every built-in one that fits the
// topology is either passed, failed or skipped (with its reason).
type scenarioCounts struct {
	Scenarios int `json:"scenarios"`
	Passed    int `json:"passed"`
	Failed    int `json:"failed"`
	Skipped   int `json:"skipped"`
}

type scenarioJSON struct {
	Name       string `json:"name"`
	Pass       bool   `json:"pass"`
	Detail     string `json:"detail"`
	Feature    string `json:"feature,omitempty"`
	DurationMS int64  `json:"duration_ms"`
	// Skipped is why the scenario did not run.
	Skipped string `json:"skipped,omitempty"`
}

func writeTestJSON(w io.Writer, rep *TestReport) error {
	var pj bytes.Buffer
	if err := report.WriteJSON(&pj, rep.Flows); err != nil {
		return err
	}
	doc := testJSON{
		Passed: rep.Passed(), Firewall: rep.Firewall, Failures: rep.Failures(),
		Probe: pj.Bytes(), Scenarios: []scenarioJSON{}, ScenariosSkipped: rep.ScenariosSkipped,
		ScenarioError: rep.ScenarioError, DurationMS: rep.Duration.Milliseconds(),
	}
	if doc.Failures == nil {
		doc.Failures = []string{}
	}
	for _, s := range rep.Scenarios {
		doc.Scenarios = append(doc.Scenarios, scenarioJSON{s.Name, s.Pass, s.Detail, s.Feature, s.Duration.Milliseconds(), s.Skipped})
		c := &doc.ScenarioSummary
		c.Scenarios++
		switch {
		case s.Skipped != "":
			c.Skipped++
		case s.Pass:
			c.Passed++
		default:
			c.Failed++
		}
	}
	if rep.Down != nil {
		doc.Down = map[string]any{"namespaces": rep.Down.Namespaces, "processes": len(rep.Down.Processes)}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

// WriteTestJUnit writes the probe's JUnit document (one testsuite per
// seed table, one testcase per flow) with a "Scenarios" testsuite added:
// one testcase per scenario, or one skipped testcase saying why none ran.
func WriteTestJUnit(w io.Writer, rep *TestReport) error {
	doc := report.JUnit(rep.Flows)
	doc.Name = "exsim lab test"
	if rep.Verdicts != nil {
		// The rule of the firewall file behind each failure.
		expect := map[string]probe.Expect{}
		for _, r := range rep.Flows {
			expect[r.Flow.ID] = r.Flow.Expect
		}
		for i := range doc.Suites {
			for j := range doc.Suites[i].Cases {
				c := &doc.Suites[i].Cases[j]
				if v := rep.Verdicts.For(c.Name, expect[c.Name] == probe.ExpectClosed); c.Failure != nil && v != nil {
					c.Failure.Text += v.String() + "\n"
				}
			}
		}
	}
	suite := junit.Suite{Name: "Scenarios", Package: "exsim.scenarios"}
	for _, s := range rep.Scenarios {
		c := junit.Case{Name: s.Name, Classname: "exsim.scenarios", SystemOut: s.Detail}
		switch {
		case s.Skipped != "":
			c.Skipped = &junit.Problem{Message: s.Skipped}
		case !s.Pass:
			c.Failure = &junit.Problem{Message: s.Detail, Type: "scenario", Text: s.Detail + "\nbreaks: " + s.Feature + "\n"}
		}
		suite.Add(c, s.Duration)
	}
	if rep.ScenarioError != "" {
		suite.Add(junit.Case{Name: "scenarios", Classname: "exsim.scenarios", Error: &junit.Problem{Message: rep.ScenarioError, Type: "error"}}, 0)
	}
	if rep.ScenariosSkipped != "" {
		suite.Add(junit.Case{Name: "scenarios", Classname: "exsim.scenarios", Skipped: &junit.Problem{Message: rep.ScenariosSkipped}}, 0)
	}
	doc.Add(suite)
	return doc.Write(w)
}
