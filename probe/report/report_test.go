package report

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"flag"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/exsim/exsim/internal/clienttest"
	"github.com/exsim/exsim/probe"
	"github.com/exsim/exsim/topology"
)

var keep = flag.String("keep", "", "write the rendered SVG and PNG files to this directory")

func builtin(t *testing.T, name string) *topology.Topology {
	t.Helper()
	topo, err := topology.Builtin(name)
	if err != nil {
		t.Fatal(err)
	}
	return topo
}

// sample makes results for every flow of a topology: each as expected,
// except the flows broken names, which get the outcome given.
func sample(topo *topology.Topology, broken map[string]probe.Outcome) []probe.Result {
	var out []probe.Result
	for i, f := range probe.Flows(topo) {
		o := probe.OutcomeOpen
		detail := "220 " + f.WantName + " Microsoft ESMTP MAIL Service ready"
		switch f.Expect {
		case probe.ExpectClosed:
			o, detail = probe.OutcomeFiltered, "no answer within 3s"
		case probe.ExpectReachable, probe.ExpectUnrestricted:
			if f.Check == probe.CheckTCP {
				o, detail = probe.OutcomeRefused, "connection refused"
			}
		}
		if b, ok := broken[f.ID]; ok {
			o, detail = b, "seen: "+string(b)+` <&> "quoted" | pipe`
		}
		out = append(out, probe.Result{
			Flow: f, Outcome: o, Pass: f.Expect.Passes(o), Detail: detail,
			Duration: time.Duration(i+1) * time.Millisecond,
		})
	}
	return out
}

var contosoBroken = map[string]probe.Outcome{
	"edgesync-EX01-EDGE01-50636":                probe.OutcomeFiltered,
	"client-imap-INET01-EX01-143":               probe.OutcomeStartTLSStripped,
	"deny-internet-mailbox-smtp-INET01-EX01-25": probe.OutcomeOpen,
	"open-proxy-EDGE01-INET01-3128":             probe.OutcomeFiltered,
	"internal-rpc-EX01-EX02-49152":              probe.OutcomeFiltered,
}

func TestWriteTable(t *testing.T) {
	results := sample(builtin(t, "contoso"), contosoBroken)
	results[3].Error, results[3].Outcome, results[3].Pass = "probe: source address not on this host", "", false
	for _, color := range []bool{false, true} {
		var b bytes.Buffer
		if err := WriteTable(&b, results, color); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		if got := strings.Contains(out, "\x1b["); got != color {
			t.Errorf("WriteTable(color=%v) has ANSI escapes = %v", color, got)
		}
		n := len(results)
		want := fmt.Sprintf("%d flows, %d passed, 6 failed", n, n-6)
		if !strings.Contains(out, want) {
			t.Errorf("WriteTable summary: want %q in\n%s", want, out)
		}
		if color {
			continue
		}
		// Tables in the seed's order, failures first within each.
		var heads []int
		for _, tb := range []probe.Table{probe.TableClients, probe.TableMailFlowEdge, probe.TableGroundRules, probe.TableLab} {
			heads = append(heads, strings.Index(out, tb.Title()+" ("))
		}
		for i := 1; i < len(heads); i++ {
			if heads[i-1] < 0 || heads[i] < heads[i-1] {
				t.Fatalf("WriteTable: table headings out of order %v:\n%s", heads, out)
			}
		}
		edge := out[heads[1]:heads[2]]
		if f, p := strings.Index(edge, "FAIL"), strings.Index(edge, "PASS"); f < 0 || p < f {
			t.Errorf("WriteTable: failures are not first in the Edge table:\n%s", edge)
		}
		for _, want := range []string{
			"edgesync-EX01-EDGE01-50636", "EX01 -> EDGE01:50636/tcp", "filtered",
			"breaks: EdgeSync", "error", "source address not on this host",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("WriteTable lacks %q", want)
			}
		}
	}
}

func TestWriteJSON(t *testing.T) {
	results := sample(builtin(t, "contoso"), contosoBroken)
	var b bytes.Buffer
	if err := WriteJSON(&b, results); err != nil {
		t.Fatal(err)
	}
	var doc JSONReport
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatalf("WriteJSON is not JSON: %v", err)
	}
	if n := len(results); doc.Summary != (JSONSummary{Flows: n, Passed: n - 5, Failed: 5}) {
		t.Errorf("WriteJSON summary = %+v", doc.Summary)
	}
	if len(doc.Results) != len(results) {
		t.Fatalf("WriteJSON has %d results, want %d", len(doc.Results), len(results))
	}
	for i, r := range doc.Results {
		w := results[i]
		if r.Flow != w.Flow || r.Outcome != string(w.Outcome) || r.Pass != w.Pass || r.Detail != w.Detail {
			t.Errorf("WriteJSON result %d = %+v, want %+v", i, r, w)
		}
		if r.DurationMS != float64(i+1) {
			t.Errorf("WriteJSON result %d duration_ms = %v, want %d", i, r.DurationMS, i+1)
		}
	}
	// The flow's fields are inline, with snake_case names.
	var raw struct {
		Results []map[string]any `json:"results"`
	}
	json.Unmarshal(b.Bytes(), &raw)
	for _, k := range []string{"id", "table", "purpose", "feature", "source", "dest", "port", "base_port", "transport", "expect", "check", "listener", "want_name", "outcome", "pass", "detail", "duration_ms"} {
		if _, ok := raw.Results[0][k]; !ok {
			t.Errorf("WriteJSON result lacks %q: %v", k, raw.Results[0])
		}
	}
}

