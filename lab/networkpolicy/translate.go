package networkpolicy

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/exsim/exsim/topology"
)

// Rule is one nft rule of the ruleset.
type Rule struct {
	// Comment is the rule's nft comment, "np:<index in Ruleset.Rules>": the
	// key from a kernel trace or `nft -a list ruleset` back to Origin.
	Comment string
	// Chain is the chain the rule is in.
	Chain string
	// Match is the rule's match expression in nft syntax; empty matches
	// every packet.
	Match string
	// Verdict is accept, drop, return, or "goto <chain>"/"jump <chain>".
	Verdict string
	Origin  Origin
}

// Text is the rule as it appears in the chain.
func (r Rule) Text() string {
	s := r.Verdict
	if r.Match != "" {
		s = r.Match + " " + s
	}
	return s + " comment " + strconv.Quote(r.Comment)
}

// Ruleset is a policy set translated for one topology.
type Ruleset struct {
	// Pods are the identities the selectors were resolved against.
	Pods []Pod
	// Rules are every rule in the order of Text (Rules[i].Comment is "np:i").
	Rules []Rule
	// Notes are things a reviewer should know that are no error: peers
	// or policies that select no pod, ipBlocks of the other address family.
	Notes []string
	// chains are the chains in text order.
	chains []string
}

// CommentPrefix starts every rule comment.
const CommentPrefix = "np:"

// Lookup returns the rule with nft comment c ("np:3").
func (rs *Ruleset) Lookup(c string) (Rule, bool) {
	n, err := strconv.Atoi(strings.TrimPrefix(c, CommentPrefix))
	if err != nil || !strings.HasPrefix(c, CommentPrefix) || n < 0 || n >= len(rs.Rules) {
		return Rule{}, false
	}
	return rs.Rules[n], true
}

// Chain names. Per-pod chains are egress-<pod> and ingress-<pod>, the pod
// named by its exsim.io/server label.
const (
	// TableName and ChainName are the lab's (lab.TableName, lab.ChainName):
	// loading the text replaces the lab's firewall like any other ruleset.
	TableName    = "exsim"
	ChainName    = "forward"
	egressChain  = "np-egress"
	ingressChain = "np-ingress"
)

// policyTypes are the directions a policy governs: spec.policyTypes, or
// when empty, Kubernetes' default: Ingress always, Egress when the policy
// has egress rules.
func policyTypes(np *networkingv1.NetworkPolicy) (ingress, egress bool) {
	if len(np.Spec.PolicyTypes) == 0 {
		return true, len(np.Spec.Egress) > 0
	}
	for _, t := range np.Spec.PolicyTypes {
		switch t {
		case networkingv1.PolicyTypeIngress:
			ingress = true
		case networkingv1.PolicyTypeEgress:
			egress = true
		}
	}
	return ingress, egress
}

// translator holds one translation's state.
type translator struct {
	pods   []Pod
	nss    []Namespace
	pols   []Policy
	rs     *Ruleset
	chains map[string][]Rule
}

