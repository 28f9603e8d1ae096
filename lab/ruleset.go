package lab

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"

	"github.com/exsim/exsim/probe"
	"github.com/exsim/exsim/topology"
)

// The firewall between a lab's zones is one nftables table, "inet exsim",
// with a forward chain. The same Ruleset renders as nft text (`exsim
// export nftables`, loaded with `nft -f`) and programs the kernel directly
// over netlink (nftnl.go: the firewall container has no nft binary); a test
// checks that both give the same `nft list ruleset`.

const (
	// TableName is the nftables table of the firewall (family inet).
	TableName = "exsim"
	// ChainName is its base chain on the forward hook.
	ChainName = "forward"
	// nftCommentMax is nft's limit on a rule comment.
	nftCommentMax = 128
)

// Ruleset is the firewall of a lab: a forward chain that accepts
// established traffic, the ICMP errors, and Rules; everything else meets
// the chain's policy.
type Ruleset struct {
	// Title heads the generated text.
	Title string
	// Open makes the policy accept (exsim lab up --firewall open); Rules
	// are then empty.
	Open bool
	// Zones and Servers are listed in the text's header.
	Zones   []topology.Zone
	Servers []topology.Server
	// PortOffset is the topology's port offset, which the flows' ports
	// include (said in the text's header).
	PortOffset int
	Rules      []Rule
}

// Rule accepts one documented flow (or, for the unrestricted ground rule,
// everything between two servers).
type Rule struct {
	Src, Dst netip.Addr
	// Transport is "tcp" or "udp"; "" matches every protocol and port
	// (the ground rule between internal Exchange servers).
	Transport string
	Port      int
	// Flows are the documented flows the rule lets through, in catalogue
	// order; the first names the rule.
	Flows []probe.Flow
}

// Comment is the rule's nft comment: the flow ID (or the unrestricted
// pair), at most 128 characters.
func (r Rule) Comment() string {
	var c string
	switch {
	case r.Transport == "":
		c = "unrestricted " + r.Flows[0].Source + " -> " + r.Flows[0].Dest
	case len(r.Flows) > 1:
		c = r.Flows[0].ID + " +" + strconv.Itoa(len(r.Flows)-1)
	default:
		c = r.Flows[0].ID
	}
	c = strings.Map(func(r rune) rune {
		if r == '"' || r == '\\' || r < ' ' || r > '~' {
			return '_'
		}
		return r
	}, c)
	if len(c) > nftCommentMax {
		c = c[:nftCommentMax]
	}
	return c
}

// OpenRuleset lets everything through (the lab's "--firewall open").
func OpenRuleset(t *topology.Topology) *Ruleset {
	return &Ruleset{Title: "no firewall: every flow between the zones is allowed", Open: true, Zones: t.Zones, Servers: t.Servers}
}

// MinimalRuleset is the firewall that allows exactly the documented flows
// of topology t (addresses on real networks: see topology.ForNetwork):
// one rule per flow whose expectation is open or reachable and whose
// servers sit in different zones; flows inside a zone cross a bridge, not
// the router, and closed flows are left to the default deny. The ground
// rule "unrestricted communication between internal Exchange servers"
// becomes one rule per pair of servers, on every port, as Microsoft asks
// (the probe samples its ports; a firewall allowing only the samples would
// break RPC). The output is deterministic: catalogue order.
func MinimalRuleset(t *topology.Topology) (*Ruleset, error) {
	rs := &Ruleset{
		Title:      fmt.Sprintf("the minimal firewall between the zones of the %s lab", t.Organization),
		Zones:      t.Zones,
		Servers:    t.Servers,
		PortOffset: t.PortOffset(),
	}
	type key struct {
		src, dst  netip.Addr
		transport string
		port      int
	}
	index := map[key]int{}
	for _, f := range probe.Flows(t) {
		if f.Expect == probe.ExpectClosed {
			continue
		}
		src, dst := t.Server(f.Source), t.Server(f.Dest)
		if src == nil || dst == nil {
			return nil, fmt.Errorf("lab: flow %s names a server the topology lacks", f.ID)
		}
		if src.Zone == dst.Zone {
			continue
		}
		if src.Addr().Is4() != dst.Addr().Is4() {
			return nil, fmt.Errorf("lab: flow %s: %s (%s) and %s (%s) are of different address families", f.ID, src.Name, src.Address, dst.Name, dst.Address)
		}
		k := key{src.Addr(), dst.Addr(), f.Transport, f.Port}
		if f.Expect == probe.ExpectUnrestricted {
			k.transport, k.port = "", 0
		}
		if i, ok := index[k]; ok {
			rs.Rules[i].Flows = append(rs.Rules[i].Flows, f)
			continue
		}
		index[k] = len(rs.Rules)
		rs.Rules = append(rs.Rules, Rule{Src: k.src, Dst: k.dst, Transport: k.transport, Port: k.port, Flows: []probe.Flow{f}})
	}
	return rs, nil
}

