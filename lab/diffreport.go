package lab

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/exsim/exsim/internal/junit"
	"github.com/exsim/exsim/probe"
)

// DiffFormats are the output formats of `exsim lab diff --format`.
var DiffFormats = []string{"table", "markdown", "json", "junit"}

// WriteDiffReport renders a lab diff.
func WriteDiffReport(w io.Writer, format string, rep *DiffReport) error {
	switch format {
	case "", "table":
		return writeDiffTable(w, rep)
	case "markdown":
		return writeDiffMarkdown(w, rep)
	case "json":
		return writeDiffJSON(w, rep)
	case "junit":
		return writeDiffJUnit(w, rep)
	}
	return fmt.Errorf("lab diff: unknown format %q (use %s)", format, strings.Join(DiffFormats, ", "))
}

// Verdict is the report's first line.
func (r *DiffReport) Verdict() string {
	var bad []string
	if n := len(r.Broken); n > 0 {
		bad = append(bad, plural(n, "documented Exchange flow")+" broken")
	}
	if n := len(r.Opened); n > 0 {
		bad = append(bad, plural(n, "flow")+" that must stay closed opened")
	}
	if n := r.scenariosBroken(); n > 0 {
		bad = append(bad, plural(n, "scenario")+" failing")
	}
	if r.ScenarioError != "" {
		bad = append(bad, "scenarios could not run")
	}
	if len(bad) > 0 {
		return "FAIL: " + strings.Join(bad, ", ")
	}
	s := "PASS: no documented Exchange flow broken, nothing that must stay closed opened"
	if n := len(r.Fixed); n > 0 {
		s += ", " + plural(n, "flow") + " fixed"
	}
	return s
}

