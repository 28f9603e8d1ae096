package probe

import (
	"strings"
	"testing"

	"github.com/exsim/exsim/topology"
)

func builtinTopology(name string) (*topology.Topology, error) { return topology.Builtin(name) }

func builtin(t testing.TB, name string) *topology.Topology {
	t.Helper()
	topo, err := builtinTopology(name)
	if err != nil {
		t.Fatalf("Builtin(%q): %v", name, err)
	}
	return topo
}

// find returns the flows from src to dst on port/transport.
func find(flows []Flow, src, dst string, port int, transport string) []Flow {
	var out []Flow
	for _, f := range flows {
		if f.Source == src && f.Dest == dst && f.Port == port && f.Transport == transport {
			out = append(out, f)
		}
	}
	return out
}

type wantFlow struct {
	src, dst  string
	port      int
	transport string
	expect    Expect // "" asserts that no such flow exists
	check     Check  // "" skips the check
	table     Table  // "" skips the check
	idPrefix  string // "" skips the check
}

func checkFlows(t *testing.T, flows []Flow, want []wantFlow) {
	t.Helper()
	for _, w := range want {
		got := find(flows, w.src, w.dst, w.port, w.transport)
		name := w.src + "->" + w.dst + ":" + topology.PortString(w.port, w.transport)
		if w.expect == "" {
			if len(got) != 0 {
				t.Errorf("Flows has %s = %+v, want none", name, got)
			}
			continue
		}
		if len(got) == 0 {
			t.Errorf("Flows lacks %s (%s)", name, w.expect)
			continue
		}
		f := got[0]
		if f.Expect != w.expect {
			t.Errorf("Flow %s expect = %s, want %s", f.ID, f.Expect, w.expect)
		}
		if w.check != "" && f.Check != w.check {
			t.Errorf("Flow %s check = %s, want %s", f.ID, f.Check, w.check)
		}
		if w.table != "" && f.Table != w.table {
			t.Errorf("Flow %s table = %s, want %s", f.ID, f.Table, w.table)
		}
		if w.idPrefix != "" && !strings.HasPrefix(f.ID, w.idPrefix) {
			t.Errorf("Flow %s: want an ID starting %q", f.ID, w.idPrefix)
		}
	}
}