// Without returns a copy of the ruleset without the rules whose flows
// include the flow id (for tests and what-if checks).
func (rs *Ruleset) Without(flowID string) *Ruleset {
	out := *rs
	out.Rules = nil
	for _, r := range rs.Rules {
		keep := true
		for _, f := range r.Flows {
			if f.ID == flowID {
				keep = false
			}
		}
		if keep {
			out.Rules = append(out.Rules, r)
		}
	}
	return &out
}

// ICMP messages the chain accepts besides those conntrack relates to a
// connection: the errors a path needs (RFC 1122 3.2.2, RFC 4890 4.3.1),
// never echo. The types are nft's names and their numbers.
var (
	icmpEssentials = []icmpType{
		{"destination-unreachable", 3}, {"time-exceeded", 11}, {"parameter-problem", 12},
	}
	icmpv6Essentials = []icmpType{
		{"destination-unreachable", 1}, {"packet-too-big", 2}, {"time-exceeded", 3}, {"parameter-problem", 4},
	}
)

type icmpType struct {
	name string
	num  byte
}

// match is the rule's nft match expression, exactly as `nft list ruleset`
// prints it.
func (r Rule) match() string {
	fam := "ip"
	if r.Src.Is6() {
		fam = "ip6"
	}
	s := fmt.Sprintf("%s saddr %s %s daddr %s", fam, r.Src, fam, r.Dst)
	if r.Transport != "" {
		s += fmt.Sprintf(" %s dport %d", r.Transport, r.Port)
	}
	return s
}

// WriteNft writes the ruleset in nft syntax for `nft -f`. Loading it
// replaces any earlier "inet exsim" table and nothing else. The chain's
// lines are what `nft list ruleset` prints back.
func (rs *Ruleset) WriteNft(w io.Writer) error {
	bw := bufio.NewWriter(w)
	p := func(format string, args ...any) { fmt.Fprintf(bw, format+"\n", args...) }
	p("#!/usr/sbin/nft -f")
	p("# exsim: %s.", rs.Title)
	if rs.Open {
		p("# Policy accept: nothing is filtered between the zones.")
	} else {
		p("# Generated by `exsim export nftables` from Microsoft's \"Network ports for clients")
		p("# and mail flow\" (Exchange 2016/2019). Default deny; one rule per documented flow")
		p("# that crosses zones, commented with the flow ID (as in `exsim probe`) under the")
		p("# seed's words for it. Flows inside one zone cross a bridge, not this firewall,")
		p("# and flows that must stay closed have no rule.")
	}
	if len(rs.Zones) > 0 {
		p("#")
		p("# Zones:")
		for _, z := range rs.Zones {
			router := ""
			if pfx, err := netip.ParsePrefix(z.Subnet); err == nil {
				router = "router " + topology.RouterAddr(pfx).String()
			}
			p("#   %-10s %-18s %s", z.Name, z.Subnet, router)
		}
	}
	if len(rs.Servers) > 0 {
		p("# Servers:")
		for _, s := range rs.Servers {
			p("#   %-10s %-18s %-9s %s", s.Name, s.Address, s.Zone, s.Role)
		}
	}
	if rs.PortOffset != 0 {
		p("# Ports include the port offset %d.", rs.PortOffset)
	}
	p("")
	// Create-then-delete makes a reload replace the table atomically
	// (nft -f runs the file as one transaction).
	p("table inet %s", TableName)
	p("delete table inet %s", TableName)
	p("")
	p("table inet %s {", TableName)
	p("\tchain %s {", ChainName)
	policy := "drop"
	if rs.Open {
		policy = "accept"
	}
	p("\t\ttype filter hook forward priority filter; policy %s;", policy)
	if !rs.Open {
		p("\t\t# Replies and the ICMP errors of allowed connections.")
		p("\t\tct state established,related accept")
		p("\t\t# ICMP errors a path needs (RFC 1122 3.2.2, RFC 4890 4.3.1); no echo.")
		for _, t := range icmpEssentials {
			p("\t\ticmp type %s accept", t.name)
		}
		for _, t := range icmpv6Essentials {
			p("\t\ticmpv6 type %s accept", t.name)
		}
	}
	lastPurpose := ""
	for _, r := range rs.Rules {
		if purpose := r.Flows[0].Purpose; purpose != lastPurpose {
			p("")
			p("\t\t# %s", oneLine(purpose))
			lastPurpose = purpose
		}
		for _, f := range r.Flows[1:] {
			p("\t\t#   also %s", f.ID)
		}
		p("\t\t%s accept comment %q", r.match(), r.Comment())
	}
	p("\t}")
	p("}")
	return bw.Flush()
}

// oneLine keeps a comment on its line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
