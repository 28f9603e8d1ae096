package networkpolicy

import (
	"iter"
	"net/netip"
	"slices"
	"strings"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"

	"github.com/exsim/exsim/topology"
)

// The contoso lab's loopback addresses, and one address that is no pod.
var (
	edge01 = netip.MustParseAddr("127.0.10.1")
	ex01   = netip.MustParseAddr("127.0.20.1")
	ex02   = netip.MustParseAddr("127.0.20.2")
	dns01  = netip.MustParseAddr("127.0.20.53")
	inet01 = netip.MustParseAddr("127.0.30.1")
	nopod  = netip.MustParseAddr("127.0.99.9")
)

func contoso(t testing.TB) *topology.Topology {
	t.Helper()
	topo, err := topology.Builtin("contoso")
	if err != nil {
		t.Fatal(err)
	}
	return topo
}

// doc is one NetworkPolicy document; spec is the YAML under spec:,
// indented by two spaces.
func doc(name, ns, spec string) string {
	return "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: " + name +
		"\n  namespace: " + ns + "\nspec:\n" + spec
}

func parsePolicies(t testing.TB, docs ...string) []Policy {
	t.Helper()
	pols, _, err := Parse("policies.yaml", []byte(strings.Join(docs, "---\n")))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return pols
}

func tcp(src, dst netip.Addr, port int) Packet { return Packet{src, dst, "tcp", port} }
func udp(src, dst netip.Addr, port int) Packet { return Packet{src, dst, "udp", port} }

// check is one connection and whether the policies allow it.
type check struct {
	p    Packet
	want bool
}

