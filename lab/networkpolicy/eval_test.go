package networkpolicy

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// This file holds two independent evaluators the tests compare: one runs
// the nft text Translate emits (a tiny interpreter of exactly the rule
// forms it writes, as the kernel would run them for the first packet of a
// connection), the other applies NetworkPolicy semantics to the policies
// directly.

// Packet is the first packet of a connection.
type Packet struct {
	Src, Dst netip.Addr
	Proto    string // tcp, udp, sctp
	Port     int
}

func (p Packet) String() string {
	return fmt.Sprintf("%s -> %s %s/%d", p.Src, p.Dst, p.Proto, p.Port)
}

type nftRule struct {
	terms   [][]string // each a match term's tokens
	verdict []string
	comment string
}

type nftProgram struct {
	chains map[string][]nftRule
	policy string // the base chain's policy
}

// ParseNft reads the text Translate emits. It fails the test on any line
// it does not understand, so a rule form the evaluator does not know
// cannot pass unnoticed.
func ParseNft(t testing.TB, text string) *nftProgram {
	t.Helper()
	prog := &nftProgram{chains: map[string][]nftRule{}}
	chain := ""
	for n, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#") || line == "}" ||
			line == "table inet "+TableName || line == "delete table inet "+TableName || line == "table inet "+TableName+" {":
			continue
		case strings.HasPrefix(line, "chain ") && strings.HasSuffix(line, " {"):
			chain = strings.TrimSuffix(strings.TrimPrefix(line, "chain "), " {")
			if _, dup := prog.chains[chain]; dup {
				t.Fatalf("nft line %d: chain %s declared twice", n+1, chain)
			}
			prog.chains[chain] = nil
			continue
		case strings.HasPrefix(line, "type filter hook forward priority filter; policy "):
			prog.policy = strings.TrimSuffix(strings.TrimPrefix(line, "type filter hook forward priority filter; policy "), ";")
			continue
		}
		if chain == "" {
			t.Fatalf("nft line %d: rule outside a chain: %q", n+1, line)
		}
		body, comment, ok := strings.Cut(line, ` comment "`)
		if !ok || !strings.HasSuffix(comment, `"`) {
			t.Fatalf("nft line %d: rule without comment: %q", n+1, line)
		}
		r := nftRule{comment: strings.TrimSuffix(comment, `"`)}
		toks := strings.Fields(body)
		for len(toks) > 0 {
			switch toks[0] {
			case "accept", "drop", "return":
				r.verdict, toks = toks[:1], toks[1:]
			case "jump", "goto":
				r.verdict, toks = toks[:2], toks[2:]
			case "ct":
				r.terms, toks = append(r.terms, toks[:3]), toks[3:]
			case "ip", "ip6", "tcp", "udp", "sctp", "meta":
				term := []string{toks[0], toks[1]}
				toks = toks[2:]
				if toks[0] == "!=" {
					term = append(term, "!=")
					toks = toks[1:]
				}
				if toks[0] == "{" {
					end := indexOf(toks, "}")
					if end < 0 {
						t.Fatalf("nft line %d: unclosed set: %q", n+1, line)
					}
					for _, e := range toks[1:end] {
						term = append(term, strings.TrimSuffix(e, ","))
					}
					toks = toks[end+1:]
				} else {
					term, toks = append(term, toks[0]), toks[1:]
				}
				r.terms = append(r.terms, term)
			default:
				t.Fatalf("nft line %d: unknown token %q in %q", n+1, toks[0], line)
			}
		}
		if r.verdict == nil {
			t.Fatalf("nft line %d: rule without verdict: %q", n+1, line)
		}
		prog.chains[chain] = append(prog.chains[chain], r)
	}
	return prog
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

// Eval runs the first packet of a connection through the forward chain and
// returns whether it is accepted and the comments of the rules that matched
// on the way (what nft trace prints), the deciding one last.
func (prog *nftProgram) Eval(t testing.TB, p Packet) (bool, []string) {
	t.Helper()
	var trail []string
	var run func(chain string, depth int) (verdict string, final bool)
	run = func(chain string, depth int) (string, bool) {
		rules, ok := prog.chains[chain]
		if !ok || depth > 16 {
			t.Fatalf("jump to unknown chain %q (or a loop)", chain)
		}
		for _, r := range rules {
			if !r.matches(t, p) {
				continue
			}
			trail = append(trail, r.comment)
			switch r.verdict[0] {
			case "accept", "drop":
				return r.verdict[0], true
			case "return":
				return "", false
			case "jump":
				if v, final := run(r.verdict[1], depth+1); final {
					return v, true
				}
			case "goto":
				return run(r.verdict[1], depth+1)
			}
		}
		return "", false
	}
	v, final := run(ChainName, 0)
	if !final {
		v = prog.policy
	}
	return v == "accept", trail
}

func (r nftRule) matches(t testing.TB, p Packet) bool {
	for _, term := range r.terms {
		if !termMatches(t, term, p) {
			return false
		}
	}
	return true
}

