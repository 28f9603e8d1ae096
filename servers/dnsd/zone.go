package dnsd

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/miekg/dns"
)

// DefaultTTL is the TTL given to records added with a zero TTL, and to the
// SOA when NewZone builds one.
const DefaultTTL = 300

// ErrFrozen is returned when a Zone or ZoneSet is changed after it was handed
// to a Server: the data a server answers from never changes under it
// (swap the whole set with Server.SetZones instead).
var ErrFrozen = errors.New("dnsd: zone data is in use by a server and cannot change")

// A Zone is the authoritative data of one zone: its origin, SOA, apex NS
// records and every other record below the origin. Build it with NewZone and
// the Add methods from one goroutine, then hand it to a Server in a ZoneSet.
type Zone struct {
	origin string // canonical: lower case, fully qualified
	soa    *dns.SOA
	// nodes maps a canonical owner name to its records by type, in the
	// order they were added.
	nodes map[string]map[uint16][]dns.RR
	// ents holds the empty non-terminals: names that own no record but
	// exist because a name below them does (RFC 8020, RFC 4592 section 2.2.2).
	ents   map[string]bool
	frozen atomic.Bool
}

// NewZone returns a zone for origin with the given apex name servers (at
// least one). soa is a template: its owner, type and class are set from the
// zone, a zero TTL becomes DefaultTTL, and nil builds a lab SOA (primary = the
// first name server, hostmaster.<origin>, serial 1, minimum DefaultTTL).
func NewZone(origin string, soa *dns.SOA, ns []string) (*Zone, error) {
	o, err := canonicalName(origin)
	if err != nil {
		return nil, fmt.Errorf("dnsd: zone %q: %w", origin, err)
	}
	if len(ns) == 0 {
		return nil, fmt.Errorf("dnsd: zone %s: no name server (RFC 1034 section 4.2.1)", o)
	}
	z := &Zone{
		origin: o,
		nodes:  make(map[string]map[uint16][]dns.RR),
		ents:   make(map[string]bool),
	}
	if soa == nil {
		soa = &dns.SOA{
			Ns:      dns.Fqdn(ns[0]),
			Mbox:    dns.Fqdn("hostmaster." + strings.TrimSuffix(o, ".")),
			Serial:  1,
			Refresh: 3600,
			Retry:   600,
			Expire:  86400,
			Minttl:  DefaultTTL,
		}
	} else {
		soa = dns.Copy(soa).(*dns.SOA)
	}
	soa.Hdr = dns.RR_Header{Name: o, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: soa.Hdr.Ttl}
	if err := z.insert(soa); err != nil {
		return nil, err
	}
	z.soa = z.nodes[o][dns.TypeSOA][0].(*dns.SOA)
	for _, n := range ns {
		if err := z.Add(&dns.NS{Hdr: dns.RR_Header{Name: o}, Ns: dns.Fqdn(n)}); err != nil {
			return nil, err
		}
	}
	return z, nil
}

// Origin returns the zone's origin, lower case and fully qualified.
func (z *Zone) Origin() string { return z.origin }

// SOA returns a copy of the zone's SOA record.
func (z *Zone) SOA() *dns.SOA { return dns.Copy(z.soa).(*dns.SOA) }

// Add adds records to the zone. A record must be of class IN (a zero class
// means IN), own a name at or below the origin, and be valid on the wire. A
// zero Rrtype is filled in from the record's Go type; a zero TTL becomes
// DefaultTTL. Rejected: SOA (given to NewZone), NS below the apex (no
// delegations), CNAME at the apex or beside other data (RFC 2181 section
// 10.1), wildcard owners, and meta types. Exact duplicates are ignored
// (RFC 2181 section 5). Add stops at the first bad record.
func (z *Zone) Add(rrs ...dns.RR) error {
	for _, rr := range rrs {
		if err := z.insert(rr); err != nil {
			return err
		}
	}
	return nil
}

// AddText adds records written in zone file syntax (RFC 1035 section 5):
// names are relative to the origin, "@" is the origin, $TTL and $ORIGIN
// work, $INCLUDE does not. Example: "@ MX 10 edge01\nedge01 A 127.0.10.1".
func (z *Zone) AddText(text string) error {
	zp := dns.NewZoneParser(strings.NewReader(text), z.origin, "")
	zp.SetDefaultTTL(DefaultTTL)
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		if err := z.insert(rr); err != nil {
			return err
		}
	}
	if err := zp.Err(); err != nil {
		return fmt.Errorf("dnsd: zone %s: %w", z.origin, err)
	}
	return nil
}