func TestFlowsContoso(t *testing.T) {
	flows := Flows(builtin(t, "contoso"))
	checkFlows(t, flows, []wantFlow{
		// Clients: every internet server to every Mailbox server.
		{"INET01", "EX01", 443, "tcp", ExpectOpen, CheckHTTPS, TableClients, "client-https-"},
		{"INET01", "EX02", 80, "tcp", ExpectOpen, CheckHTTP, TableClients, ""},
		{"INET01", "EX01", 587, "tcp", ExpectOpen, CheckSMTPStartTLS, TableClients, "client-submission-"},
		{"INET01", "EX01", 143, "tcp", ExpectOpen, CheckIMAP, TableClients, ""},
		{"INET01", "EX01", 993, "tcp", ExpectOpen, CheckIMAPS, TableClients, ""},
		{"INET01", "EX01", 110, "tcp", ExpectOpen, CheckPOP3, TableClients, ""},
		{"INET01", "EX01", 995, "tcp", ExpectOpen, CheckPOP3S, TableClients, ""},
		// EX02 leaves IMAP4 and POP3 disabled: Exchange's default, the port is closed.
		{"INET01", "EX02", 143, "tcp", ExpectClosed, CheckIMAP, TableClients, ""},
		{"INET01", "EX02", 995, "tcp", ExpectClosed, CheckPOP3S, TableClients, ""},
		// Mail flow with Edge.
		{"INET01", "EDGE01", 25, "tcp", ExpectOpen, CheckSMTPStartTLS, TableMailFlowEdge, "edge-inbound-INET01-EDGE01-25"},
		{"EDGE01", "EX01", 25, "tcp", ExpectOpen, CheckSMTPStartTLS, TableMailFlowEdge, "edge-to-mailbox-"},
		{"EDGE01", "EX02", 25, "tcp", ExpectOpen, "", TableMailFlowEdge, ""},
		{"EX01", "EDGE01", 25, "tcp", ExpectOpen, "", TableMailFlowEdge, "mailbox-to-edge-"},
		{"EX02", "EDGE01", 25, "tcp", ExpectOpen, "", TableMailFlowEdge, ""},
		{"EDGE01", "INET01", 25, "tcp", ExpectOpen, "", TableMailFlowEdge, "edge-outbound-"},
		{"EX01", "EDGE01", 50636, "tcp", ExpectOpen, CheckLDAPS, TableMailFlowEdge, "edgesync-EX01-EDGE01-50636"},
		{"EX02", "EDGE01", 50636, "tcp", "", "", "", ""}, // added after the subscription
		{"EDGE01", "DNS01", 53, "udp", ExpectOpen, CheckDNS, TableMailFlowEdge, "edge-dns-EDGE01-DNS01-53-udp"},
		{"EDGE01", "DNS01", 53, "tcp", ExpectOpen, CheckDNS, TableMailFlowEdge, ""},
		{"EDGE01", "INET01", 1081, "tcp", ExpectReachable, CheckTCP, TableMailFlowEdge, "open-proxy-"},
		{"EDGE01", "INET01", 1080, "tcp", ExpectReachable, CheckTCP, "", ""},
		{"EDGE01", "INET01", 23, "tcp", ExpectReachable, CheckTCP, "", ""},
		{"EDGE01", "INET01", 6588, "tcp", ExpectReachable, CheckTCP, "", ""},
		{"EDGE01", "INET01", 3128, "tcp", ExpectReachable, CheckTCP, "", ""},
		{"EDGE01", "INET01", 80, "tcp", ExpectReachable, CheckTCP, "", ""},
		// The no-Edge table does not apply.
		{"EX01", "INET01", 25, "tcp", "", "", "", ""},
		// Ground rules.
		{"INET01", "EX01", 25, "tcp", ExpectClosed, CheckSMTPStartTLS, TableGroundRules, "deny-internet-mailbox-smtp-"},
		{"INET01", "EX02", 25, "tcp", ExpectClosed, "", TableGroundRules, ""},
		{"INET01", "EDGE01", 50636, "tcp", ExpectClosed, CheckLDAPS, TableGroundRules, "deny-internet-adam-"},
		{"INET01", "EDGE01", 50389, "tcp", ExpectClosed, CheckTCP, TableGroundRules, ""},
		{"INET01", "EX01", 2525, "tcp", ExpectClosed, CheckSMTPStartTLS, TableGroundRules, "deny-internet-internal-"},
		{"INET01", "EX02", 1993, "tcp", ExpectClosed, CheckIMAPS, TableGroundRules, ""},
		{"INET01", "EX01", 717, "tcp", ExpectClosed, "", TableGroundRules, ""},
		{"EDGE01", "EX01", 2525, "tcp", ExpectClosed, "", TableGroundRules, "deny-edge-internal-"},
		{"EDGE01", "EX02", 443, "tcp", ExpectClosed, CheckHTTPS, TableGroundRules, ""},
		{"EDGE01", "EX01", 135, "tcp", ExpectClosed, CheckTCP, TableGroundRules, ""},
		{"EX01", "EX02", 2525, "tcp", ExpectUnrestricted, CheckSMTPStartTLS, TableGroundRules, "internal-EX01-EX02-2525"},
		{"EX02", "EX01", 475, "tcp", ExpectUnrestricted, "", TableGroundRules, ""},
		{"EX02", "EX01", 1993, "tcp", ExpectUnrestricted, CheckIMAPS, TableGroundRules, ""}, // EX01 runs IMAP4
		{"EX01", "EX02", 1993, "tcp", "", "", "", ""},                                       // EX02 does not
		{"EX01", "EX02", 135, "tcp", ExpectUnrestricted, CheckTCP, TableGroundRules, "internal-rpc-"},
		{"EX02", "EX01", 49152, "tcp", ExpectUnrestricted, CheckTCP, TableGroundRules, ""},
		{"EX01", "EX01", 25, "tcp", "", "", "", ""},
		// Lab.
		{"INET01", "DNS01", 53, "udp", ExpectOpen, CheckDNS, TableLab, "lab-dns-"},
		{"INET01", "DNS01", 53, "tcp", ExpectOpen, CheckDNS, TableLab, ""},
	})
}

