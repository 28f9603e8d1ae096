//go:build linux

package lab

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/exsim/exsim/topology"
)

// The lab's network: a router namespace with one bridge per zone, holding
// the zone's router address (topology.RouterAddr); each server namespace
// has one veth ("eth0") whose peer is a port of its zone's bridge, the
// server's address, and a default route via its zone's router. Traffic
// between zones is routed (and filtered by the forward chain); traffic
// inside a zone is bridged and never reaches nftables.
//
// It uses netlink (github.com/vishvananda/netlink) rather than the ip
// command: every link is created directly in its namespace through a
// handle, so nothing ever appears in the host's namespace even for a
// moment, errors are typed, and no iproute2 version quirks apply.

// nsHandle opens a netlink handle inside a named namespace.
func nsHandle(ns string) (*netlink.Handle, func(), error) {
	fd, err := openNetns(ns)
	if err != nil {
		return nil, nil, fmt.Errorf("netns %s: %w", ns, err)
	}
	h, err := netlink.NewHandleAt(fd)
	if err != nil {
		fd.Close()
		return nil, nil, fmt.Errorf("netlink in %s: %w", ns, err)
	}
	return h, func() { h.Close(); fd.Close() }, nil
}

func ipNet(a netip.Addr, bits int) *net.IPNet {
	return &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(bits, a.BitLen())}
}

// addAddr assigns a/bits to link; IPv6 skips duplicate address detection
// so servers can bind at once.
func addAddr(h *netlink.Handle, link netlink.Link, a netip.Addr, bits int) error {
	addr := &netlink.Addr{IPNet: ipNet(a, bits)}
	if a.Is6() {
		addr.Flags = unix.IFA_F_NODAD
	}
	if err := h.AddrAdd(link, addr); err != nil {
		return fmt.Errorf("address %s/%d on %s: %w", a, bits, link.Attrs().Name, err)
	}
	return nil
}

func setUp(h *netlink.Handle, name string) (netlink.Link, error) {
	l, err := h.LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("link %s: %w", name, err)
	}
	if err := h.LinkSetUp(l); err != nil {
		return nil, fmt.Errorf("link %s up: %w", name, err)
	}
	return l, nil
}

// buildRouter makes the router namespace's bridges (one per zone with
// servers) and turns forwarding on. It returns the bridges by zone.
func buildRouter(st *State, t *topology.Topology) (map[string]Link, error) {
	h, closeH, err := nsHandle(st.Router)
	if err != nil {
		return nil, err
	}
	defer closeH()
	if _, err := setUp(h, "lo"); err != nil {
		return nil, err
	}
	sysctls := []struct {
		key, value string
		optional   bool
	}{
		{"net.ipv4.ip_forward", "1", false},
		{"net.ipv6.conf.all.forwarding", "1", true},
		// With br_netfilter loaded, bridged frames would pass the inet
		// forward chain too, and the firewall would cut traffic inside
		// a zone. A zone is one segment: switch it off here (these
		// sysctls are per namespace).
		{"net.bridge.bridge-nf-call-iptables", "0", true},
		{"net.bridge.bridge-nf-call-ip6tables", "0", true},
		{"net.bridge.bridge-nf-call-arptables", "0", true},
	}
	for _, s := range sysctls {
		if err := writeSysctl(st.Router, s.key, s.value, s.optional); err != nil {
			return nil, err
		}
	}
	bridges := map[string]Link{}
	taken := map[string]bool{}
	zones, err := serverZones(t)
	if err != nil {
		return nil, err
	}
	for _, z := range zones {
		p := z.subnet
		name := linkName("br-", z.name, z.index, taken)
		router := topology.RouterAddr(p)
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}}
		if err := h.LinkAdd(br); err != nil {
			return nil, fmt.Errorf("bridge %s in %s: %w", name, st.Router, err)
		}
		l := Link{Name: name, Netns: st.Router, Kind: "bridge", Zone: z.name, Address: netip.PrefixFrom(router, p.Bits()).String()}
		st.Links = append(st.Links, l)
		link, err := setUp(h, name)
		if err != nil {
			return nil, err
		}
		if err := addAddr(h, link, router, p.Bits()); err != nil {
			return nil, err
		}
		bridges[z.name] = l
	}
	return bridges, nil
}

// serverZone is a zone that holds at least one server: a network a lab
// builds, as namespaces or as compose networks.
type serverZone struct {
	index  int // in Topology.Zones
	name   string
	subnet netip.Prefix // as the topology writes it
}

