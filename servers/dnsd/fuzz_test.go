package dnsd

import (
	"encoding/binary"
	"testing"

	"github.com/miekg/dns"

	"github.com/exsim/exsim/internal/fuzzseed"
)

// FuzzHandler feeds arbitrary bytes to the query handler: it must not panic,
// and an answer, when there is one, must unpack, carry the query's ID, be a
// response, and fit the UDP limit.
func FuzzHandler(f *testing.F) {
	for _, q := range []struct {
		name  string
		qtype uint16
		edns  uint16
	}{
		{"contoso.com.", dns.TypeMX, 0},
		{"big.contoso.com.", dns.TypeA, 0},
		{"many.contoso.com.", dns.TypeMX, 1232},
		{"Www.Contoso.com.", dns.TypeA, 4096},
		{"1.20.0.127.in-addr.arpa.", dns.TypePTR, 0},
		{"deep.contoso.com.", dns.TypeANY, 0},
		{"loop1.contoso.com.", dns.TypeA, 0},
		{"nosuch.fabrikam.com.", dns.TypeAAAA, 512},
		{"version.bind.", dns.TypeTXT, 0},
	} {
		m := new(dns.Msg)
		m.SetQuestion(q.name, q.qtype)
		if q.edns > 0 {
			m.SetEdns0(q.edns, true)
		}
		b, _ := m.Pack()
		fuzzseed.Add(f, b, false)
		fuzzseed.Add(f, b, true)
	}
	fuzzseed.Add(f, header(1, 0, 1), false)
	fuzzseed.Add(f, append(header(1, 0, 1), 0xc0, 12, 0, 1, 0, 1), false)
	fuzzseed.Add(f, []byte{}, true)
	zs := testZones(f)
	zs.freeze()
	f.Fuzz(func(t *testing.T, query []byte, tcp bool) {
		r := zs.handle(query, tcp)
		if r.wire == nil {
			if r.rcode >= 0 {
				t.Fatalf("handle(%x) = no answer with rcode %d", query, r.rcode)
			}
			return
		}
		m := new(dns.Msg)
		if err := m.Unpack(r.wire); err != nil {
			t.Fatalf("handle(%x) answer %x does not unpack: %v", query, r.wire, err)
		}
		if !m.Response || m.Id != binary.BigEndian.Uint16(query) || m.Rcode != r.rcode {
			t.Fatalf("handle(%x) = qr %v id %d rcode %d, want a response with the query's id and rcode %d", query, m.Response, m.Id, m.Rcode, r.rcode)
		}
		limit := dns.MaxMsgSize
		if !tcp {
			limit = dns.MinMsgSize
			if m.IsEdns0() != nil {
				limit = maxUDPSize
			}
		}
		if len(r.wire) > limit {
			t.Fatalf("handle(%x) answer is %d bytes, over the limit %d", query, len(r.wire), limit)
		}
	})
}

// FuzzZoneText feeds arbitrary zone text to AddText: no panic, and whatever
// was accepted can be answered.
func FuzzZoneText(f *testing.F) {
	fuzzseed.Add(f, "@ MX 10 edge01\nedge01 A 127.0.10.1\n")
	fuzzseed.Add(f, "$TTL 60\nwww CNAME mail\nmail AAAA fd00::1\n")
	fuzzseed.Add(f, "x TXT \"a\" \"b\"\n_sip._tcp SRV 0 5 5060 sip\n")
	fuzzseed.Add(f, "$ORIGIN sub.contoso.com.\na A 1.2.3.4\n")
	f.Fuzz(func(t *testing.T, text string) {
		z, err := NewZone("contoso.com", nil, []string{"dns01.contoso.com"})
		if err != nil {
			t.Fatal(err)
		}
		_ = z.AddText(text)
		zs, err := NewZoneSet(z)
		if err != nil {
			t.Fatal(err)
		}
		zs.freeze()
		for _, rr := range z.Records() {
			m := new(dns.Msg)
			m.SetQuestion(rr.Header().Name, rr.Header().Rrtype)
			q, err := m.Pack()
			if err != nil {
				t.Fatalf("record %v: query does not pack: %v", rr, err)
			}
			r := zs.handle(q, true)
			a := new(dns.Msg)
			if err := a.Unpack(r.wire); err != nil {
				t.Fatalf("record %v: answer does not unpack: %v", rr, err)
			}
			if a.Rcode != dns.RcodeSuccess || len(a.Answer) == 0 {
				t.Fatalf("record %v: answer %v, want NOERROR with records", rr, a)
			}
		}
	})
}
