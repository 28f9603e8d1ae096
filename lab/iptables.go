package lab

import (
	"fmt"
	"regexp"
	"strings"
)

// iptablesFormat is iptables-save (or ip6tables-save) output, loaded with
// iptables-nft-restore (ip6tables-nft-restore) in the router's namespace
// (Debian package iptables). iptables-nft makes one nft rule per -A line,
// in the order of the lines, in chains of the table's name (table "ip
// filter", chain "FORWARD"), so nft's trace sees them like any other rule.
type iptablesFormat struct{}

func (iptablesFormat) Name() string           { return FormatIptables }
func (iptablesFormat) Describe() string       { return formatDescriptions[FormatIptables] }
func (iptablesFormat) Looks(text []byte) bool { return detectFormat(text) == FormatIptables }

// ip6Looks finds an IPv6 address after -s or -d, or ip6tables-save's header.
var ip6Looks = regexp.MustCompile(`(?m)ip6tables-save|\s(-s|-d|--source|--destination)\s+!?\s*[0-9a-fA-F]*:[0-9a-fA-F:]*`)

func (iptablesFormat) Load(ns, file string, text []byte) (*RuleOrigins, error) {
	family, restore := "ip", "iptables-nft-restore"
	if ip6Looks.Match(text) {
		family, restore = "ip6", "ip6tables-nft-restore"
	}
	src, err := ParseIptablesSave(file, text, family)
	if err != nil {
		return nil, err
	}
	if _, err := runInNetns(ns, text, restore); err != nil {
		return nil, fmt.Errorf("firewall %s: %w", file, err)
	}
	return mapKernel(ns, src, FormatIptables)
}

// ParseIptablesSave reads iptables-save output: per "*table", the chains
// (":CHAIN POLICY [packets:bytes]") and their rules ("-A CHAIN ..."), in
// order. family is the nft family the rules land in (ip or ip6).
func ParseIptablesSave(file string, text []byte, family string) (*SourceMap, error) {
	m := newSourceMap(file)
	table := ""
	for i, raw := range strings.Split(string(text), "\n") {
		line := strings.TrimSpace(raw)
		n := i + 1
		origin := Origin{File: file, Line: n, Text: line}
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "*"):
			table = strings.TrimSpace(line[1:])
		case line == "COMMIT":
			table = ""
		case table == "":
			return nil, fmt.Errorf("%s:%d: %q outside a *table ... COMMIT block", file, n, line)
		case strings.HasPrefix(line, ":"):
			f := strings.Fields(line[1:])
			if len(f) == 0 {
				return nil, fmt.Errorf("%s:%d: a chain line without a name", file, n)
			}
			c := m.chain(ChainRef{family, table, f[0]}, origin)
			c.Decl = origin
			if len(f) > 1 && f[1] != "-" {
				c.Policy = strings.ToLower(f[1])
			}
		case strings.HasPrefix(line, "-A ") || strings.HasPrefix(line, "-I "):
			f := strings.Fields(line)
			if len(f) < 2 {
				return nil, fmt.Errorf("%s:%d: a rule without a chain", file, n)
			}
			ref := ChainRef{family, table, f[1]}
			c := m.chain(ref, Origin{File: file, Line: n, Text: ":" + f[1]})
			if f[0] == "-I" {
				if len(f) > 2 && isDigits(f[2]) {
					c.Unordered = true
				}
				c.Rules = append([]Origin{origin}, c.Rules...)
			} else {
				c.Rules = append(c.Rules, origin)
			}
		case strings.HasPrefix(line, "-N ") || strings.HasPrefix(line, "-P "):
			// iptables-restore accepts some commands; keep the chain known.
			if f := strings.Fields(line); len(f) >= 2 {
				c := m.chain(ChainRef{family, table, f[1]}, origin)
				if f[0] == "-P" && len(f) > 2 {
					c.Policy, c.Decl = strings.ToLower(f[2]), origin
				}
			}
		}
	}
	if table != "" {
		return nil, fmt.Errorf("%s: table *%s has no COMMIT", file, table)
	}
	return m, nil
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}