// The cases each pin one semantic with hand-written expectations; every
// case is also compared, connection by connection, with the direct
// evaluation of NetworkPolicy semantics (TestTranslateAgreesWithSemantics).
var semanticCases = []struct {
	name   string
	docs   []string
	checks []check
}{
	{"no policy: everything open", nil, []check{
		{tcp(inet01, ex01, 2525), true}, {udp(ex01, inet01, 9), true}, {Packet{edge01, dns01, "sctp", 7}, true},
	}},
	{"ingress isolation leaves egress and other pods open", []string{
		doc("deny-mailbox-in", "internal", "  podSelector:\n    matchLabels: {exsim.io/role: mailbox}\n  policyTypes: [Ingress]\n"),
	}, []check{
		{tcp(inet01, ex01, 25), false}, {tcp(edge01, ex02, 25), false}, {tcp(inet01, dns01, 53), true},
		{tcp(ex01, inet01, 25), true}, {tcp(nopod, ex01, 443), false},
	}},
	{"egress isolation only", []string{
		doc("deny-out", "internal", "  podSelector: {}\n  policyTypes: [Egress]\n"),
	}, []check{
		{tcp(ex01, inet01, 25), false}, {udp(dns01, inet01, 53), false}, {tcp(inet01, ex01, 25), true}, {tcp(edge01, inet01, 25), true},
	}},
	{"the allows of every policy selecting a pod add up", []string{
		doc("smtp", "internal", "  podSelector:\n    matchLabels: {exsim.io/server: ex01}\n  ingress:\n    - ports:\n        - port: 25\n"),
		doc("https", "internal", "  podSelector:\n    matchLabels: {exsim.io/role: mailbox}\n  ingress:\n    - ports:\n        - port: 443\n"),
	}, []check{
		{tcp(inet01, ex01, 25), true}, {tcp(inet01, ex01, 443), true}, {tcp(inet01, ex01, 587), false},
		{tcp(inet01, ex02, 443), true}, {tcp(inet01, ex02, 25), false},
	}},
	{"a connection needs the source's egress and the destination's ingress", []string{
		doc("inet-out", "internet", "  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n    - ports:\n        - port: 443\n"),
		doc("mbx-in", "internal", "  podSelector:\n    matchLabels: {exsim.io/role: mailbox}\n  ingress:\n    - ports:\n        - port: 25\n        - port: 443\n"),
	}, []check{
		{tcp(inet01, ex01, 443), true}, {tcp(inet01, ex01, 25), false}, {tcp(inet01, ex01, 80), false},
		{tcp(edge01, ex01, 25), true}, {tcp(inet01, dns01, 443), true}, {tcp(inet01, nopod, 443), true}, {tcp(inet01, nopod, 25), false},
	}},
	{"podSelector peers are pods of the policy's namespace", []string{
		doc("dns", "internal", "  podSelector:\n    matchLabels: {exsim.io/role: dns}\n  ingress:\n    - from:\n        - podSelector:\n            matchLabels: {exsim.io/role: mailbox}\n"),
	}, []check{
		{udp(ex01, dns01, 53), true}, {tcp(ex02, dns01, 53), true}, {udp(edge01, dns01, 53), false}, {udp(inet01, dns01, 53), false},
	}},
	{"namespaceSelector peers are every pod of the namespaces", []string{
		doc("dns", "internal", "  podSelector:\n    matchLabels: {exsim.io/role: dns}\n  ingress:\n    - from:\n        - namespaceSelector:\n            matchLabels: {exsim.io/zone: perimeter}\n"),
	}, []check{
		{udp(edge01, dns01, 53), true}, {udp(inet01, dns01, 53), false}, {udp(ex01, dns01, 53), false},
	}},
	{"namespaceSelector and podSelector in one peer: both", []string{
		doc("edge", "perimeter", "  podSelector: {}\n  ingress:\n    - from:\n        - namespaceSelector: {}\n          podSelector:\n            matchLabels: {exsim.io/role: mailbox}\n"),
	}, []check{
		{tcp(ex01, edge01, 25), true}, {tcp(ex02, edge01, 25), true}, {tcp(dns01, edge01, 25), false}, {tcp(inet01, edge01, 25), false},
	}},
	{"namespaceSelector and podSelector as two peers: either", []string{
		doc("edge", "perimeter", "  podSelector: {}\n  ingress:\n    - from:\n        - namespaceSelector:\n            matchLabels: {kubernetes.io/metadata.name: internet}\n        - podSelector:\n            matchLabels: {exsim.io/role: mailbox}\n"),
	}, []check{
		{tcp(inet01, edge01, 25), true}, {tcp(ex01, edge01, 25), false}, {tcp(dns01, edge01, 25), false},
	}},
	{"matchExpressions In, NotIn, Exists, DoesNotExist", []string{
		doc("not-ex02", "internal", "  podSelector:\n    matchExpressions:\n      - {key: exsim.io/server, operator: NotIn, values: [ex02]}\n  ingress:\n    - from:\n        - namespaceSelector: {}\n          podSelector:\n            matchExpressions:\n              - {key: exsim.io/role, operator: In, values: [edge, internet]}\n"),
		doc("everyone", "internal", "  podSelector:\n    matchExpressions:\n      - {key: exsim.io/role, operator: In, values: [dns]}\n  ingress:\n    - from:\n        - namespaceSelector:\n            matchExpressions:\n              - {key: exsim.io/zone, operator: Exists}\n          podSelector:\n            matchExpressions:\n              - {key: exsim.io/role, operator: Exists}\n      ports:\n        - port: 5353\n"),
		doc("nobody", "internal", "  podSelector:\n    matchExpressions:\n      - {key: exsim.io/server, operator: In, values: [ex02]}\n  ingress:\n    - from:\n        - podSelector:\n            matchExpressions:\n              - {key: exsim.io/role, operator: DoesNotExist}\n"),
	}, []check{
		{tcp(inet01, ex01, 25), true}, {tcp(ex02, ex01, 25), false}, {tcp(edge01, dns01, 53), true},
		{tcp(ex01, dns01, 5353), true}, {tcp(ex01, dns01, 53), false}, {tcp(inet01, ex02, 25), false}, {tcp(ex01, ex02, 25), false},
	}},
	{"an empty ingress rule allows everything", []string{
		doc("all", "internal", "  podSelector: {}\n  ingress:\n    - {}\n"),
	}, []check{
		{tcp(inet01, ex01, 25), true}, {Packet{nopod, dns01, "sctp", 9}, true},
	}},
	{"ipBlock with except", []string{
		doc("block", "internal", "  podSelector:\n    matchLabels: {exsim.io/server: ex01}\n  ingress:\n    - from:\n        - ipBlock:\n            cidr: 127.0.0.0/8\n            except: [127.0.30.0/24, 127.0.99.8/31]\n"),
	}, []check{
		{tcp(edge01, ex01, 25), true}, {tcp(inet01, ex01, 25), false}, {tcp(nopod, ex01, 25), false},
		{tcp(netip.MustParseAddr("127.0.99.10"), ex01, 25), true},
	}},
	{"egress to an ipBlock outside the pods needs only the pod's side", []string{
		doc("out", "internal", "  podSelector:\n    matchLabels: {exsim.io/server: ex01}\n  policyTypes: [Egress]\n  egress:\n    - to:\n        - ipBlock: {cidr: 127.0.99.0/24}\n"),
	}, []check{
		{tcp(ex01, nopod, 25), true}, {tcp(ex01, inet01, 25), false}, {tcp(nopod, ex01, 25), true}, {tcp(ex02, nopod, 25), true},
	}},
	{"ports: protocols, ranges, protocol alone", []string{
		doc("ports", "internal", "  podSelector:\n    matchLabels: {exsim.io/role: dns}\n  ingress:\n    - ports:\n        - {protocol: UDP, port: 53}\n        - {protocol: SCTP, port: 9}\n        - {port: 1000, endPort: 2000}\n"),
		doc("udp", "internal", "  podSelector:\n    matchLabels: {exsim.io/server: ex01}\n  ingress:\n    - ports:\n        - {protocol: UDP}\n"),
	}, []check{
		{udp(ex01, dns01, 53), true}, {tcp(ex01, dns01, 53), false}, {Packet{ex01, dns01, "sctp", 9}, true}, {Packet{ex01, dns01, "sctp", 53}, false},
		{tcp(ex01, dns01, 1000), true}, {tcp(ex01, dns01, 1500), true}, {tcp(ex01, dns01, 2000), true}, {tcp(ex01, dns01, 2001), false}, {udp(ex01, dns01, 1500), false},
		{udp(inet01, ex01, 4444), true}, {tcp(inet01, ex01, 4444), false},
	}},
	{"policyTypes default: Ingress, plus Egress with egress rules", []string{
		doc("egress-rules", "internal", "  podSelector:\n    matchLabels: {exsim.io/server: ex01}\n  egress:\n    - ports:\n        - port: 25\n"),
		doc("ingress-rules", "internal", "  podSelector:\n    matchLabels: {exsim.io/server: ex02}\n  ingress:\n    - ports:\n        - port: 443\n"),
	}, []check{
		{tcp(ex01, edge01, 25), true}, {tcp(ex01, edge01, 443), false}, {tcp(inet01, ex01, 443), false},
		{tcp(inet01, ex02, 443), true}, {tcp(inet01, ex02, 25), false}, {tcp(ex02, inet01, 9999), true},
	}},
	{"rules of a direction not in policyTypes are ignored", []string{
		doc("egress-only", "internal", "  podSelector:\n    matchLabels: {exsim.io/server: ex01}\n  policyTypes: [Egress]\n  ingress:\n    - ports:\n        - port: 25\n  egress:\n    - ports:\n        - port: 53\n          protocol: UDP\n"),
	}, []check{
		{tcp(inet01, ex01, 443), true}, {udp(ex01, dns01, 53), true}, {tcp(ex01, edge01, 25), false},
	}},
	{"a policy of a namespace selects only its own pods", []string{
		doc("perimeter-all", "perimeter", "  podSelector: {}\n  policyTypes: [Ingress, Egress]\n"),
	}, []check{
		{tcp(inet01, edge01, 25), false}, {tcp(edge01, inet01, 25), false}, {tcp(inet01, ex01, 25), true},
	}},
}