// junitCounts are the attributes testsuites and each testsuite carry
// (nil when missing).
type junitCounts struct {
	Tests    *int    `xml:"tests,attr"`
	Failures *int    `xml:"failures,attr"`
	Errors   *int    `xml:"errors,attr"`
	Time     *string `xml:"time,attr"`
}

// junit* mirror the JUnit XML schema CI systems validate against.
type junitDoc struct {
	XMLName xml.Name `xml:"testsuites"`
	Name    string   `xml:"name,attr"`
	junitCounts
	Suites []struct {
		Name *string `xml:"name,attr"`
		junitCounts
		Cases []struct {
			Name      *string `xml:"name,attr"`
			Classname *string `xml:"classname,attr"`
			Time      *string `xml:"time,attr"`
			Failure   *struct {
				Message *string `xml:"message,attr"`
				Type    *string `xml:"type,attr"`
				Text    string  `xml:",chardata"`
			} `xml:"failure"`
			Error *struct {
				Message *string `xml:"message,attr"`
				Type    *string `xml:"type,attr"`
			} `xml:"error"`
			SystemOut string `xml:"system-out"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

func TestWriteJUnit(t *testing.T) {
	results := sample(builtin(t, "contoso"), contosoBroken)
	results[0].Error, results[0].Outcome, results[0].Pass = "probe cancelled", "", false
	var b bytes.Buffer
	if err := WriteJUnit(&b, results); err != nil {
		t.Fatal(err)
	}
	var doc junitDoc
	if err := xml.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatalf("WriteJUnit is not XML: %v\n%s", err, b.String())
	}
	if doc.Tests == nil || doc.Failures == nil || doc.Errors == nil || doc.Time == nil {
		t.Fatalf("testsuites lacks tests/failures/errors/time")
	}
	n := len(results)
	if *doc.Tests != n || *doc.Failures != 5 || *doc.Errors != 1 {
		t.Errorf("testsuites tests=%d failures=%d errors=%d, want %d, 5, 1", *doc.Tests, *doc.Failures, *doc.Errors, n)
	}
	var names []string
	cases, fails, errs := 0, 0, 0
	for _, s := range doc.Suites {
		if s.Name == nil || s.Tests == nil || s.Failures == nil || s.Errors == nil || s.Time == nil {
			t.Fatalf("testsuite lacks a required attribute: %+v", s)
		}
		names = append(names, *s.Name)
		if *s.Tests != len(s.Cases) {
			t.Errorf("testsuite %s tests=%d, has %d testcases", *s.Name, *s.Tests, len(s.Cases))
		}
		sf, se := 0, 0
		for _, c := range s.Cases {
			cases++
			if c.Name == nil || c.Classname == nil || c.Time == nil {
				t.Fatalf("testcase lacks name/classname/time")
			}
			if !strings.HasPrefix(*c.Classname, "exsim.probe.") || c.SystemOut == "" {
				t.Errorf("testcase %s classname=%s system-out=%q", *c.Name, *c.Classname, c.SystemOut)
			}
			if c.Failure != nil {
				sf++
				if c.Failure.Message == nil || c.Failure.Type == nil || !strings.Contains(c.Failure.Text, "breaks: ") {
					t.Errorf("testcase %s: failure without message/type/feature", *c.Name)
				}
			}
			if c.Error != nil {
				se++
			}
		}
		if sf != *s.Failures || se != *s.Errors {
			t.Errorf("testsuite %s failures=%d errors=%d, counted %d and %d", *s.Name, *s.Failures, *s.Errors, sf, se)
		}
		fails += sf
		errs += se
	}
	if cases != n || fails != 5 || errs != 1 {
		t.Errorf("WriteJUnit has %d testcases, %d failures, %d errors; want %d, 5, 1", cases, fails, errs, n)
	}
	want := []string{"Clients and services", "Mail flow with Edge Transport servers", "Ground rules", "Lab infrastructure"}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Errorf("testsuites = %v, want %v", names, want)
	}

	// And against the XSD, when xmllint is installed.
	clienttest.ValidateJUnit(t, b.Bytes())
}

func TestWriteMarkdown(t *testing.T) {
	results := sample(builtin(t, "contoso-noedge"), map[string]probe.Outcome{"outbound-EX01-INET01-25": probe.OutcomeWrongPeer})
	var b bytes.Buffer
	if err := WriteMarkdown(&b, results); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"# exsim probe", fmt.Sprintf("**%d flows, %d passed, 1 failed**", len(results), len(results)-1), "## Mail flow (no Edge Transport servers)",
		"| ❌ **FAIL** | `outbound-EX01-INET01-25` | EX01 → INET01:25/tcp | open | wrong-peer |",
		`&lt;&amp;&gt; "quoted" \| pipe<br>**Breaks:** outbound internet mail`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("WriteMarkdown lacks %q:\n%s", want, out)
		}
	}
	// Every table row has the header's six cells.
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "| ") {
			if n := strings.Count(strings.ReplaceAll(line, `\|`, ""), "|"); n != 7 {
				t.Errorf("WriteMarkdown row has %d pipes, want 7: %s", n, line)
			}
		}
	}
}

func TestWriteDispatch(t *testing.T) {
	topo := builtin(t, "contoso")
	results := sample(topo, nil)
	for _, f := range Formats {
		var b bytes.Buffer
		if err := Write(&b, f, topo, results, false); err != nil || b.Len() == 0 {
			t.Errorf("Write(%s) = %v, %d bytes", f, err, b.Len())
		}
	}
	if err := Write(&bytes.Buffer{}, "pdf", topo, results, false); err == nil {
		t.Errorf("Write(pdf) = nil, want an error")
	}
	if err := WriteSVG(&bytes.Buffer{}, nil, results); err == nil {
		t.Errorf("WriteSVG(nil topology) = nil, want an error")
	}
}