func termMatches(t testing.TB, term []string, p Packet) bool {
	neg := len(term) > 2 && term[2] == "!="
	vals := term[2:]
	if neg {
		vals = term[3:]
	}
	var hit bool
	switch term[0] {
	case "ct": // ct state established,related: never the first packet
		return false
	case "ip", "ip6":
		a := p.Src
		if term[1] == "daddr" {
			a = p.Dst
		}
		if (term[0] == "ip") != a.Is4() {
			return false // another family: the expression cannot match
		}
		for _, v := range vals {
			pfx, err := netip.ParsePrefix(v)
			if err != nil {
				addr, err := netip.ParseAddr(v)
				if err != nil {
					t.Fatalf("bad address %q in %v", v, term)
				}
				pfx = netip.PrefixFrom(addr, addr.BitLen())
			}
			hit = hit || pfx.Contains(a)
		}
	case "meta":
		hit = term[1] == "l4proto" && vals[0] == p.Proto
	case "tcp", "udp", "sctp":
		if p.Proto != term[0] {
			return false
		}
		for _, v := range vals {
			lo, hi, isRange := strings.Cut(v, "-")
			from, err1 := strconv.Atoi(lo)
			to := from
			var err2 error
			if isRange {
				to, err2 = strconv.Atoi(hi)
			}
			if err1 != nil || err2 != nil {
				t.Fatalf("bad port %q in %v", v, term)
			}
			hit = hit || (p.Port >= from && p.Port <= to)
		}
	default:
		t.Fatalf("unknown term %v", term)
	}
	return hit != neg
}

// ---- NetworkPolicy semantics, applied directly.

// Allowed says whether NetworkPolicy semantics allow the connection: the
// source pod's egress and the destination pod's ingress must allow it,
// where a side that is no pod, or a pod no policy of that direction
// selects, allows everything.
func Allowed(pods []Pod, pols []Policy, p Packet) bool {
	podAt := func(a netip.Addr) *Pod {
		for i := range pods {
			if pods[i].IP == a {
				return &pods[i]
			}
		}
		return nil
	}
	src, dst := podAt(p.Src), podAt(p.Dst)
	return sideAllows(pods, pols, src, networkingv1.PolicyTypeEgress, p.Dst, p) &&
		sideAllows(pods, pols, dst, networkingv1.PolicyTypeIngress, p.Src, p)
}

func sideAllows(pods []Pod, pols []Policy, pod *Pod, dir networkingv1.PolicyType, peer netip.Addr, p Packet) bool {
	if pod == nil {
		return true
	}
	isolated := false
	for _, pol := range pols {
		np := pol.Object
		if np.Namespace != pod.Namespace || !mustSelector(&np.Spec.PodSelector).Matches(labels.Set(pod.Labels)) {
			continue
		}
		types := np.Spec.PolicyTypes
		if len(types) == 0 {
			types = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
			if len(np.Spec.Egress) > 0 {
				types = append(types, networkingv1.PolicyTypeEgress)
			}
		}
		governs := false
		for _, ty := range types {
			governs = governs || ty == dir
		}
		if !governs {
			continue
		}
		isolated = true
		if dir == networkingv1.PolicyTypeIngress {
			for _, r := range np.Spec.Ingress {
				if peersMatch(pods, np.Namespace, r.From, peer) && portsMatch(r.Ports, p) {
					return true
				}
			}
		} else {
			for _, r := range np.Spec.Egress {
				if peersMatch(pods, np.Namespace, r.To, peer) && portsMatch(r.Ports, p) {
					return true
				}
			}
		}
	}
	return !isolated
}

func peersMatch(pods []Pod, ns string, peers []networkingv1.NetworkPolicyPeer, a netip.Addr) bool {
	if len(peers) == 0 {
		return true
	}
	for _, peer := range peers {
		if b := peer.IPBlock; b != nil {
			in := netip.MustParsePrefix(b.CIDR).Contains(a)
			for _, e := range b.Except {
				in = in && !netip.MustParsePrefix(e).Contains(a)
			}
			if in {
				return true
			}
			continue
		}
		for _, pod := range pods {
			if pod.IP != a {
				continue
			}
			nsOK := pod.Namespace == ns
			if peer.NamespaceSelector != nil {
				nsOK = mustSelector(peer.NamespaceSelector).Matches(labels.Set(NamespaceLabels(pod.Namespace)))
			}
			podOK := peer.PodSelector == nil || mustSelector(peer.PodSelector).Matches(labels.Set(pod.Labels))
			if nsOK && podOK {
				return true
			}
		}
	}
	return false
}

func portsMatch(ports []networkingv1.NetworkPolicyPort, p Packet) bool {
	if len(ports) == 0 {
		return true
	}
	for _, port := range ports {
		proto := corev1.ProtocolTCP
		if port.Protocol != nil {
			proto = *port.Protocol
		}
		if !strings.EqualFold(string(proto), p.Proto) {
			continue
		}
		if port.Port == nil {
			return true
		}
		hi := port.Port.IntVal
		if port.EndPort != nil {
			hi = *port.EndPort
		}
		if p.Port >= int(port.Port.IntVal) && p.Port <= int(hi) {
			return true
		}
	}
	return false
}

func mustSelector(s *metav1.LabelSelector) labels.Selector {
	sel, err := metav1.LabelSelectorAsSelector(s)
	if err != nil {
		panic(err)
	}
	return sel
}