// Translate turns policies into an nftables ruleset for the router of the
// lab of topology t, with Kubernetes NetworkPolicy semantics (see the
// package doc). Selectors are resolved against the pods of t at
// translation time. Policies are validated again (they may be built by
// hand); a policy in a namespace that is no zone of t is an error.
func Translate(t *topology.Topology, pols []Policy) (*Ruleset, error) {
	tr := &translator{pods: Pods(t), nss: Namespaces(t), pols: pols, chains: map[string][]Rule{}}
	tr.rs = &Ruleset{Pods: tr.pods}
	var errs []error
	for i := range pols {
		p := &pols[i]
		if err := p.validate(); err != nil {
			errs = append(errs, err)
			continue
		}
		if !slices.ContainsFunc(tr.nss, func(n Namespace) bool { return n.Name == p.Object.Namespace }) {
			names := make([]string, len(tr.nss))
			for i, n := range tr.nss {
				names[i] = n.Name
			}
			errs = append(errs, p.errAt("metadata.namespace", "%q is not a zone of the topology (namespaces: %s)", p.Object.Namespace, strings.Join(names, ", ")))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	for i := range pols {
		if len(tr.selected(i)) == 0 {
			tr.note(&pols[i], "spec.podSelector", "policy %s selects no pod: it changes nothing", pols[i].Name())
		}
	}
	jumps := map[Direction][]Rule{}
	for _, pod := range tr.pods {
		for _, d := range []Direction{Egress, Ingress} {
			if jump, ok := tr.podChain(pod, d); ok {
				jumps[d] = append(jumps[d], jump)
			}
		}
	}
	for _, r := range jumps[Egress] {
		tr.add(egressChain, r)
	}
	tr.add(egressChain, Rule{Verdict: "return", Origin: Origin{Kind: KindNotIsolated, Direction: Egress}})
	for _, r := range jumps[Ingress] {
		tr.add(ingressChain, r)
	}
	tr.add(ingressChain, Rule{Verdict: "accept", Origin: Origin{Kind: KindNotIsolated, Direction: Ingress}})
	tr.add(ChainName, Rule{Match: "ct state established,related", Verdict: "accept", Origin: Origin{Kind: KindReply}})
	tr.add(ChainName, Rule{Verdict: "jump " + egressChain, Origin: Origin{Kind: KindCheck, Direction: Egress}})
	tr.add(ChainName, Rule{Verdict: "jump " + ingressChain, Origin: Origin{Kind: KindCheck, Direction: Ingress}})
	// Text order: the base chain first, then the checks, then the pods'.
	order := []string{ChainName, egressChain, ingressChain}
	for _, pod := range tr.pods {
		for _, d := range []Direction{Egress, Ingress} {
			if c := string(d) + "-" + pod.Labels[LabelServer]; tr.chains[c] != nil {
				order = append(order, c)
			}
		}
	}
	for _, c := range order {
		for _, r := range tr.chains[c] {
			r.Chain = c
			r.Comment = CommentPrefix + strconv.Itoa(len(tr.rs.Rules))
			tr.rs.Rules = append(tr.rs.Rules, r)
		}
	}
	tr.rs.chains = order
	return tr.rs, nil
}

// podChain writes the chain of pod for direction d when policies isolate
// it: their allows, then the drop that is the isolation's default deny.
// It returns the rule that sends the pod's traffic there.
func (tr *translator) podChain(pod Pod, d Direction) (Rule, bool) {
	isolating := tr.isolating(pod, d)
	if len(isolating) == 0 {
		return Rule{}, false
	}
	refs := make([]PolicyRef, len(isolating))
	for i, pi := range isolating {
		refs[i] = ref(&tr.pols[pi])
	}
	iso := Origin{Direction: d, Server: pod.Server, Policies: refs, File: refs[0].File, Line: refs[0].Line}
	chain := string(d) + "-" + pod.Labels[LabelServer]
	for _, pi := range isolating {
		tr.allows(chain, pod, d, pi)
	}
	deny := iso
	deny.Kind = KindDefaultDeny
	tr.add(chain, Rule{Verdict: "drop", Origin: deny})
	side := "daddr"
	if d == Egress {
		side = "saddr"
	}
	jump := iso
	jump.Kind = KindIsolated
	self := []netip.Prefix{netip.PrefixFrom(pod.IP, pod.IP.BitLen())}
	return Rule{Match: addrMatch(pod.IP, side, self), Verdict: "goto " + chain, Origin: jump}, true
}

func (tr *translator) add(chain string, r Rule) { tr.chains[chain] = append(tr.chains[chain], r) }

func (tr *translator) note(p *Policy, path, format string, args ...any) {
	n := fmt.Sprintf("%s:%d: %s", p.File, p.LineOf(path), fmt.Sprintf(format, args...))
	if !slices.Contains(tr.rs.Notes, n) {
		tr.rs.Notes = append(tr.rs.Notes, n)
	}
}

func ref(p *Policy) PolicyRef {
	return PolicyRef{File: p.File, Line: p.Line, Namespace: p.Object.Namespace, Name: p.Object.Name}
}

// selected returns the pods policy i selects: its podSelector in its
// namespace.
func (tr *translator) selected(i int) []Pod {
	np := &tr.pols[i].Object
	sel, _ := selector(&np.Spec.PodSelector) // validated
	var out []Pod
	for _, pod := range tr.pods {
		if pod.Namespace == np.Namespace && sel.Matches(labels.Set(pod.Labels)) {
			out = append(out, pod)
		}
	}
	return out
}

// isolating returns the indexes of the policies that select pod for
// direction d, in file order.
func (tr *translator) isolating(pod Pod, d Direction) []int {
	var out []int
	for i := range tr.pols {
		in, eg := policyTypes(&tr.pols[i].Object)
		if (d == Ingress && !in) || (d == Egress && !eg) {
			continue
		}
		if slices.ContainsFunc(tr.selected(i), func(p Pod) bool { return p.Server == pod.Server }) {
			out = append(out, i)
		}
	}
	return out
}

// allows adds to chain the rules of policy pi's rule items of direction d
// for pod: one rule per peer and port. Ingress rules match the source
// address and accept; egress rules match the destination address and
// return, leaving the decision to the destination's ingress.
func (tr *translator) allows(chain string, pod Pod, d Direction, pi int) {
	p := &tr.pols[pi]
	np := &p.Object
	side, verdict := "saddr", "accept"
	type item struct {
		peers []networkingv1.NetworkPolicyPeer
		ports []networkingv1.NetworkPolicyPort
	}
	var items []item
	if d == Ingress {
		for _, r := range np.Spec.Ingress {
			items = append(items, item{r.From, r.Ports})
		}
	} else {
		side, verdict = "daddr", "return"
		for _, r := range np.Spec.Egress {
			items = append(items, item{r.To, r.Ports})
		}
	}
	peerKey := "from"
	if d == Egress {
		peerKey = "to"
	}
	for i, it := range items {
		path := fmt.Sprintf("spec.%s[%d]", d, i)
		type peerMatch struct{ match, desc string }
		var peers []peerMatch
		if len(it.peers) == 0 {
			peers = []peerMatch{{"", "anywhere"}}
		}
		for j := range it.peers {
			peerPath := fmt.Sprintf("%s.%s[%d]", path, peerKey, j)
			m, desc, ok := tr.peer(p, &it.peers[j], pod, side, peerPath)
			if ok {
				peers = append(peers, peerMatch{m, desc})
			}
		}
		ports := []peerMatch{{"", "all ports"}}
		if len(it.ports) > 0 {
			ports = ports[:0]
			for _, port := range it.ports {
				m, desc := portMatch(port)
				ports = append(ports, peerMatch{m, desc})
			}
		}
		for _, pm := range peers {
			for _, po := range ports {
				tr.add(chain, Rule{
					Match:   strings.TrimSpace(pm.match + " " + po.match),
					Verdict: verdict,
					Origin: Origin{
						Kind: KindAllow, Direction: d, Server: pod.Server, Policies: []PolicyRef{ref(p)},
						File: p.File, Line: p.LineOf(path), Item: i, Peer: pm.desc, Ports: po.desc,
					},
				})
			}
		}
	}
}

// peer resolves one peer for pod (whose address family the rule is for)
// into a match on the other end's address (side saddr or daddr). ok is
// false when the peer can match nothing: a selector that selects no pod of
// the family, an ipBlock of the other family.
func (tr *translator) peer(p *Policy, peer *networkingv1.NetworkPolicyPeer, pod Pod, side, path string) (match, desc string, ok bool) {
	if b := peer.IPBlock; b != nil {
		cidr := netip.MustParsePrefix(b.CIDR).Masked() // validated
		desc = "ipBlock " + cidr.String()
		if len(b.Except) > 0 {
			desc += " except " + strings.Join(b.Except, ", ")
		}
		if cidr.Addr().Is4() != pod.IP.Is4() {
			tr.note(p, path, "%s cannot match %s's address %s (another address family)", desc, pod.Server, pod.IP)
			return "", "", false
		}
		match = addrMatch(pod.IP, side, []netip.Prefix{cidr})
		if len(b.Except) > 0 {
			var ex []netip.Prefix
			for _, e := range b.Except {
				ex = append(ex, netip.MustParsePrefix(e).Masked())
			}
			match += " " + strings.Replace(addrMatch(pod.IP, side, ex), side+" ", side+" != ", 1)
		}
		return match, desc, true
	}
	nsSel := labels.Nothing()
	var parts []string
	if peer.NamespaceSelector != nil {
		nsSel, _ = selector(peer.NamespaceSelector)
		parts = append(parts, "namespaceSelector "+selectorText(peer.NamespaceSelector))
	}
	podSel := labels.Everything()
	if peer.PodSelector != nil {
		podSel, _ = selector(peer.PodSelector)
		parts = append(parts, "podSelector "+selectorText(peer.PodSelector))
	}
	desc = strings.Join(parts, " ")
	var addrs []netip.Prefix
	for _, other := range tr.pods {
		inNS := other.Namespace == p.Object.Namespace
		if peer.NamespaceSelector != nil {
			inNS = tr.nsMatches(nsSel, other.Namespace)
		}
		if inNS && podSel.Matches(labels.Set(other.Labels)) && other.IP.Is4() == pod.IP.Is4() {
			addrs = append(addrs, netip.PrefixFrom(other.IP, other.IP.BitLen()))
		}
	}
	if len(addrs) == 0 {
		tr.note(p, path, "%s selects no pod (of %s's address family): it allows nothing", desc, pod.Server)
		return "", "", false
	}
	return addrMatch(pod.IP, side, addrs), desc, true
}

func (tr *translator) nsMatches(sel labels.Selector, ns string) bool {
	for _, n := range tr.nss {
		if n.Name == ns {
			return sel.Matches(labels.Set(n.Labels))
		}
	}
	return false
}

// selectorText is a selector as kubectl prints it ("exsim.io/role=edge",
// "exsim.io/server in (ex01)"), "{}" for the empty one.
func selectorText(s *metav1.LabelSelector) string {
	sel, _ := selector(s)
	if sel.Empty() {
		return "{}"
	}
	return sel.String()
}

// addrMatch matches the address side (saddr, daddr) against prefixes, in
// the family of ref: "ip saddr 192.0.2.1", "ip daddr { 192.0.2.1, 192.0.2.2 }".
func addrMatch(ref netip.Addr, side string, ps []netip.Prefix) string {
	fam := "ip"
	if !ref.Is4() {
		fam = "ip6"
	}
	s := make([]string, len(ps))
	for i, p := range ps {
		if p.IsSingleIP() {
			s[i] = p.Addr().String()
		} else {
			s[i] = p.String()
		}
	}
	if len(s) == 1 {
		return fam + " " + side + " " + s[0]
	}
	return fam + " " + side + " { " + strings.Join(s, ", ") + " }"
}

// portMatch is the nft match and the description of a NetworkPolicyPort
// (validated: a numeric port, TCP, UDP or SCTP).
func portMatch(p networkingv1.NetworkPolicyPort) (match, desc string) {
	proto := corev1.ProtocolTCP
	if p.Protocol != nil {
		proto = *p.Protocol
	}
	l4 := strings.ToLower(string(proto))
	switch {
	case p.Port == nil:
		return "meta l4proto " + l4, l4
	case p.EndPort != nil && *p.EndPort != p.Port.IntVal:
		r := fmt.Sprintf("%d-%d", p.Port.IntVal, *p.EndPort)
		return l4 + " dport " + r, l4 + " " + r
	}
	return fmt.Sprintf("%s dport %d", l4, p.Port.IntVal), fmt.Sprintf("%s %d", l4, p.Port.IntVal)
}
