package labnet

import (
	"testing"

	"github.com/miekg/dns"

	"github.com/exsim/exsim/internal/fuzzseed"
)

// FuzzResponse treats arbitrary bytes as the server's answer to the
// resolver's queries: no panic, and whatever is extracted is well formed.
func FuzzResponse(f *testing.F) {
	for _, build := range []func(m *dns.Msg){
		func(m *dns.Msg) {
			m.Answer = append(m.Answer, &dns.MX{Hdr: dns.RR_Header{Name: "contoso.com.", Rrtype: dns.TypeMX, Class: dns.ClassINET}, Preference: 10, Mx: "edge01.contoso.com."})
		},
		func(m *dns.Msg) {
			m.Answer = append(m.Answer,
				&dns.CNAME{Hdr: dns.RR_Header{Name: "contoso.com.", Rrtype: dns.TypeCNAME, Class: dns.ClassINET}, Target: "b.contoso.com."},
				&dns.CNAME{Hdr: dns.RR_Header{Name: "b.contoso.com.", Rrtype: dns.TypeCNAME, Class: dns.ClassINET}, Target: "contoso.com."})
		},
		func(m *dns.Msg) {
			m.Answer = append(m.Answer, &dns.MX{Hdr: dns.RR_Header{Name: "contoso.com.", Rrtype: dns.TypeMX, Class: dns.ClassINET}, Mx: "."})
		},
	} {
		m := new(dns.Msg)
		m.SetQuestion("contoso.com.", dns.TypeMX)
		m.Response = true
		build(m)
		b, _ := m.Pack()
		fuzzseed.Add(f, b)
	}
	q := new(dns.Msg)
	q.SetQuestion("contoso.com.", dns.TypeMX)
	f.Fuzz(func(t *testing.T, b []byte) {
		resp := new(dns.Msg)
		if resp.Unpack(b) != nil {
			return
		}
		q.Id = resp.Id
		_ = answers1(resp, q)
		mxs, _ := parseMX(resp, "contoso.com")
		for i, mx := range mxs {
			if i > 0 && mx.Pref < mxs[i-1].Pref {
				t.Fatalf("parseMX() = %v, not sorted", mxs)
			}
		}
		for _, a := range append(parseAddrs(resp, "contoso.com", dns.TypeA), parseAddrs(resp, "contoso.com", dns.TypeAAAA)...) {
			if !a.IsValid() {
				t.Fatalf("parseAddrs() returned an invalid address")
			}
		}
		_ = parsePTR(resp, "contoso.com.")
	})
}
