package lab

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"strings"
	"testing"

	"github.com/exsim/exsim/internal/junit"
)

// TestSkippedScenarioInEveryFormat: a scenario that does not fit the
// topology is reported with its reason in the table, the JSON and the
// JUnit document, and is no failure.
func TestSkippedScenarioInEveryFormat(t *testing.T) {
	const why = "names server(s) EX02, which the topology lacks"
	rep := &TestReport{Firewall: FirewallMinimal, Scenarios: []ScenarioResult{
		{Name: "runs", Pass: true, Detail: "ok"},
		{Name: "does not fit", Skipped: why},
	}}
	if !rep.Passed() || len(rep.Failures()) != 0 {
		t.Errorf("a skipped scenario counts as a failure: %q", rep.Failures())
	}
	var table bytes.Buffer
	if err := WriteTestReport(&table, "table", rep, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), "SKIP  does not fit  skipped: "+why) || !strings.Contains(table.String(), "PASSED") {
		t.Errorf("table:\n%s", table.String())
	}

	var js bytes.Buffer
	if err := WriteTestReport(&js, "json", rep, false); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Passed    bool
		Scenarios []struct{ Name, Skipped string }
		Summary   scenarioCounts `json:"scenario_summary"`
	}
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if !doc.Passed || len(doc.Scenarios) != 2 || doc.Scenarios[1].Skipped != why || doc.Scenarios[0].Skipped != "" ||
		doc.Summary != (scenarioCounts{Scenarios: 2, Passed: 1, Skipped: 1}) {
		t.Errorf("json:\n%s", js.String())
	}

	s, jdoc := testJUnitLastSuite(t, rep)
	if s.Name != "Scenarios" || s.Tests != 2 || s.Skipped != 1 || s.Failures != 0 || s.Cases[1].Skipped == nil || s.Cases[1].Skipped.Message != why {
		t.Errorf("junit scenarios suite: %+v", s)
	}
	if !strings.Contains(jdoc, `<skipped message="`+why+`"`) {
		t.Errorf("junit lacks <skipped message=%q>:\n%s", why, jdoc)
	}
}

// testJUnitLastSuite renders rep with WriteTestJUnit and returns the
// document's last suite (the scenarios) and the document.
func testJUnitLastSuite(t *testing.T, rep *TestReport) (junit.Suite, string) {
	t.Helper()
	var b bytes.Buffer
	if err := WriteTestJUnit(&b, rep); err != nil {
		t.Fatal(err)
	}
	var doc junit.Suites
	if err := xml.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Suites[len(doc.Suites)-1], b.String()
}