func (r *DiffReport) scenariosBroken() int {
	n := 0
	for _, s := range r.Scenarios {
		if s.Before.Pass && !s.After.Pass {
			n++
		}
	}
	return n
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func outcome(r probe.Result) string {
	if r.Outcome == "" {
		return "error"
	}
	return string(r.Outcome)
}

func endpoint(f probe.Flow) string {
	return fmt.Sprintf("%s -> %s:%d/%s", f.Source, f.Dest, f.Port, f.Transport)
}

// why is the verdict's sentence, or what to say without one.
func why(c FlowChange) string {
	if c.Verdict == nil {
		return "no packet of this flow crossed the router's ruleset (same zone, or it never left its source)"
	}
	return c.Verdict.String()
}

var diffSections = []struct {
	title string
	get   func(*DiffReport) []FlowChange
}{
	{"Broken (documented flows that worked before and fail after)", func(r *DiffReport) []FlowChange { return r.Broken }},
	{"Opened (flows that must stay closed, reachable after)", func(r *DiffReport) []FlowChange { return r.Opened }},
	{"Fixed (failing before, passing after)", func(r *DiffReport) []FlowChange { return r.Fixed }},
}

func writeDiffTable(w io.Writer, r *DiffReport) error {
	fmt.Fprintf(w, "%s\n", r.Verdict())
	fmt.Fprintf(w, "before: %s\nafter:  %s\n", r.Before, r.After)
	for _, sec := range diffSections {
		cs := sec.get(r)
		if len(cs) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s: %d\n", sec.title, len(cs))
		for _, c := range cs {
			fmt.Fprintf(w, "  %s  %s  %s -> %s\n", c.Flow.ID, endpoint(c.Flow), outcome(c.Before), outcome(c.After))
			fmt.Fprintf(w, "      feature: %s\n      %s\n", c.Flow.Feature, why(c))
		}
	}
	if len(r.Scenarios) > 0 {
		fmt.Fprintf(w, "\nScenarios whose result changed: %d\n", len(r.Scenarios))
		for _, s := range r.Scenarios {
			fmt.Fprintf(w, "  %s -> %s  %s: %s\n", passWord(s.Before.Pass), passWord(s.After.Pass), s.Name, s.After.Detail)
		}
	}
	if r.ScenarioError != "" {
		fmt.Fprintf(w, "\nScenarios could not run: %s\n", r.ScenarioError)
	}
	fmt.Fprintf(w, "\nUnchanged: %d flows\n", r.Unchanged)
	return nil
}

func passWord(p bool) string {
	if p {
		return "PASS"
	}
	return "FAIL"
}

// mdCell keeps a table cell on its line and its pipes literal.
func mdCell(s string) string {
	return strings.ReplaceAll(oneLine(s), "|", `\|`)
}

func mdCode(s string) string {
	return "`" + strings.ReplaceAll(oneLine(s), "`", "'") + "`"
}

// mdRule is a verdict in a markdown cell: the file:line in code, the
// rule's text in code.
func mdRule(c FlowChange) string {
	v := c.Verdict
	if v == nil {
		return mdCell(why(c))
	}
	loc := baseName(v.Rule.File)
	if v.Rule.Line > 0 {
		loc = fmt.Sprintf("%s:%d", loc, v.Rule.Line)
	}
	what := v.Action + "ed by"
	if v.Action == "drop" {
		what = "dropped by"
	}
	if v.Policy {
		what = fmt.Sprintf("%s the default policy of %s:", what, mdCode(v.Chain.String()))
	}
	return mdCell(fmt.Sprintf("%s %s %s", what, mdCode(loc), mdCode(v.Rule.Text)))
}

func writeDiffMarkdown(w io.Writer, r *DiffReport) error {
	mark := "✅"
	if !r.Passed() {
		mark = "❌"
	}
	fmt.Fprintf(w, "%s **exsim lab diff: %s** (%s → %s)\n", mark, r.Verdict(), mdCode(baseName(r.Before)), mdCode(baseName(r.After)))
	for _, sec := range diffSections {
		cs := sec.get(r)
		if len(cs) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n#### %s: %d\n\n", sec.title, len(cs))
		fmt.Fprintln(w, "| Flow | From → To | Before → After | Exchange feature | Rule |")
		fmt.Fprintln(w, "|---|---|---|---|---|")
		for _, c := range cs {
			fmt.Fprintf(w, "| %s | %s | %s → %s | %s | %s |\n", mdCode(c.Flow.ID), mdCell(endpoint(c.Flow)),
				outcome(c.Before), outcome(c.After), mdCell(c.Flow.Feature), mdRule(c))
		}
	}
	if len(r.Scenarios) > 0 {
		fmt.Fprintf(w, "\n#### Scenarios whose result changed: %d\n\n| Scenario | Before → After | Detail |\n|---|---|---|\n", len(r.Scenarios))
		for _, s := range r.Scenarios {
			fmt.Fprintf(w, "| %s | %s → %s | %s |\n", mdCell(s.Name), passWord(s.Before.Pass), passWord(s.After.Pass), mdCell(s.After.Detail))
		}
	}
	if r.ScenarioError != "" {
		fmt.Fprintf(w, "\nScenarios could not run: %s\n", mdCell(r.ScenarioError))
	}
	fmt.Fprintf(w, "\n<details><summary>%s unchanged</summary>\n\n", plural(r.Unchanged, "flow"))
	fmt.Fprintln(w, "| Flow | From → To | Result |")
	fmt.Fprintln(w, "|---|---|---|")
	for _, u := range r.UnchangedFlows {
		fmt.Fprintf(w, "| %s | %s | %s (%s) |\n", mdCode(u.Flow.ID), mdCell(endpoint(u.Flow)), outcome(u), passWord(u.Pass))
	}
	fmt.Fprintln(w, "\n</details>")
	return nil
}

// diffFlowJSON is one changed flow of `exsim lab diff --format json`.
type diffFlowJSON struct {
	Flow        string  `json:"flow"`
	Source      string  `json:"source"`
	Destination string  `json:"destination"`
	Port        int     `json:"port"`
	Protocol    string  `json:"protocol"`
	Feature     string  `json:"feature"`
	Before      string  `json:"before"`
	After       string  `json:"after"`
	Rule        *Origin `json:"rule"`
	// Verdict is what the rule did: accept, drop, or the chain's policy.
	Verdict string `json:"verdict,omitempty"`
}

type diffJSON struct {
	Before    string         `json:"before"`
	After     string         `json:"after"`
	Passed    bool           `json:"passed"`
	Broken    []diffFlowJSON `json:"broken"`
	Opened    []diffFlowJSON `json:"opened"`
	Fixed     []diffFlowJSON `json:"fixed"`
	Unchanged int            `json:"unchanged"`
	Scenarios []scenarioDiff `json:"scenarios,omitempty"`
}

type scenarioDiff struct {
	Name   string `json:"name"`
	Before bool   `json:"before"`
	After  bool   `json:"after"`
	Detail string `json:"detail"`
}

func flowsJSON(cs []FlowChange) []diffFlowJSON {
	out := []diffFlowJSON{}
	for _, c := range cs {
		j := diffFlowJSON{Flow: c.Flow.ID, Source: c.Flow.Source, Destination: c.Flow.Dest, Port: c.Flow.Port,
			Protocol: c.Flow.Transport, Feature: c.Flow.Feature, Before: outcome(c.Before), After: outcome(c.After)}
		if v := c.Verdict; v != nil {
			rule := v.Rule
			j.Rule = &rule
			j.Verdict = v.Action
			if v.Policy {
				j.Verdict = "policy " + v.Action
			}
		}
		out = append(out, j)
	}
	return out
}

func writeDiffJSON(w io.Writer, r *DiffReport) error {
	doc := diffJSON{Before: r.Before, After: r.After, Passed: r.Passed(),
		Broken: flowsJSON(r.Broken), Opened: flowsJSON(r.Opened), Fixed: flowsJSON(r.Fixed), Unchanged: r.Unchanged}
	for _, s := range r.Scenarios {
		doc.Scenarios = append(doc.Scenarios, scenarioDiff{s.Name, s.Before.Pass, s.After.Pass, s.After.Detail})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

// writeDiffJUnit writes one testcase per flow (failed when the change
// broke or opened it) and one per changed scenario.
func writeDiffJUnit(w io.Writer, r *DiffReport) error {
	doc := junit.Suites{Name: "exsim lab diff"}
	suite := junit.Suite{Name: "Flows: " + baseName(r.Before) + " -> " + baseName(r.After), Package: "exsim.labdiff"}
	add := func(c FlowChange, fail bool, kind string) {
		jc := junit.Case{Name: c.Flow.ID, Classname: "exsim.labdiff." + string(c.Flow.Table),
			SystemOut: fmt.Sprintf("%s: %s -> %s; %s", endpoint(c.Flow), outcome(c.Before), outcome(c.After), why(c))}
		if fail {
			msg := fmt.Sprintf("%s: %s, %s -> %s", kind, endpoint(c.Flow), outcome(c.Before), outcome(c.After))
			jc.Failure = &junit.Problem{Message: msg, Type: kind, Text: msg + "\nbreaks: " + c.Flow.Feature + "\n" + why(c) + "\n"}
		}
		suite.Add(jc, c.After.Duration)
	}
	for _, c := range r.Broken {
		add(c, true, "broken")
	}
	for _, c := range r.Opened {
		add(c, true, "opened")
	}
	for _, c := range r.Fixed {
		add(c, false, "fixed")
	}
	for _, u := range r.UnchangedFlows {
		add(FlowChange{Flow: u.Flow, Before: u, After: u}, false, "unchanged")
	}
	doc.Add(suite)
	if r.ScenariosRun {
		ss := junit.Suite{Name: "Scenarios", Package: "exsim.scenarios"}
		for _, s := range r.Scenarios {
			c := junit.Case{Name: s.Name, Classname: "exsim.scenarios", SystemOut: s.After.Detail}
			if s.Before.Pass && !s.After.Pass {
				c.Failure = &junit.Problem{Message: s.After.Detail, Type: "scenario", Text: s.After.Detail + "\nbreaks: " + s.After.Feature + "\n"}
			}
			ss.Add(c, s.After.Duration)
		}
		if r.ScenarioError != "" {
			ss.Add(junit.Case{Name: "scenarios", Classname: "exsim.scenarios", Error: &junit.Problem{Message: r.ScenarioError, Type: "error"}}, 0)
		}
		doc.Add(ss)
	}
	return doc.Write(w)
}
