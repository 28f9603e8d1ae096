package dnsd

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/miekg/dns"
)

// A ZoneSet is every zone a Server is authoritative for. A query goes to the
// zone with the longest origin that contains its name (RFC 1034 section
// 4.3.2 step 2), so 20.0.127.in-addr.arpa wins over 0.127.in-addr.arpa.
// Build it from one goroutine; once handed to a Server it and its zones are
// frozen and every change returns ErrFrozen.
type ZoneSet struct {
	zones  map[string]*Zone // by canonical origin
	frozen atomic.Bool
}

// A Host is a name and one of its addresses: the input of AddHosts (A and
// AAAA records) and ReverseZones (PTR records).
type Host struct {
	Name string
	Addr netip.Addr
}

// NewZoneSet returns a set holding zones.
func NewZoneSet(zones ...*Zone) (*ZoneSet, error) {
	s := &ZoneSet{zones: make(map[string]*Zone)}
	if err := s.Add(zones...); err != nil {
		return nil, err
	}
	return s, nil
}

// Add adds zones; two zones with the same origin are an error.
func (s *ZoneSet) Add(zones ...*Zone) error {
	if s.frozen.Load() {
		return ErrFrozen
	}
	for _, z := range zones {
		if z == nil {
			return errors.New("dnsd: nil zone")
		}
		if _, dup := s.zones[z.origin]; dup {
			return fmt.Errorf("dnsd: zone %s added twice", z.origin)
		}
		s.zones[z.origin] = z
	}
	return nil
}

// Zone returns the zone whose origin is exactly origin, or nil.
func (s *ZoneSet) Zone(origin string) *Zone {
	return s.zones[nameKey(origin)]
}

// Match returns the zone that is authoritative for name (the longest
// matching origin), or nil when name is outside every zone.
func (s *ZoneSet) Match(name string) *Zone {
	if s == nil {
		return nil
	}
	return s.match(nameKey(name))
}

// match is Match for a canonical name.
func (s *ZoneSet) match(name string) *Zone {
	for off, end := 0, false; !end; off, end = dns.NextLabel(name, off) {
		if z, ok := s.zones[name[off:]]; ok {
			return z
		}
	}
	return s.zones["."]
}

// Zones returns the zones sorted by origin.
func (s *ZoneSet) Zones() []*Zone {
	out := make([]*Zone, 0, len(s.zones))
	for _, o := range sortedKeys(s.zones) {
		out = append(out, s.zones[o])
	}
	return out
}

// AddRR adds each record to the zone that is authoritative for its owner.
func (s *ZoneSet) AddRR(rrs ...dns.RR) error {
	for _, rr := range rrs {
		if rr == nil {
			return errors.New("dnsd: nil record")
		}
		z := s.Match(rr.Header().Name)
		if z == nil {
			return fmt.Errorf("dnsd: %s: no zone for the name", rrString(rr))
		}
		if err := z.Add(rr); err != nil {
			return err
		}
	}
	return nil
}

// AddHosts adds an A or AAAA record for each host to the zone that is
// authoritative for its name.
func (s *ZoneSet) AddHosts(hosts ...Host) error {
	for _, h := range hosts {
		if !h.Addr.IsValid() {
			return fmt.Errorf("dnsd: host %s: no address", h.Name)
		}
		if err := s.AddRR(addrRR(dns.Fqdn(h.Name), h.Addr)); err != nil {
			return err
		}
	}
	return nil
}

// Validate reports the dangling references a lab should not have: an MX,
// NS, CNAME, SRV or PTR target that lies in one of the set's zones but does
// not exist there, and MX, NS and SRV targets in the set without an address.
// Targets outside every zone are not checked.
func (s *ZoneSet) Validate() error {
	var errs []error
	for _, z := range s.Zones() {
		for _, rr := range z.Records() {
			target, needAddr := rrTarget(rr)
			if target == "" || target == "." {
				continue
			}
			tz := s.Match(target)
			if tz == nil {
				continue
			}
			node, exists := tz.lookup(nameKey(target))
			switch {
			case !exists || (node == nil && needAddr):
				errs = append(errs, fmt.Errorf("dnsd: %s: target %s does not exist", rrString(rr), target))
			case needAddr && len(node[dns.TypeA]) == 0 && len(node[dns.TypeAAAA]) == 0:
				errs = append(errs, fmt.Errorf("dnsd: %s: target %s has no A or AAAA record", rrString(rr), target))
			}
		}
	}
	return errors.Join(errs...)
}

func (s *ZoneSet) freeze() {
	if s == nil {
		return
	}
	s.frozen.Store(true)
	for _, z := range s.zones {
		z.freeze()
	}
}

// rrTarget returns the name a record points to and whether that name must
// have an address (RFC 2181 section 10.3: MX and NS targets are hosts).
func rrTarget(rr dns.RR) (string, bool) {
	switch rr := rr.(type) {
	case *dns.MX:
		return rr.Mx, true
	case *dns.NS:
		return rr.Ns, true
	case *dns.SRV:
		return rr.Target, true
	case *dns.CNAME:
		return rr.Target, false
	case *dns.PTR:
		return rr.Ptr, false
	}
	return "", false
}

// ReverseZones builds the reverse zones for hosts with one PTR record per
// host: one zone per /24 under in-addr.arpa (RFC 1035 section 3.5) and one
// per /64 under ip6.arpa (RFC 3596 section 2.5). soa and ns are used for
// every zone as in NewZone. The zones come sorted by origin.
func ReverseZones(hosts []Host, soa *dns.SOA, ns []string) ([]*Zone, error) {
	byOrigin := make(map[string]*Zone)
	for _, h := range hosts {
		if !h.Addr.IsValid() {
			return nil, fmt.Errorf("dnsd: host %s: no address", h.Name)
		}
		addr := h.Addr.Unmap()
		ptrName, err := dns.ReverseAddr(addr.String())
		if err != nil {
			return nil, fmt.Errorf("dnsd: host %s: %w", h.Name, err)
		}
		origin := reverseOrigin(ptrName, addr)
		z := byOrigin[origin]
		if z == nil {
			if z, err = NewZone(origin, soa, ns); err != nil {
				return nil, err
			}
			byOrigin[origin] = z
		}
		if err := z.Add(&dns.PTR{Hdr: dns.RR_Header{Name: ptrName}, Ptr: dns.Fqdn(h.Name)}); err != nil {
			return nil, err
		}
	}
	zones := make([]*Zone, 0, len(byOrigin))
	for _, o := range sortedKeys(byOrigin) {
		zones = append(zones, byOrigin[o])
	}
	return zones, nil
}

// reverseOrigin cuts the first label (IPv4: one octet) or the first 16
// labels (IPv6: 64 bits of nibbles) off a reverse name.
func reverseOrigin(ptrName string, addr netip.Addr) string {
	skip := 1
	if addr.Is6() {
		skip = 16
	}
	labels := dns.SplitDomainName(ptrName)
	return strings.Join(slices.Clone(labels[skip:]), ".") + "."
}
