package lab

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/exsim/exsim/internal/labtest"
	"github.com/exsim/exsim/topology"
)

func prefixes(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

func TestComposeSubnets(t *testing.T) {
	zoneSubnets := func(tp *topology.Topology) string {
		var out []string
		for _, z := range tp.Zones {
			out = append(out, z.Name+"="+z.Subnet)
		}
		return strings.Join(out, " ")
	}
	for _, tc := range []struct {
		name  string
		used  []netip.Prefix
		want  string
		notes []string
	}{
		{"nothing in the way", nil, "internet=10.231.30.0/24 perimeter=10.231.10.0/24 internal=10.231.20.0/24", []string{"zone internet: 10.231.30.0/24 instead of 203.0.113.0/24 (an RFC 5737"}},
		// This machine: its LAN is 192.0.2.0/24, Docker's bridge 172.17.0.0/16,
		// and another lab already took 10.231.20.0/24.
		{"host networks", prefixes("192.0.2.0/24", "172.17.0.0/16", "10.231.20.0/24", "0.0.0.0/0"), "internet=10.231.30.0/24 perimeter=10.231.10.0/24 internal=10.231.21.0/24", []string{"zone internal: 10.231.21.0/24 instead of 192.0.2.0/24 (this host uses 192.0.2.0/24)"}},
		{"a wide route", prefixes("10.231.0.0/16"), "internet=10.232.30.0/24 perimeter=10.232.10.0/24 internal=10.232.20.0/24", nil},
	} {
		top, err := topology.Builtin("contoso")
		if err != nil {
			t.Fatal(err)
		}
		notes, err := ComposeSubnets(top, tc.used, true)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := zoneSubnets(top); got != tc.want {
			t.Errorf("%s: zones %s, want %s", tc.name, got, tc.want)
		}
		for _, n := range tc.notes {
			if !strings.Contains(strings.Join(notes, "\n"), n) {
				t.Errorf("%s: notes %q lack %q", tc.name, notes, n)
			}
		}
		nt, err := top.ForNetwork()
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		for _, s := range nt.Servers {
			if _, clash := overlap(tc.used, netip.PrefixFrom(s.Addr(), 32)); clash {
				t.Errorf("%s: %s has %s, a network of the host", tc.name, s.Name, s.Address)
			}
		}
	}

	// A user's topology keeps the subnets the host does not use, and a
	// zone whose servers have real addresses cannot be moved silently.
	user := func() *topology.Topology {
		tp, err := topology.Parse("lab.yaml", []byte(labtest.CustomSubnetsSource(t)))
		if err != nil {
			t.Fatal(err)
		}
		return tp
	}
	tp := user()
	if notes, err := ComposeSubnets(tp, prefixes("192.0.2.0/24"), false); err != nil || len(notes) > 0 || !strings.Contains(zoneSubnets(tp), "internal=10.91.1.0/24") {
		t.Errorf("user topology on a free host: notes %q, err %v, zones %s", notes, err, zoneSubnets(tp))
	}
	_, err := ComposeSubnets(user(), prefixes("10.91.0.0/16"), false)
	if err == nil || !strings.Contains(err.Error(), "overlaps 10.91.0.0/16, a network of this host") || !strings.Contains(err.Error(), "e.g. 10.231.0.0/24") {
		t.Errorf("user topology on the host's network: %v", err)
	}
}

func TestParseProcRoutes(t *testing.T) {
	// /proc/net/route of this machine: default via 192.0.2.1, docker0, eth0.
	const table = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n" +
		"eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n" +
		"docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n" +
		"eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
	got, err := parseProcRoutes(strings.NewReader(table))
	if err != nil {
		t.Fatal(err)
	}
	if want := prefixes("172.17.0.0/16", "192.0.2.0/24"); len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("parseProcRoutes = %v, want %v (the default route left out)", got, want)
	}
}