func TestTranslateSemantics(t *testing.T) {
	topo := contoso(t)
	for _, tc := range semanticCases {
		t.Run(tc.name, func(t *testing.T) {
			pols := parsePolicies(t, tc.docs...)
			rs, err := Translate(topo, pols)
			if err != nil {
				t.Fatalf("Translate: %v", err)
			}
			prog := ParseNft(t, rs.Text())
			for _, c := range tc.checks {
				if got := Allowed(rs.Pods, pols, c.p); got != c.want {
					t.Errorf("semantics: Allowed(%v) = %v, want %v", c.p, got, c.want)
				}
				if got, trail := prog.Eval(t, c.p); got != c.want {
					t.Errorf("ruleset: Eval(%v) = %v, want %v (rules %v)\n%s", c.p, got, c.want, trail, rs.Text())
				}
			}
		})
	}
}

// TestTranslateAgreesWithSemantics compares the ruleset with the direct
// evaluation of the policies for every connection between the pods (and
// two addresses that are no pod) on a spread of protocols and ports.
func TestTranslateAgreesWithSemantics(t *testing.T) {
	topo := contoso(t)
	addrs := []netip.Addr{edge01, ex01, ex02, dns01, inet01, nopod, netip.MustParseAddr("127.0.99.10")}
	ports := []int{9, 23, 25, 53, 80, 443, 587, 999, 1000, 1500, 2000, 2001, 4444, 5353, 9999, 50636}
	for _, tc := range semanticCases {
		pols := parsePolicies(t, tc.docs...)
		rs, err := Translate(topo, pols)
		if err != nil {
			t.Fatalf("%s: Translate: %v", tc.name, err)
		}
		prog := ParseNft(t, rs.Text())
		n := 0
		for p := range connections(addrs, ports) {
			want := Allowed(rs.Pods, pols, p)
			if got, trail := prog.Eval(t, p); got != want {
				t.Errorf("%s: Eval(%v) = %v, semantics say %v (rules %v)", tc.name, p, got, want, trail)
			}
			n++
		}
		if n == 0 {
			t.Fatal("no connection compared")
		}
	}
}