// AddAddr adds an A record for each IPv4 address and an AAAA record for each
// IPv6 address of name (absolute, trailing dot optional).
func (z *Zone) AddAddr(name string, addrs ...netip.Addr) error {
	for _, a := range addrs {
		if err := z.insert(addrRR(dns.Fqdn(name), a)); err != nil {
			return err
		}
	}
	return nil
}

// AddMX adds an MX record: mail for name goes to host with preference pref.
// Host "." is a null MX (RFC 7505).
func (z *Zone) AddMX(name string, pref uint16, host string) error {
	return z.insert(&dns.MX{Hdr: dns.RR_Header{Name: dns.Fqdn(name)}, Preference: pref, Mx: dns.Fqdn(host)})
}

// Records returns copies of every record of the zone: the SOA, the rest
// of the apex, then the other names in sorted order.
func (z *Zone) Records() []dns.RR {
	out := []dns.RR{dns.Copy(z.soa)}
	names := sortedKeys(z.nodes)
	names = slices.DeleteFunc(names, func(n string) bool { return n == z.origin })
	for _, name := range append([]string{z.origin}, names...) {
		for _, t := range sortedKeys(z.nodes[name]) {
			if t == dns.TypeSOA {
				continue
			}
			for _, rr := range z.nodes[name][t] {
				out = append(out, dns.Copy(rr))
			}
		}
	}
	return out
}

func (z *Zone) freeze() { z.frozen.Store(true) }

// lookup returns the records of a canonical name and whether the name exists
// (owns records or is an empty non-terminal).
func (z *Zone) lookup(name string) (map[uint16][]dns.RR, bool) {
	n, ok := z.nodes[name]
	if ok {
		return n, true
	}
	return nil, z.ents[name]
}

func (z *Zone) insert(rr dns.RR) error {
	if z.frozen.Load() {
		return ErrFrozen
	}
	if rr == nil || reflect.ValueOf(rr).IsNil() {
		return fmt.Errorf("dnsd: zone %s: nil record", z.origin)
	}
	rr = dns.Copy(rr)
	h := rr.Header()
	if err := fillType(rr); err != nil {
		return fmt.Errorf("dnsd: zone %s: %w", z.origin, err)
	}
	owner, err := presentation(h.Name)
	if err != nil {
		return fmt.Errorf("dnsd: zone %s: record %q: %w", z.origin, h.Name, err)
	}
	h.Name = owner
	name := dns.CanonicalName(owner)
	if h.Class == 0 {
		h.Class = dns.ClassINET
	}
	if h.Ttl == 0 {
		h.Ttl = DefaultTTL
	}
	if err := z.check(rr, name); err != nil {
		return fmt.Errorf("dnsd: zone %s: %s: %w", z.origin, rrString(rr), err)
	}
	node := z.nodes[name]
	if node == nil {
		node = make(map[uint16][]dns.RR)
		z.nodes[name] = node
		delete(z.ents, name)
		for p := parentName(name); p != "" && p != z.origin && dns.IsSubDomain(z.origin, p); p = parentName(p) {
			if _, ok := z.nodes[p]; !ok {
				z.ents[p] = true
			}
		}
	}
	for _, old := range node[h.Rrtype] {
		if dns.IsDuplicate(old, rr) {
			return nil
		}
	}
	node[h.Rrtype] = append(node[h.Rrtype], rr)
	return nil
}

