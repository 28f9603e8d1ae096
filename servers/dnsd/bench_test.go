package dnsd

import (
	"testing"

	"github.com/miekg/dns"
)

func BenchmarkHandleMX(b *testing.B) {
	zs := testZones(b)
	zs.freeze()
	m := new(dns.Msg)
	m.SetQuestion("contoso.com.", dns.TypeMX)
	m.SetEdns0(1232, false)
	q, _ := m.Pack()
	b.ReportAllocs()
	for b.Loop() {
		if r := zs.handle(q, false); r.rcode != dns.RcodeSuccess {
			b.Fatal(r.rcode)
		}
	}
}

func BenchmarkUDPQuery(b *testing.B) {
	_, addr := startServer(b, testZones(b), Options{})
	c := new(dns.Client)
	conn, err := c.Dial(addr)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	m := new(dns.Msg)
	m.SetQuestion("ex01.contoso.com.", dns.TypeA)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := c.ExchangeWithConn(m, conn); err != nil {
			b.Fatal(err)
		}
	}
}
