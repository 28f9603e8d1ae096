package lab

import (
	"testing"

	"github.com/exsim/exsim/probe"
	"github.com/exsim/exsim/topology"
)

// TestTraceVerdicts reads `nft -a monitor trace` lines as nft 1.0.6
// prints them: packets are matched to flows by addresses, protocol and
// destination port; a jump is followed to the drop in the chain jumped
// to; a chain's policy is reported with the chain's line; exsim's own
// tracing table never decides.
func TestTraceVerdicts(t *testing.T) {
	top := &topology.Topology{Servers: []topology.Server{
		{Name: "INET01", Address: "203.0.113.1"}, {Name: "EX01", Address: "192.0.2.1"}, {Name: "EDGE01", Address: "198.51.100.1"},
	}}
	fwd := ChainRef{"inet", "filter", "forward"}
	sub := ChainRef{"inet", "filter", "smtp"}
	o := &RuleOrigins{File: "fw.nft",
		Rules: map[RuleRef]Origin{
			{fwd, 5}: {File: "fw.nft", Line: 7, Text: "tcp dport 25 jump smtp"},
			{sub, 6}: {File: "fw.nft", Line: 12, Text: "ip saddr 203.0.113.0/24 drop"},
			{fwd, 8}: {File: "fw.nft", Line: 9, Text: "tcp dport 2525 accept"},
		},
		Chains: map[ChainRef]KernelChain{
			fwd: {Hook: "forward", Policy: "drop", Decl: Origin{File: "fw.nft", Line: 4, Text: "type filter hook forward priority 0; policy drop;"}},
			sub: {},
		},
	}
	tr := &tracer{records: map[string]*traceRecord{}, markers: map[int]bool{}}
	for _, l := range []string{
		// INET01 -> EX01:25: jumped to smtp, dropped there.
		`trace id 0001 inet exsim_trace trace_new packet: iif "r-inet" ip saddr 203.0.113.1 ip daddr 192.0.2.1 ip protocol tcp tcp sport 40000 tcp dport 25 tcp flags == syn`,
		`trace id 0001 inet exsim_trace trace_new rule tcp flags & (syn | ack) == syn meta nftrace set 1 # handle 3 (verdict continue)`,
		`trace id 0001 inet exsim_trace trace_new policy accept `,
		`trace id 0001 inet filter forward packet: iif "r-inet" oif "r-int" ip saddr 203.0.113.1 ip daddr 192.0.2.1 tcp sport 40000 tcp dport 25`,
		`trace id 0001 inet filter forward rule tcp dport 25 jump smtp # handle 5 (verdict jump smtp)`,
		`trace id 0001 inet filter smtp rule ip saddr 203.0.113.0/24 drop # handle 6 (verdict drop)`,
		// EDGE01 -> EX01:2525: accepted.
		`trace id 0002 inet filter forward packet: iif "r-per" ip saddr 198.51.100.1 ip daddr 192.0.2.1 tcp sport 40001 tcp dport 2525`,
		`trace id 0002 inet filter forward rule tcp dport 2525 accept # handle 8 (verdict accept)`,
		// EX01 -> EDGE01:50636: the policy.
		`trace id 0003 inet filter forward packet: iif "r-int" ip saddr 192.0.2.1 ip daddr 198.51.100.1 tcp sport 40002 tcp dport 50636`,
		`trace id 0003 inet filter forward policy drop `,
		// The tracer's marker.
		`trace id 0004 inet exsim_trace trace_marker packet: oif "lo" ip saddr 127.0.0.1 ip daddr 127.0.0.1 udp sport 51000 udp dport 9 udp length 26`,
	} {
		tr.parse(l)
	}
	if !tr.markers[51000] {
		t.Errorf("marker from port 51000 not seen")
	}
	flows := []probe.Flow{
		{ID: "smtp", Source: "INET01", Dest: "EX01", Port: 25, Transport: "tcp"},
		{ID: "relay", Source: "EDGE01", Dest: "EX01", Port: 2525, Transport: "tcp", Expect: probe.ExpectClosed},
		{ID: "edgesync", Source: "EX01", Dest: "EDGE01", Port: 50636, Transport: "tcp"},
		{ID: "unseen", Source: "EX01", Dest: "EDGE01", Port: 25, Transport: "tcp"},
	}
	fv := tr.verdicts(top, flows, o)
	for _, tc := range []struct {
		id      string
		reached bool
		want    string
	}{
		{"smtp", false, "dropped by fw.nft:12: ip saddr 203.0.113.0/24 drop"},
		{"relay", true, "accepted by fw.nft:9: tcp dport 2525 accept"},
		{"edgesync", false, "dropped by the default policy of chain inet filter forward (fw.nft:4: type filter hook forward priority 0; policy drop;)"},
	} {
		v := fv.For(tc.id, tc.reached)
		if v == nil || v.String() != tc.want {
			t.Errorf("verdict of %s = %v, want %q", tc.id, v, tc.want)
		}
	}
	if v := fv.For("unseen", false); v != nil {
		t.Errorf("verdict of a flow the trace never saw = %v, want none", v)
	}
}
