package dnsd

import (
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func TestNewZoneErrors(t *testing.T) {
	tests := []struct {
		origin string
		ns     []string
	}{
		{"", []string{"ns.contoso.com"}},
		{"a..b", []string{"ns.contoso.com"}},
		{strings.Repeat("a", 64) + ".com", []string{"ns.contoso.com"}},
		{"contoso.com", nil},
		{"contoso.com", []string{"bad..name"}},
	}
	for _, tc := range tests {
		if z, err := NewZone(tc.origin, nil, tc.ns); err == nil {
			t.Errorf("NewZone(%q, nil, %q) = %v, want an error", tc.origin, tc.ns, z.Origin())
		}
	}
}

func TestZoneAdd(t *testing.T) {
	hdr := func(name string, typ uint16) dns.RR_Header {
		return dns.RR_Header{Name: name, Rrtype: typ, Class: dns.ClassINET, Ttl: 60}
	}
	tests := []struct {
		name string
		rr   dns.RR
		ok   bool
	}{
		{"A", &dns.A{Hdr: hdr("ex01.contoso.com.", dns.TypeA), A: net.IPv4(127, 0, 20, 1)}, true},
		{"zero header filled", &dns.A{Hdr: dns.RR_Header{Name: "ex03.contoso.com"}, A: net.IPv4(127, 0, 20, 3)}, true},
		{"apex NS", &dns.NS{Hdr: hdr("contoso.com.", dns.TypeNS), Ns: "dns02.contoso.com."}, true},
		{"TXT", &dns.TXT{Hdr: hdr("contoso.com.", dns.TypeTXT), Txt: []string{"v=spf1 -all"}}, true},
		{"nil", nil, false},
		{"typed nil", (*dns.A)(nil), false},
		{"outside the zone", &dns.A{Hdr: hdr("ex01.fabrikam.com.", dns.TypeA), A: net.IPv4(127, 0, 0, 1)}, false},
		{"suffix but not below", &dns.A{Hdr: hdr("notcontoso.com.", dns.TypeA), A: net.IPv4(127, 0, 0, 1)}, false},
		{"class CH", &dns.A{Hdr: dns.RR_Header{Name: "x.contoso.com.", Rrtype: dns.TypeA, Class: dns.ClassCHAOS}, A: net.IPv4(127, 0, 0, 1)}, false},
		{"type mismatch", &dns.A{Hdr: hdr("x.contoso.com.", dns.TypeMX), A: net.IPv4(127, 0, 0, 1)}, false},
		{"A without address", &dns.A{Hdr: hdr("x.contoso.com.", dns.TypeA)}, false},
		{"A with IPv6", &dns.A{Hdr: hdr("x.contoso.com.", dns.TypeA), A: net.ParseIP("fd00::1")}, false},
		{"AAAA with IPv4", &dns.AAAA{Hdr: hdr("x.contoso.com.", dns.TypeAAAA), AAAA: net.IPv4(127, 0, 0, 1)}, false},
		{"SOA", &dns.SOA{Hdr: hdr("contoso.com.", dns.TypeSOA), Ns: "a.", Mbox: "b."}, false},
		{"delegation", &dns.NS{Hdr: hdr("sub.contoso.com.", dns.TypeNS), Ns: "ns.sub.contoso.com."}, false},
		{"CNAME at apex", &dns.CNAME{Hdr: hdr("contoso.com.", dns.TypeCNAME), Target: "x.contoso.com."}, false},
		{"CNAME beside A", &dns.CNAME{Hdr: hdr("ex01.contoso.com.", dns.TypeCNAME), Target: "x.contoso.com."}, false},
		{"A beside CNAME", &dns.A{Hdr: hdr("www.contoso.com.", dns.TypeA), A: net.IPv4(127, 0, 0, 1)}, false},
		{"second CNAME", &dns.CNAME{Hdr: hdr("www.contoso.com.", dns.TypeCNAME), Target: "y.contoso.com."}, false},
		{"same CNAME again", &dns.CNAME{Hdr: hdr("www.contoso.com.", dns.TypeCNAME), Target: "ex01.contoso.com."}, true},
		{"wildcard", &dns.A{Hdr: hdr("*.contoso.com.", dns.TypeA), A: net.IPv4(127, 0, 0, 1)}, false},
		{"OPT", &dns.OPT{Hdr: dns.RR_Header{Name: "contoso.com.", Rrtype: dns.TypeOPT}}, false},
		{"MX target not a name", &dns.MX{Hdr: hdr("contoso.com.", dns.TypeMX), Mx: "bad..name."}, false},
	}
	z, err := NewZone("contoso.com", nil, []string{"dns01.contoso.com"})
	if err != nil {
		t.Fatal(err)
	}
	if err := z.Add(&dns.CNAME{Hdr: hdr("www.contoso.com.", dns.TypeCNAME), Target: "ex01.contoso.com."}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		err := z.Add(tc.rr)
		if (err == nil) != tc.ok {
			t.Errorf("Add(%s) = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
	// The zero header was filled in, duplicates were dropped.
	if err := z.AddAddr("ex01.contoso.com", netip.MustParseAddr("127.0.20.1")); err != nil {
		t.Fatal(err)
	}
	checkRecords(t, z,
		"contoso.com. 300 IN SOA dns01.contoso.com. hostmaster.contoso.com. 1 3600 600 86400 300",
		"contoso.com. 300 IN NS dns01.contoso.com.",
		"contoso.com. 60 IN NS dns02.contoso.com.",
		"contoso.com. 60 IN TXT \"v=spf1 -all\"",
		"ex01.contoso.com. 60 IN A 127.0.20.1",
		"ex03.contoso.com. 300 IN A 127.0.20.3",
		"www.contoso.com. 60 IN CNAME ex01.contoso.com.",
	)
}

func TestZoneAddText(t *testing.T) {
	z, err := NewZone("contoso.com", &dns.SOA{Ns: "dns01.contoso.com.", Mbox: "admin.contoso.com.", Serial: 7, Minttl: 60}, []string{"dns01.contoso.com"})
	if err != nil {
		t.Fatal(err)
	}
	err = z.AddText(`$TTL 120
@       MX  10 edge01
edge01  A   127.0.10.1
abs.contoso.com. 30 AAAA fd00::1
`)
	if err != nil {
		t.Fatalf("AddText() = %v", err)
	}
	checkRecords(t, z,
		"contoso.com. 300 IN SOA dns01.contoso.com. admin.contoso.com. 7 0 0 0 60",
		"contoso.com. 300 IN NS dns01.contoso.com.",
		"contoso.com. 120 IN MX 10 edge01.contoso.com.",
		"abs.contoso.com. 30 IN AAAA fd00::1",
		"edge01.contoso.com. 120 IN A 127.0.10.1",
	)
	for _, bad := range []string{
		"x A not-an-address",
		"@ SOA a. b. 1 2 3 4 5",
		"x.fabrikam.com. A 127.0.0.1",
		"$INCLUDE /etc/passwd",
	} {
		if err := z.AddText(bad); err == nil {
			t.Errorf("AddText(%q) = nil, want an error", bad)
		}
	}
}

func TestZoneSet(t *testing.T) {
	zs := testZones(t)
	var origins []string
	for _, z := range zs.Zones() {
		origins = append(origins, z.Origin())
	}
	want := []string{
		"0.0.0.0.0.0.0.0.0.2.0.0.0.0.d.f.ip6.arpa.",
		"0.127.in-addr.arpa.",
		"10.0.127.in-addr.arpa.",
		"20.0.127.in-addr.arpa.",
		"30.0.127.in-addr.arpa.",
		"contoso.com.",
		"fabrikam.com.",
	}
	if !slices.Equal(origins, want) {
		t.Errorf("Zones() = %q, want %q", origins, want)
	}
	matches := map[string]string{
		"1.20.0.127.in-addr.arpa.": "20.0.127.in-addr.arpa.",
		"1.40.0.127.in-addr.arpa":  "0.127.in-addr.arpa.",
		"EX01.Contoso.COM":         "contoso.com.",
		"contoso.com.":             "contoso.com.",
		"com.":                     "",
		"xcontoso.com.":            "",
		"fabrikam.com.evil.":       "",
	}
	for name, want := range matches {
		got := ""
		if z := zs.Match(name); z != nil {
			got = z.Origin()
		}
		if got != want {
			t.Errorf("Match(%q) = %q, want %q", name, got, want)
		}
	}
	if err := zs.Add(zs.Zone("contoso.com")); err == nil {
		t.Error("Add(a zone already in the set) = nil, want an error")
	}
	if err := zs.AddHosts(Host{"www.example.org", netip.MustParseAddr("127.0.0.1")}); err == nil {
		t.Error("AddHosts(a name outside every zone) = nil, want an error")
	}
	// The test lab has one dangling PTR target on purpose.
	err := zs.Validate()
	if err == nil || !strings.Contains(err.Error(), "other.contoso.com. does not exist") || strings.Count(err.Error(), "\n") != 0 {
		t.Errorf("Validate() = %v, want exactly the dangling PTR target other.contoso.com.", err)
	}
}

func TestFrozen(t *testing.T) {
	zs := testZones(t)
	srv := New(zs, Options{})
	defer srv.Close()
	z := zs.Zone("contoso.com")
	errs := []error{
		z.AddAddr("new.contoso.com", netip.MustParseAddr("127.0.0.9")),
		z.AddText("new A 127.0.0.9"),
		zs.AddHosts(Host{"new.contoso.com", netip.MustParseAddr("127.0.0.9")}),
		zs.Add(func() *Zone { z, _ := NewZone("new.test", nil, []string{"ns.new.test"}); return z }()),
	}
	for i, err := range errs {
		if !errors.Is(err, ErrFrozen) {
			t.Errorf("change %d after New() = %v, want ErrFrozen", i, err)
		}
	}
}

// checkRecords fails t unless z's records, in presentation form with
// single spaces, are want.
func checkRecords(t *testing.T, z *Zone, want ...string) {
	t.Helper()
	var got []string
	for _, rr := range z.Records() {
		got = append(got, strings.ReplaceAll(rr.String(), "\t", " "))
	}
	if !slices.Equal(got, want) {
		t.Errorf("Records() = %q, want %q", got, want)
	}
}