func TestFlowsContosoNoEdge(t *testing.T) {
	topo := builtin(t, "contoso-noedge")
	flows := Flows(topo)
	checkFlows(t, flows, []wantFlow{
		{"INET01", "EX01", 25, "tcp", ExpectOpen, CheckSMTPStartTLS, TableMailFlowNoEdge, "inbound-INET01-EX01-25"},
		{"INET01", "EX02", 25, "tcp", "", "", "", ""}, // MX is only EX01
		{"EX01", "INET01", 25, "tcp", ExpectOpen, CheckSMTPStartTLS, TableMailFlowNoEdge, "outbound-EX01-INET01-25"},
		{"EX02", "INET01", 25, "tcp", ExpectOpen, CheckSMTPStartTLS, TableMailFlowNoEdge, "outbound-feproxy-EX02-INET01-25"},
		{"EX01", "DNS01", 53, "udp", ExpectOpen, CheckDNS, TableMailFlowNoEdge, "dns-EX01-DNS01-53-udp"},
		{"EX02", "DNS01", 53, "tcp", ExpectOpen, CheckDNS, TableMailFlowNoEdge, "dns-EX02-DNS01-53"},
		{"INET01", "EX01", 443, "tcp", ExpectOpen, CheckHTTPS, TableClients, ""},
		{"INET01", "EX01", 2525, "tcp", ExpectClosed, "", TableGroundRules, ""},
		{"EX01", "EX02", 717, "tcp", ExpectUnrestricted, "", TableGroundRules, ""},
		{"INET01", "DNS01", 53, "udp", ExpectOpen, CheckDNS, TableLab, ""},
	})
	for _, f := range flows {
		switch {
		case f.Table == TableMailFlowEdge:
			t.Errorf("Flows(contoso-noedge) has Edge flow %s", f.ID)
		case f.Source == "EX01" && f.Dest == "INET01" && strings.HasPrefix(f.ID, "outbound-feproxy"):
			t.Errorf("Flows(contoso-noedge) has %s: EX01's connector does not proxy", f.ID)
		}
	}
	got := 0
	for _, f := range flows {
		if strings.HasPrefix(f.ID, "inbound-") {
			got++
		}
	}
	if got != 1 {
		t.Errorf("Flows(contoso-noedge) has %d inbound flows, want 1 (MX only EX01)", got)
	}
}

func TestFlowsInvariants(t *testing.T) {
	for _, name := range topology.BuiltinNames() {
		topo := builtin(t, name)
		for _, offset := range []int{0, 10000} {
			if err := topo.SetPortOffset(offset); err != nil {
				t.Fatal(err)
			}
			flows := Flows(topo)
			if len(flows) == 0 {
				t.Fatalf("Flows(%s, %d) is empty", name, offset)
			}
			ids := map[string]bool{}
			for _, f := range flows {
				if ids[f.ID] {
					t.Errorf("Flows(%s) has duplicate ID %s", name, f.ID)
				}
				ids[f.ID] = true
				want := f.BasePort + offset
				if strings.HasPrefix(f.Listener, "RPC ") {
					want = f.BasePort
				}
				if f.Port != want {
					t.Errorf("Flow %s port = %d, want %d", f.ID, f.Port, want)
				}
				if f.Purpose == "" || f.Feature == "" || f.Listener == "" || f.WantName == "" {
					t.Errorf("Flow %s lacks purpose, feature, listener or name: %+v", f.ID, f)
				}
				if topo.Server(f.Source) == nil || topo.Server(f.Dest) == nil || f.Source == f.Dest {
					t.Errorf("Flow %s: bad servers %s -> %s", f.ID, f.Source, f.Dest)
				}
				switch f.Expect {
				case ExpectOpen, ExpectClosed, ExpectUnrestricted, ExpectReachable:
				default:
					t.Errorf("Flow %s expect = %q", f.ID, f.Expect)
				}
				if f.WantName != topo.Server(f.Dest).FQDN {
					t.Errorf("Flow %s want name = %s, want %s", f.ID, f.WantName, topo.Server(f.Dest).FQDN)
				}
				if strings.Contains(f.ID, " ") {
					t.Errorf("Flow ID %q has a space", f.ID)
				}
			}
			// Flows are stable: derived twice, they are the same.
			again := Flows(topo)
			for i := range flows {
				if flows[i] != again[i] {
					t.Fatalf("Flows(%s) is not stable at %d: %+v vs %+v", name, i, flows[i], again[i])
				}
			}
		}
	}
}

