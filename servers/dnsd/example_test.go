package dnsd_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"

	"github.com/exsim/exsim/internal/labnet"
	"github.com/exsim/exsim/servers/dnsd"
)

// Building the zones of the built-in contoso topology and serving them.
func Example() {
	ns := []string{"dns01.contoso.com"}
	hosts := []dnsd.Host{ // every server: A/AAAA and PTR
		{Name: "edge01.contoso.com", Addr: netip.MustParseAddr("127.0.10.1")},
		{Name: "ex01.contoso.com", Addr: netip.MustParseAddr("127.0.20.1")},
		{Name: "ex02.contoso.com", Addr: netip.MustParseAddr("127.0.20.2")},
		{Name: "dns01.contoso.com", Addr: netip.MustParseAddr("127.0.20.53")},
		{Name: "mx.fabrikam.com", Addr: netip.MustParseAddr("127.0.30.1")},
	}
	zs, _ := dnsd.NewZoneSet()
	for _, domain := range []string{"contoso.com", "fabrikam.com"} {
		z, err := dnsd.NewZone(domain, nil, ns) // nil: a lab SOA
		if err != nil {
			panic(err)
		}
		zs.Add(z)
	}
	reverse, _ := dnsd.ReverseZones(hosts, nil, ns) // 10.0.127.in-addr.arpa, ...
	zs.Add(reverse...)
	zs.AddHosts(hosts...)
	contoso := zs.Zone("contoso.com")
	contoso.AddMX("contoso.com", 10, "edge01.contoso.com")
	zs.Zone("fabrikam.com").AddMX("fabrikam.com", 10, "mx.fabrikam.com")
	contoso.AddAddr("autodiscover.contoso.com", netip.MustParseAddr("127.0.20.1"))
	contoso.AddText("mail A 127.0.20.1") // zone file syntax works too
	if err := zs.Validate(); err != nil {
		panic(err)
	}

	srv := dnsd.New(zs, dnsd.Options{Name: "DNS01"})
	pc, _ := net.ListenPacket("udp", "127.0.0.1:0")
	go srv.Serve(pc)
	defer srv.Close()

	r := &labnet.Resolver{Servers: []netip.AddrPort{netip.MustParseAddrPort(pc.LocalAddr().String())}}
	mxs, err := r.LookupMX(context.Background(), "contoso.com")
	fmt.Println(mxs, err)
	names, err := r.LookupAddr(context.Background(), netip.MustParseAddr("127.0.30.1"))
	fmt.Println(names, err)
	// Output:
	// [{edge01.contoso.com 10}] <nil>
	// [mx.fabrikam.com] <nil>
}
