package scenarios_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"strings"
	"testing"
	"time"

	"github.com/exsim/exsim/exsimtest"
	"github.com/exsim/exsim/internal/clienttest"
	"github.com/exsim/exsim/internal/control"
	"github.com/exsim/exsim/probe"
	"github.com/exsim/exsim/roles"
	"github.com/exsim/exsim/scenarios"
	"github.com/exsim/exsim/topology"
)

type env struct {
	c *control.Client
	t *topology.Topology
}

func (e env) Client(string) (*control.Client, error) { return e.c, nil }
func (e env) Topology() *topology.Topology           { return e.t }

// startLab runs a built-in lab in-process behind the simulated firewall
// (exsimtest), with its admin API, as exsim up does.
func startLab(t *testing.T, name string) (*roles.Runtime, env) {
	t.Helper()
	rt := exsimtest.Start(t, exsimtest.WithTopology(name)).Runtime()
	api, err := control.Listen("127.0.0.1:0", "test-token", rt, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { api.Shutdown(context.Background()) })
	return rt, env{c: &control.Client{BaseURL: api.URL(), Token: "test-token"}, t: rt.Topology()}
}

func TestBuiltinScenariosAndProbe(t *testing.T) {
	all, err := scenarios.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range topology.BuiltinNames() {
		t.Run(name, func(t *testing.T) {
			rt, e := startLab(t, name)
			ctx := context.Background()

			results, err := rt.ProbeFlows(ctx, probe.Flows(e.t), 2*time.Second, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range results {
				if !r.Pass {
					t.Errorf("flow %s: %s (%s)", r.Flow.ID, r.Outcome, r.Detail)
				}
			}

			scs := scenarios.For(all, name)
			if len(scs) < 8 {
				t.Fatalf("only %d built-in scenarios for %s", len(scs), name)
			}
			runner := &scenarios.Runner{Env: e, Timeout: 20 * time.Second}
			for _, sc := range scs {
				r := runner.RunOne(ctx, sc)
				if !r.Pass {
					t.Errorf("scenario %q (%s): %s", sc.Name, sc.File, r.Error)
					for _, s := range r.Steps {
						t.Logf("  step %d %s pass=%v: %s", s.Index+1, s.Kind, s.Pass, s.Detail)
					}
				}
			}
		})
	}
}

// TestEveryRowHasAScenario checks the built-in scenarios cover every row
// of the seed's tables.
func TestEveryRowHasAScenario(t *testing.T) {
	all, err := scenarios.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]bool{}
	for _, s := range all {
		rows[s.Table+"/"+s.Row] = true
	}
	for _, want := range []string{
		"clients/Encrypted web connections (443/TCP)", "clients/Unencrypted web connections (80/TCP)",
		"clients/IMAP4 clients (143/TCP, 993/TCP)", "clients/POP3 clients (110/TCP, 995/TCP)",
		"clients/SMTP clients (authenticated) (587/TCP)",
		"mailflow-noedge/Inbound mail", "mailflow-noedge/Outbound mail",
		"mailflow-noedge/Outbound mail (if proxied through the Front End transport service)",
		"mailflow-noedge/DNS for name resolution of the next mail hop",
		"mailflow-edge/Inbound mail - Internet to Edge Transport server",
		"mailflow-edge/Inbound mail - Edge Transport server to internal Exchange organization",
		"mailflow-edge/Outbound mail - Internal Exchange organization to Edge Transport server",
		"mailflow-edge/Outbound mail - Edge Transport server to internet",
		"mailflow-edge/EdgeSync synchronization",
		"mailflow-edge/DNS for name resolution of the next mail hop (Edge)",
		"mailflow-edge/Open proxy server detection in sender reputation",
	} {
		if !rows[want] {
			t.Errorf("no built-in scenario for %q", want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"name: x\ntopology: any\nsteps:\n  - sned: {}\n", "unknown field"},
		{"name: x\ntopology: any\nsteps:\n  - send: {from: A}\n    sleep: 1s\n", "a step does one thing"},
		{"name: x\ntopology: any\nsteps:\n  - {}\n", "empty step: give one of assert_not_delivered, assert_path,"},
		{"topology: any\nsteps:\n  - sleep: 1s\n", "name is required"},
		{"name: x\nsteps:\n  - sleep: 1s\n", "topology is required"},
	} {
		_, err := scenarios.Parse("s.yaml", []byte(tc.src))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "s.yaml") {
			t.Errorf("Parse(%q) = %v, want %q naming the file", tc.src, err, tc.want)
		}
	}
}

func TestJUnitReport(t *testing.T) {
	rs := []scenarios.Result{
		{Name: "ok one", Table: "clients", Pass: true, Duration: time.Second, Steps: []scenarios.StepResult{{Kind: "send", Pass: true, Detail: "sent"}}},
		{Name: "bad <one>", Table: "mailflow-edge", Pass: false, Error: "step 2: refused & gone", Flows: []string{"edge-inbound-INET01-EDGE01-25"}},
	}
	var b bytes.Buffer
	if err := scenarios.WriteJUnit(&b, rs); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Suites   []struct {
			Cases []struct {
				Name    string `xml:"name,attr"`
				Failure *struct {
					Message string `xml:"message,attr"`
				} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Tests != 2 || doc.Failures != 1 || doc.Suites[0].Cases[1].Failure == nil {
		t.Fatalf("JUnit = %s", b.String())
	}
	clienttest.ValidateJUnit(t, b.Bytes())
}

// TestIdleTimeoutCutsHeldConnections runs scenario 32 alone on contoso:
// the EWS stream, the ActiveSync Ping and the RPC over HTTP channels last
// without the idle fault and are cut with it.
func TestIdleTimeoutCutsHeldConnections(t *testing.T) {
	all, err := scenarios.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	var sc *scenarios.Scenario
	for _, s := range scenarios.For(all, "contoso") {
		if strings.Contains(s.File, "32-proxy-idle-timeout") {
			sc = s
		}
	}
	if sc == nil {
		t.Fatal("no scenario 32 for contoso")
	}
	_, e := startLab(t, "contoso")
	r := (&scenarios.Runner{Env: e, Timeout: 20 * time.Second}).RunOne(context.Background(), sc)
	var details []string
	for _, s := range r.Steps {
		details = append(details, s.Detail)
		t.Logf("step %d %s pass=%v: %s", s.Index+1, s.Kind, s.Pass, s.Detail)
	}
	if !r.Pass {
		t.Fatalf("scenario 32: %s", r.Error)
	}
	joined := strings.Join(details, "\n")
	for _, want := range []string{"ActiveSync Ping (HeartbeatInterval 480 s)", "ActiveSync Ping on", "RPC over HTTP channels", "held open for", "ended before"} {
		if !strings.Contains(joined, want) {
			t.Errorf("no step says %q", want)
		}
	}
}