// check validates one record (header already normalised) for this zone.
func (z *Zone) check(rr dns.RR, name string) error {
	h := rr.Header()
	switch {
	case h.Class != dns.ClassINET:
		return fmt.Errorf("class %s is not IN", dns.Class(h.Class))
	case !dns.IsSubDomain(z.origin, name):
		return errors.New("owner is outside the zone")
	case strings.HasPrefix(name, "*."):
		return errors.New("wildcard owners are not supported")
	}
	apex := name == z.origin
	switch h.Rrtype {
	case dns.TypeSOA:
		if z.soa != nil {
			return errors.New("the SOA is set by NewZone")
		}
	case dns.TypeNS:
		if !apex {
			return errors.New("delegations are not supported (NS below the apex)")
		}
	case dns.TypeCNAME:
		if apex {
			return errors.New("CNAME at the zone apex (RFC 1912 section 2.4)")
		}
		if n := z.nodes[name]; len(n) > 0 && len(n[dns.TypeCNAME]) == 0 {
			return errors.New("CNAME beside other data (RFC 2181 section 10.1)")
		}
		if len(z.nodes[name][dns.TypeCNAME]) > 0 && !dns.IsDuplicate(z.nodes[name][dns.TypeCNAME][0], rr) {
			return errors.New("a second CNAME for the name (RFC 2181 section 10.1)")
		}
	case dns.TypeOPT, dns.TypeTSIG, dns.TypeTKEY, dns.TypeAXFR, dns.TypeIXFR, dns.TypeANY,
		dns.TypeMAILA, dns.TypeMAILB, dns.TypeNone, dns.TypeReserved:
		return errors.New("meta type cannot be zone data")
	case dns.TypeA:
		if a := rr.(*dns.A).A; a.To4() == nil {
			return errors.New("not an IPv4 address")
		}
	case dns.TypeAAAA:
		if a := rr.(*dns.AAAA).AAAA; len(a) != 16 || a.To4() != nil {
			return errors.New("not an IPv6 address")
		}
	}
	if h.Rrtype != dns.TypeCNAME && len(z.nodes[name][dns.TypeCNAME]) > 0 {
		return errors.New("data beside a CNAME (RFC 2181 section 10.1)")
	}
	buf := make([]byte, dns.MaxMsgSize)
	if _, err := dns.PackRR(rr, buf, 0, nil, false); err != nil {
		return fmt.Errorf("does not pack: %w", err)
	}
	return nil
}

// addrRR returns an A or AAAA record for addr.
func addrRR(name string, addr netip.Addr) dns.RR {
	addr = addr.Unmap()
	if addr.Is4() {
		return &dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET}, A: addr.AsSlice()}
	}
	return &dns.AAAA{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeAAAA, Class: dns.ClassINET}, AAAA: addr.AsSlice()}
}

// rrTypes maps each record's Go type to its type code, to fill in records
// built without a Rrtype. Types shared by several codes are left out.
var rrTypes = sync.OnceValue(func() map[reflect.Type]uint16 {
	m := make(map[reflect.Type]uint16, len(dns.TypeToRR))
	shared := make(map[reflect.Type]bool)
	for code, newRR := range dns.TypeToRR {
		t := reflect.TypeOf(newRR())
		if _, dup := m[t]; dup {
			shared[t] = true
		}
		m[t] = code
	}
	for t := range shared {
		delete(m, t)
	}
	return m
})

// fillType sets or checks the Rrtype of rr against its Go type.
func fillType(rr dns.RR) error {
	h := rr.Header()
	code, known := rrTypes()[reflect.TypeOf(rr)]
	switch {
	case known && h.Rrtype == 0:
		h.Rrtype = code
	case known && h.Rrtype != code:
		return fmt.Errorf("record %s: header type %s does not match %T", h.Name, dns.Type(h.Rrtype), rr)
	case h.Rrtype == 0:
		return fmt.Errorf("record %s: no type", h.Name)
	}
	return nil
}

// canonicalName validates a domain name and returns it lower case and
// fully qualified (RFC 4034 section 6.2).
func canonicalName(s string) (string, error) {
	p, err := presentation(s)
	if err != nil {
		return "", err
	}
	return dns.CanonicalName(p), nil
}

// presentation validates a domain name and returns it fully qualified in
// the form a wire round trip gives, case kept: every spelling of a name
// (zone file escapes included) becomes the one that names from queries have.
func presentation(s string) (string, error) {
	if s == "" {
		return "", errors.New("empty name")
	}
	if _, ok := dns.IsDomainName(s); !ok {
		return "", errors.New("not a domain name")
	}
	var buf [256]byte
	n, err := dns.PackDomainName(dns.Fqdn(s), buf[:], 0, nil, false)
	if err != nil {
		return "", err
	}
	name, _, err := dns.UnpackDomainName(buf[:n], 0)
	if err != nil {
		return "", err
	}
	return name, nil
}

// nameKey is canonicalName for names already known to be valid (from the
// wire or from zone data); an invalid one maps to itself lower-cased.
func nameKey(s string) string {
	k, err := canonicalName(s)
	if err != nil {
		return dns.CanonicalName(s)
	}
	return k
}

// parentName returns the name one label up, or "" for the root.
func parentName(name string) string {
	if name == "." || name == "" {
		return ""
	}
	off, end := dns.NextLabel(name, 0)
	if end {
		return "."
	}
	return name[off:]
}

func rrString(rr dns.RR) string {
	return strings.ReplaceAll(rr.String(), "\t", " ")
}

func sortedKeys[K cmp.Ordered, V any](m map[K]V) []K {
	return slices.Sorted(maps.Keys(m))
}