// connections yields every connection between two different addresses of
// addrs over TCP, UDP and SCTP to each of ports.
func connections(addrs []netip.Addr, ports []int) iter.Seq[Packet] {
	return func(yield func(Packet) bool) {
		for _, src := range addrs {
			for _, dst := range addrs {
				if src == dst {
					continue
				}
				for _, proto := range []string{"tcp", "udp", "sctp"} {
					for _, port := range ports {
						if !yield(Packet{src, dst, proto, port}) {
							return
						}
					}
				}
			}
		}
	}
}

func TestTranslateRejects(t *testing.T) {
	topo := contoso(t)
	pols := parsePolicies(t, doc("x", "dmz", "  podSelector: {}\n"))
	_, err := Translate(topo, pols)
	if err == nil || !strings.Contains(err.Error(), `policies.yaml:5: metadata.namespace: "dmz" is not a zone of the topology (namespaces: internet, perimeter, internal)`) {
		t.Errorf("Translate(namespace dmz) = %v, want an error naming the key and the zones", err)
	}
	// A policy built by hand is validated too.
	hand := []Policy{{File: "hand", Line: 1}}
	hand[0].Object.Name, hand[0].Object.Namespace = "h", "internal"
	hand[0].Object.Spec.PolicyTypes = []networkingv1.PolicyType{"Sideways"}
	if _, err := Translate(topo, hand); err == nil || !strings.Contains(err.Error(), "hand:1: spec.policyTypes[0]") {
		t.Errorf("Translate(hand-built bad policy) = %v, want the validation error", err)
	}
}

