package lab

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"time"

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
			v := "PASS"
			if !s.Pass {
				v = "FAIL"
			}
			fmt.Fprintf(w, "  %s  %s  %s\n", v, s.Name, s.Detail)
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
	ScenariosSkipped string          `json:"scenarios_skipped,omitempty"`
	ScenarioError    string          `json:"scenario_error,omitempty"`
	Down             map[string]any  `json:"down,omitempty"`
	DurationMS       int64           `json:"duration_ms"`
}

type scenarioJSON struct {
	Name       string `json:"name"`
	Pass       bool   `json:"pass"`
	Detail     string `json:"detail"`
	Feature    string `json:"feature,omitempty"`
	DurationMS int64  `json:"duration_ms"`
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
		doc.Scenarios = append(doc.Scenarios, scenarioJSON{s.Name, s.Pass, s.Detail, s.Feature, s.Duration.Milliseconds()})
	}
	if rep.Down != nil {
		doc.Down = map[string]any{"namespaces": rep.Down.Namespaces, "processes": len(rep.Down.Processes)}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

// The JUnit document of probe/report, read back so the scenarios can be
// added as one more testsuite.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	ID       int         `xml:"id,attr"`
	Package  string      `xml:"package,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Error     *junitProblem `xml:"error,omitempty"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	Skipped   *junitProblem `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",chardata"`
}

// WriteTestJUnit writes the probe's JUnit document (one testsuite per
// seed table, one testcase per flow) with a "Scenarios" testsuite added:
// one testcase per scenario, or one skipped testcase saying why none ran.
func WriteTestJUnit(w io.Writer, rep *TestReport) error {
	var pj bytes.Buffer
	if err := report.WriteJUnit(&pj, rep.Flows); err != nil {
		return err
	}
	var doc junitSuites
	if err := xml.Unmarshal(pj.Bytes(), &doc); err != nil {
		return fmt.Errorf("lab test: junit: %w", err)
	}
	doc.Name = "exsim lab test"
	suite := junitSuite{Name: "Scenarios", ID: len(doc.Suites), Package: "exsim.scenarios"}
	var total time.Duration
	for _, s := range rep.Scenarios {
		c := junitCase{Name: s.Name, Classname: "exsim.scenarios", Time: secs(s.Duration), SystemOut: s.Detail}
		if !s.Pass {
			c.Failure = &junitProblem{Message: s.Detail, Type: "scenario", Text: s.Detail + "\nbreaks: " + s.Feature + "\n"}
			suite.Failures++
		}
		total += s.Duration
		suite.Tests++
		suite.Cases = append(suite.Cases, c)
	}
	if rep.ScenarioError != "" {
		suite.Cases = append(suite.Cases, junitCase{Name: "scenarios", Classname: "exsim.scenarios", Time: "0.000",
			Error: &junitProblem{Message: rep.ScenarioError, Type: "error"}})
		suite.Tests++
		suite.Errors++
	}
	if rep.ScenariosSkipped != "" {
		suite.Cases = append(suite.Cases, junitCase{Name: "scenarios", Classname: "exsim.scenarios", Time: "0.000",
			Skipped: &junitProblem{Message: rep.ScenariosSkipped}})
		suite.Tests++
		suite.Skipped++
	}
	suite.Time = secs(total)
	doc.Suites = append(doc.Suites, suite)
	doc.Tests += suite.Tests
	doc.Failures += suite.Failures
	doc.Errors += suite.Errors
	if t, err := strconv.ParseFloat(doc.Time, 64); err == nil {
		doc.Time = secs(time.Duration(t*float64(time.Second)) + total)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("lab test: junit: %w", err)
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func secs(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 3, 64) }