func TestFlowsSmartHostAndDocumentedWins(t *testing.T) {
	topo := builtin(t, "contoso-noedge")
	// A smart-host connector on EX02 to INET01 on 587, and an MX list that
	// names EX02 too.
	topo.SendConnectors = append(topo.SendConnectors, topology.SendConnector{
		Name: "Via smart host", AddressSpaces: []string{"fabrikam.com"}, SourceServers: []string{"EX02"},
		SmartHosts: []string{"mx.fabrikam.com"}, Port: 587,
	})
	topo.MXServers = []string{"EX01", "EX02"}
	flows := Flows(topo)
	checkFlows(t, flows, []wantFlow{
		{"EX02", "INET01", 587, "tcp", ExpectOpen, CheckSMTPStartTLS, TableMailFlowNoEdge, "outbound-EX02-INET01-587"},
		{"INET01", "EX02", 25, "tcp", ExpectOpen, "", TableMailFlowNoEdge, "inbound-"},
	})
}

func TestFlowsDocumentedFlowBeatsGroundRule(t *testing.T) {
	topo := builtin(t, "contoso")
	// The administrator also points MX at EX01 while the Edge is subscribed:
	// the inbound row does not apply (there is a subscribed Edge), so the
	// ground rule's closed flow stays.
	topo.MXServers = []string{"EDGE01", "EX01"}
	flows := Flows(topo)
	checkFlows(t, flows, []wantFlow{{"INET01", "EX01", 25, "tcp", ExpectClosed, "", TableGroundRules, ""}})

	// dropContradictions: an open flow removes the closed one with the same 5-tuple.
	in := []Flow{
		{ID: "a", Source: "S", Dest: "D", Port: 25, Transport: "tcp", Expect: ExpectClosed},
		{ID: "b", Source: "S", Dest: "D", Port: 25, Transport: "tcp", Expect: ExpectOpen},
		{ID: "c", Source: "S", Dest: "D", Port: 25, Transport: "udp", Expect: ExpectClosed},
	}
	out := dropContradictions(in)
	if len(out) != 2 || out[0].ID != "b" || out[1].ID != "c" {
		t.Errorf("dropContradictions = %+v, want b and c", out)
	}
}

func TestExpectPasses(t *testing.T) {
	all := Outcomes
	pass := map[Expect][]Outcome{
		ExpectOpen:         {OutcomeOpen},
		ExpectClosed:       {OutcomeRefused, OutcomeFiltered},
		ExpectUnrestricted: {OutcomeOpen, OutcomeRefused},
		ExpectReachable:    {OutcomeOpen, OutcomeRefused},
	}
	for e, ok := range pass {
		for _, o := range all {
			want := false
			for _, p := range ok {
				want = want || p == o
			}
			if got := e.Passes(o); got != want {
				t.Errorf("%s.Passes(%s) = %v, want %v", e, o, got, want)
			}
		}
		if e.Passes("") {
			t.Errorf("%s.Passes(\"\") = true, want false", e)
		}
	}
}

func TestSimulatedFirewall(t *testing.T) {
	topo := builtin(t, "contoso")
	flows := Flows(topo)
	faults := SimulatedFirewall(topo, flows, "drop")
	closed := 0
	for _, f := range flows {
		if f.Expect == ExpectClosed {
			closed++
		}
	}
	if len(faults) != closed || closed == 0 {
		t.Fatalf("SimulatedFirewall = %d faults, want %d (one per closed flow)", len(faults), closed)
	}
	for _, f := range faults {
		if err := f.Validate(); err != nil {
			t.Errorf("fault %+v: %v", f, err)
		}
	}
}
