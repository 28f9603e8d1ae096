package networkpolicy

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Text is the ruleset in nft syntax, for `nft -f` in the lab's router
// namespace. Like `exsim export nftables` it replaces the table "inet
// exsim" and nothing else, and its base chain hooks forward with policy
// drop. Every rule carries its comment "np:<n>"; the comments above each
// rule say the same in words.
func (rs *Ruleset) Text() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	p("#!/usr/sbin/nft -f")
	p("# exsim: Kubernetes NetworkPolicies translated for the lab's router.")
	p("# A connection needs the source pod's egress and the destination pod's ingress;")
	p("# a pod no policy of a direction selects is open in that direction. Selectors")
	p("# are resolved to the pods' addresses below. Traffic between two pods of one")
	p("# zone crosses a bridge, not this router: its rules are here, but the lab")
	p("# cannot enforce them.")
	p("#")
	p("# Pods (namespace = zone):")
	for _, pod := range rs.Pods {
		var ls []string
		for _, k := range slices.Sorted(maps.Keys(pod.Labels)) {
			ls = append(ls, k+"="+pod.Labels[k])
		}
		p("#   %-8s %-10s %-15s %s", pod.Server, pod.Namespace, pod.IP, strings.Join(ls, ","))
	}
	for _, n := range rs.Notes {
		p("# Note: %s", oneLine(n))
	}
	p("")
	p("table inet %s", TableName)
	p("delete table inet %s", TableName)
	p("")
	p("table inet %s {", TableName)
	for ci, c := range rs.chains {
		if ci > 0 {
			p("")
		}
		p("\tchain %s {", c)
		if c == ChainName {
			p("\t\ttype filter hook forward priority filter; policy drop;")
		}
		for _, r := range rs.Rules {
			if r.Chain != c {
				continue
			}
			p("\t\t# %s", oneLine(r.Origin.String()))
			p("\t\t%s", r.Text())
		}
		p("\t}")
	}
	p("}")
	return b.String()
}

// oneLine keeps a comment on its line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
