package lab

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"

	"github.com/exsim/exsim/topology"
)

// Zone subnets of a compose lab. Docker gives the host's side of every
// zone network an address and a route, so a zone subnet the host already
// uses (its LAN, a VPN, another Docker network) would take the host's
// traffic into the lab, or the lab's out of it. The built-in topologies
// name their zones with the RFC 5737 documentation ranges, and those are
// real networks on some machines (192.0.2.0/24 is this development
// machine's LAN): a compose lab never uses them as they are.
//
// Free subnets come from 10.231.0.0/16 upwards (to 10.239.0.0/16), as
// /24s. Why there: Docker's default address pools (172.17.0.0/16 to
// 172.31.0.0/16 and 192.168.0.0/16) never hand them to another network,
// home routers use 192.168.x.0/24, and corporate and VPN plans tend to
// start at the bottom of 10.0.0.0/8; a collision is unlikely, and the
// export checks the host's own routes anyway. A zone's servers keep
// their host numbers and, where the zone's loopback addresses share one,
// its third octet: EX01 127.0.20.1 becomes 10.231.20.1.
var composePool = netip.MustParsePrefix("10.231.0.0/16")

// documentation are the RFC 5737 ranges the built-in topologies use.
var documentation = []netip.Prefix{
	netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("203.0.113.0/24"),
}

// ComposeSubnets gives the zones of t (a loopback topology, before
// topology.ForNetwork) subnets fit for a compose lab on a host that uses
// the networks used (HostNetworks): every zone whose subnet overlaps one
// of them, and with builtin also every zone on an RFC 5737 range, moves
// to a free /24 (see composePool). It changes t and returns one note per
// zone it moved. A zone whose servers have addresses of their own (not
// loopback) cannot move: that is an error naming the network in the way.
func ComposeSubnets(t *topology.Topology, used []netip.Prefix, builtin bool) ([]string, error) {
	taken := slices.Clone(used)
	var move []int
	for i := range t.Zones {
		z := &t.Zones[i]
		p, err := netip.ParsePrefix(z.Subnet)
		if err != nil {
			continue // ForNetwork says what is wrong with it
		}
		p = p.Masked()
		clash, hostUses := overlap(used, p)
		if !hostUses && !(builtin && slices.Contains(documentation, p)) {
			taken = append(taken, p)
			continue
		}
		for _, s := range t.Servers {
			if s.Zone == z.Name && !s.Addr().IsLoopback() {
				return nil, fmt.Errorf("zone %s: its subnet %s overlaps %s, a network of this host, and %s has the address %s in it: give the zone a subnet the host does not use (zones[].subnet, e.g. %s)",
					z.Name, p, clash, s.Name, s.Address, freeSubnet(taken, 0))
			}
		}
		move = append(move, i)
	}
	var notes []string
	for _, i := range move {
		z := &t.Zones[i]
		p := freeSubnet(taken, zoneOctet(t, z.Name))
		if !p.IsValid() {
			return nil, fmt.Errorf("zone %s: no free /24 left in 10.231.0.0/16 to 10.239.0.0/16 on this host", z.Name)
		}
		why := "an RFC 5737 documentation range, a real network on some hosts"
		if clash, ok := overlap(used, netip.MustParsePrefix(z.Subnet).Masked()); ok {
			why = "this host uses " + clash.String()
		}
		notes = append(notes, fmt.Sprintf("zone %s: %s instead of %s (%s)", z.Name, p, z.Subnet, why))
		z.Subnet = p.String()
		taken = append(taken, p)
	}
	return notes, nil
}

// ComposeNetwork is t (a loopback topology, loaded fresh: it changes) on
// the networks of a compose lab: ComposeSubnets, then every server moved
// into its zone's subnet (topology.ForNetwork).
func ComposeNetwork(t *topology.Topology, used []netip.Prefix, builtin bool) (*topology.Topology, []string, error) {
	notes, err := ComposeSubnets(t, used, builtin)
	if err != nil {
		return nil, nil, err
	}
	nt, err := t.ForNetwork()
	return nt, notes, err
}

// overlap returns the first network of used that overlaps p.
func overlap(used []netip.Prefix, p netip.Prefix) (netip.Prefix, bool) {
	for _, u := range used {
		if u.Bits() > 0 && u.Overlaps(p) {
			return u, true
		}
	}
	return netip.Prefix{}, false
}

// zoneOctet is the third octet the zone's loopback addresses share
// (20 for 127.0.20.x), or 0.
func zoneOctet(t *topology.Topology, zone string) byte {
	var octet byte
	for _, s := range t.Servers {
		a := s.Addr()
		if s.Zone != zone || !a.Is4() || !a.IsLoopback() {
			continue
		}
		o := a.As4()[2]
		if octet != 0 && o != octet {
			return 0
		}
		octet = o
	}
	return octet
}

// freeSubnet is the first /24 of the pool (the one with third octet
// prefer first) that overlaps nothing taken.
func freeSubnet(taken []netip.Prefix, prefer byte) netip.Prefix {
	base := composePool.Addr().As4()
	for second := base[1]; second <= 239; second++ {
		for i := 0; i < 256; i++ {
			third := byte(i)
			if prefer != 0 {
				third = prefer + byte(i) // prefer, prefer+1, ... wrapping round
			}
			p := netip.PrefixFrom(netip.AddrFrom4([4]byte{base[0], second, third, 0}), 24)
			if _, clash := overlap(taken, p); !clash {
				return p
			}
		}
	}
	return netip.Prefix{}
}

// HostNetworks are the IPv4 networks this host uses: the destinations of
// its routes (/proc/net/route, the default route left out) and the
// networks of its interface addresses. Docker's own bridges are among
// them once their networks exist.
func HostNetworks() ([]netip.Prefix, error) {
	var out []netip.Prefix
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("host addresses: %w", err)
	}
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Is4() && !p.Addr().IsLoopback() {
			out = append(out, p.Masked())
		}
	}
	f, err := os.Open("/proc/net/route")
	if os.IsNotExist(err) {
		return out, nil // not Linux: the addresses are what there is
	}
	if err != nil {
		return nil, fmt.Errorf("host routes: %w", err)
	}
	defer f.Close()
	routes, err := parseProcRoutes(f)
	return append(out, routes...), err
}

// parseProcRoutes reads /proc/net/route: Iface, Destination, Gateway,
// Flags, RefCnt, Use, Metric, Mask, ... with addresses as little-endian
// hex words.
func parseProcRoutes(r io.Reader) ([]netip.Prefix, error) {
	var out []netip.Prefix
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 8 || fields[0] == "Iface" {
			continue
		}
		dst, ok1 := hexAddr(fields[1])
		mask, ok2 := hexAddr(fields[7])
		if !ok1 || !ok2 {
			continue
		}
		m := mask.As4()
		bits, _ := net.IPv4Mask(m[0], m[1], m[2], m[3]).Size()
		if bits == 0 {
			continue // the default route
		}
		out = append(out, netip.PrefixFrom(dst, bits).Masked())
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("host routes: %w", err)
	}
	return out, nil
}

func hexAddr(s string) (netip.Addr, bool) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 4 {
		return netip.Addr{}, false
	}
	var a [4]byte
	binary.BigEndian.PutUint32(a[:], binary.LittleEndian.Uint32(b))
	return netip.AddrFrom4(a), true
}