// serverZones returns the zones of t that hold a server, in t's order.
func serverZones(t *topology.Topology) ([]serverZone, error) {
	var out []serverZone
	for i, z := range t.Zones {
		used := false
		for _, s := range t.Servers {
			used = used || s.Zone == z.Name
		}
		if !used {
			continue
		}
		p, err := netip.ParsePrefix(z.Subnet)
		if err != nil {
			return nil, fmt.Errorf("zone %s: subnet %q: %w", z.Name, z.Subnet, err)
		}
		out = append(out, serverZone{index: i, name: z.Name, subnet: p})
	}
	return out, nil
}

// attachServer wires server s's namespace to its zone's bridge: a veth
// pair created in the router namespace whose "eth0" end goes straight
// into the server's namespace, the server's address, and the default
// route via the zone's router.
func attachServer(st *State, t *topology.Topology, s *topology.Server, ns string, bridge Link, idx int, taken map[string]bool) error {
	rh, closeR, err := nsHandle(st.Router)
	if err != nil {
		return err
	}
	defer closeR()
	sfd, err := openNetns(ns)
	if err != nil {
		return fmt.Errorf("netns %s: %w", ns, err)
	}
	defer sfd.Close()
	br, err := rh.LinkByName(bridge.Name)
	if err != nil {
		return fmt.Errorf("bridge %s: %w", bridge.Name, err)
	}
	name := linkName("ve-", s.ShortName(), idx, taken)
	veth := &netlink.Veth{
		LinkAttrs: netlink.LinkAttrs{Name: name, MasterIndex: br.Attrs().Index},
		PeerName:  "eth0", PeerNamespace: netlink.NsFd(sfd),
	}
	if err := rh.LinkAdd(veth); err != nil {
		return fmt.Errorf("veth %s (%s) -> %s: %w", name, st.Router, ns, err)
	}
	st.Links = append(st.Links, Link{Name: name, Netns: st.Router, Kind: "veth", Peer: "eth0", PeerNetns: ns, Zone: s.Zone, Address: s.Address})
	if _, err := setUp(rh, name); err != nil {
		return err
	}

	sh, closeS, err := nsHandle(ns)
	if err != nil {
		return err
	}
	defer closeS()
	if _, err := setUp(sh, "lo"); err != nil {
		return err
	}
	eth, err := setUp(sh, "eth0")
	if err != nil {
		return err
	}
	p, err := netip.ParsePrefix(t.ZoneOf(s).Subnet)
	if err != nil {
		return fmt.Errorf("zone %s: %w", s.Zone, err)
	}
	a := s.Addr()
	if !p.Contains(a) {
		return fmt.Errorf("%s: address %s is not in zone %s's subnet %s", s.Name, a, s.Zone, p)
	}
	if err := addAddr(sh, eth, a, p.Bits()); err != nil {
		return err
	}
	gw := topology.RouterAddr(p)
	dst := ipNet(netip.IPv4Unspecified(), 0)
	if a.Is6() {
		dst = ipNet(netip.IPv6Unspecified(), 0)
	}
	if err := sh.RouteAdd(&netlink.Route{LinkIndex: eth.Attrs().Index, Dst: dst, Gw: gw.AsSlice()}); err != nil {
		return fmt.Errorf("%s: default route via %s: %w", s.Name, gw, err)
	}
	return nil
}

// RouteVia makes gw the default route of the calling process's network
// namespace (replacing any other), for a server in a container whose
// network has no route to the other zones: `exsim serve --route-via GW`.
// It needs CAP_NET_ADMIN.
func RouteVia(gw string) error {
	a, err := netip.ParseAddr(gw)
	if err != nil {
		return fmt.Errorf("--route-via %q: not an address", gw)
	}
	dst := ipNet(netip.IPv4Unspecified(), 0)
	if a.Is6() {
		dst = ipNet(netip.IPv6Unspecified(), 0)
	}
	if err := netlink.RouteReplace(&netlink.Route{Dst: dst, Gw: a.AsSlice()}); err != nil {
		if errors.Is(err, unix.EPERM) {
			return fmt.Errorf("default route via %s: %w (the container needs cap_add: [NET_ADMIN])", gw, err)
		}
		return fmt.Errorf("default route via %s: %w", gw, err)
	}
	return nil
}