func TestTranslateNotes(t *testing.T) {
	pols := parsePolicies(t,
		doc("nobody", "internal", "  podSelector:\n    matchLabels: {exsim.io/role: edge}\n"),
		doc("v6", "internal", "  podSelector:\n    matchLabels: {exsim.io/server: ex01}\n  ingress:\n    - from:\n        - ipBlock: {cidr: '2001:db8::/32'}\n        - podSelector:\n            matchLabels: {exsim.io/role: edge}\n"),
	)
	rs, err := Translate(contoso(t), pols)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"policies.yaml:7: policy internal/nobody selects no pod: it changes nothing",
		"policies.yaml:20: ipBlock 2001:db8::/32 cannot match EX01's address 127.0.20.1 (another address family)",
		"policies.yaml:21: podSelector exsim.io/role=edge selects no pod (of EX01's address family): it allows nothing",
	}
	if !slices.Equal(rs.Notes, want) {
		t.Errorf("Notes =\n%s\nwant\n%s", strings.Join(rs.Notes, "\n"), strings.Join(want, "\n"))
	}
	for _, n := range want {
		if !strings.Contains(rs.Text(), "# Note: "+n) {
			t.Errorf("Text lacks the note %q", n)
		}
	}
}

// TestTranslateIPv6: pods with IPv6 addresses get ip6 matches; a peer of
// the other family cannot match them and is noted, not emitted.
func TestTranslateIPv6(t *testing.T) {
	topo := contoso(t)
	v6 := map[string]string{"EX01": "fd00:20::1", "EX02": "fd00:20::2", "INET01": "fd00:30::1"}
	for i := range topo.Servers {
		if a, ok := v6[topo.Servers[i].Name]; ok {
			topo.Servers[i].Address = a
		}
	}
	pols := parsePolicies(t, doc("mbx", "internal", "  podSelector:\n    matchLabels: {exsim.io/role: mailbox}\n  ingress:\n"+
		"    - from:\n        - namespaceSelector: {}\n      ports:\n        - port: 443\n"+
		"    - from:\n        - ipBlock: {cidr: 'fd00:30::/64', except: ['fd00:30::1/128']}\n        - ipBlock: {cidr: 127.0.0.0/8}\n      ports:\n        - port: 25\n"))
	rs, err := Translate(topo, pols)
	if err != nil {
		t.Fatal(err)
	}
	text := rs.Text()
	for _, want := range []string{
		"ip6 daddr fd00:20::1 goto ingress-ex01",
		"ip6 saddr { fd00:20::1, fd00:20::2, fd00:30::1 } tcp dport 443 accept",
		"ip6 saddr fd00:30::/64 ip6 saddr != fd00:30::1 tcp dport 25 accept",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	if !slices.Contains(rs.Notes, "policies.yaml:16: ipBlock 127.0.0.0/8 cannot match EX01's address fd00:20::1 (another address family)") {
		t.Errorf("notes = %q, want the IPv4 ipBlock noted", rs.Notes)
	}
	prog := ParseNft(t, text)
	a := netip.MustParseAddr
	for _, c := range []check{
		{tcp(a("fd00:30::1"), a("fd00:20::1"), 443), true}, {tcp(a("fd00:30::1"), a("fd00:20::1"), 25), false},
		{tcp(a("fd00:30::7"), a("fd00:20::2"), 25), true}, {tcp(a("fd00:30::7"), a("fd00:20::2"), 80), false},
		{tcp(edge01, dns01, 25), true},
	} {
		if got, trail := prog.Eval(t, c.p); got != c.want || Allowed(rs.Pods, pols, c.p) != c.want {
			t.Errorf("Eval(%v) = %v (semantics %v), want %v; rules %v", c.p, got, Allowed(rs.Pods, pols, c.p), c.want, trail)
		}
	}
}
