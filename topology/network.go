package topology

import (
	"fmt"
	"net/netip"
)

// ForNetwork returns a copy of the topology for a lab on real networks
// (network namespaces, containers): every server with a loopback address
// gets the address with the same host number in its zone's subnet
// (EX01 127.0.20.1 in internal 192.0.2.0/24 becomes 192.0.2.1). Servers
// with real addresses keep them. Every zone that has servers needs a
// subnet, and the routers take the last usable address of each.
func (t *Topology) ForNetwork() (*Topology, error) {
	out, err := t.clone()
	if err != nil {
		return nil, err
	}
	for i := range out.Servers {
		s := &out.Servers[i]
		z := out.zone(s.Zone)
		if z == nil || z.Subnet == "" {
			return nil, fmt.Errorf("zone %q of %s has no subnet; real networks need one (zones[].subnet, e.g. 192.0.2.0/24)", s.Zone, s.Name)
		}
		p, ok := zoneSubnet(z)
		if !ok {
			return nil, fmt.Errorf("zone %s: %q is not a network in CIDR form (e.g. 192.0.2.0/24)", z.Name, z.Subnet)
		}
		a := s.Addr()
		if !a.IsLoopback() {
			if !p.Contains(a) {
				return nil, fmt.Errorf("%s: %s is not in zone %s's subnet %s", s.Name, a, z.Name, p)
			}
			continue
		}
		if !p.Addr().Is4() || !a.Is4() {
			return nil, fmt.Errorf("%s: cannot move loopback address %s into %s; give the server an address in the subnet", s.Name, a, p)
		}
		host := a.As4()[3]
		base := p.Addr().As4()
		if p.Bits() > 24 {
			return nil, fmt.Errorf("zone %s: subnet %s is smaller than a /24; give %s an address in it", z.Name, p, s.Name)
		}
		base[3] = host
		na := netip.AddrFrom4(base)
		if na == RouterAddr(p) || host == 0 || host == 255 {
			return nil, fmt.Errorf("%s: host number %d of %s is not usable in %s", s.Name, host, a, p)
		}
		s.Address = na.String()
	}
	if err := out.Validate(); err != nil {
		return nil, fmt.Errorf("topology for real networks: %w", err)
	}
	return out, nil
}

// RouterAddr is the address of the lab router in a zone: the last usable
// address of its subnet (192.0.2.254 in 192.0.2.0/24).
func RouterAddr(p netip.Prefix) netip.Addr {
	p = p.Masked()
	a := p.Addr()
	if a.Is4() {
		b := a.As4()
		n := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		n |= (1<<(32-p.Bits()) - 1)
		n--
		return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
	}
	b := a.As16()
	for i := p.Bits() / 8; i < 16; i++ {
		b[i] = 0xff
	}
	b[15] = 0xfe
	return netip.AddrFrom16(b)
}

// clone deep-copies the topology through its YAML form.
func (t *Topology) clone() (*Topology, error) {
	b, err := t.Marshal()
	if err != nil {
		return nil, err
	}
	c, err := Parse("topology copy", b)
	if err != nil {
		return nil, err
	}
	c.portOffset = t.portOffset
	return c, nil
}
