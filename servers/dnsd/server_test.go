package dnsd

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

type queryCase struct {
	name    string
	qname   string
	qtype   uint16
	class   uint16 // 0: IN
	rd      bool
	edns    uint16 // 0: no EDNS
	rcode   int
	aa      bool
	tc      bool
	answer  []string // exact, in order; nil: empty
	ns      []string
	extra   []string // exact, OPT left out
	nAnswer int      // when answer is too long to write: the count
}

var soaContoso = "contoso.com. SOA dns01.contoso.com. hostmaster.contoso.com. 1 3600 600 86400 300"

func queryCases() []queryCase {
	return []queryCase{
		{name: "MX with glue", qname: "contoso.com.", qtype: dns.TypeMX, rcode: dns.RcodeSuccess, aa: true,
			answer: []string{"contoso.com. MX 10 edge01.contoso.com."},
			extra:  []string{"edge01.contoso.com. A 127.0.10.1"}},
		{name: "MX fabrikam", qname: "fabrikam.com.", qtype: dns.TypeMX, rcode: dns.RcodeSuccess, aa: true,
			answer: []string{"fabrikam.com. MX 10 mx.fabrikam.com."},
			extra:  []string{"mx.fabrikam.com. A 127.0.30.1"}},
		{name: "A", qname: "ex01.contoso.com.", qtype: dns.TypeA, rcode: dns.RcodeSuccess, aa: true,
			answer: []string{"ex01.contoso.com. A 127.0.20.1"}},
		{name: "AAAA", qname: "ex01.contoso.com.", qtype: dns.TypeAAAA, rcode: dns.RcodeSuccess, aa: true,
			answer: []string{"ex01.contoso.com. AAAA fd00:20::1"}},
		{name: "autodiscover", qname: "autodiscover.contoso.com.", qtype: dns.TypeA, rcode: dns.RcodeSuccess, aa: true,
			answer: []string{"autodiscover.contoso.com. A 127.0.20.1"}},
		{name: "PTR v4", qname: "1.20.0.127.in-addr.arpa.", qtype: dns.TypePTR, rcode: dns.RcodeSuccess, aa: true,
			answer: []string{"1.20.0.127.in-addr.arpa. PTR ex01.contoso.com."}},
		{name: "PTR v6", qname: "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.2.0.0.0.0.d.f.ip6.arpa.", qtype: dns.TypePTR,
			rcode: dns.RcodeSuccess, aa: true,
			answer: []string{"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.2.0.0.0.0.d.f.ip6.arpa. PTR ex01.contoso.com."}},
		{name: "PTR in the wider zone", qname: "1.40.0.127.in-addr.arpa.", qtype: dns.TypePTR, rcode: dns.RcodeSuccess, aa: true,
			answer: []string{"1.40.0.127.in-addr.arpa. PTR other.contoso.com."}},
		{name: "longest zone wins for NXDOMAIN", qname: "9.20.0.127.in-addr.arpa.", qtype: dns.TypePTR,
			rcode: dns.RcodeNameError, aa: true,
			ns: []string{"20.0.127.in-addr.arpa. SOA dns01.contoso.com. hostmaster.20.0.127.in-addr.arpa. 1 3600 600 86400 300"}},
		{name: "SOA", qname: "contoso.com.", qtype: dns.TypeSOA, rcode: dns.RcodeSuccess, aa: true,
			answer: []string{soaContoso}},
		{name: "NS with glue", qname: "fabrikam.com.", qtype: dns.TypeNS, rcode: dns.RcodeSuccess, aa: true,
			answer: []string{"fabrikam.com. NS dns01.contoso.com."},
			extra:  []string{"dns01.contoso.com. A 127.0.20.53"}},
		{name: "NXDOMAIN", qname: "nosuch.contoso.com.", qtype: dns.TypeA, rcode: dns.RcodeNameError, aa: true,
			ns: []string{soaContoso}},
		{name: "NXDOMAIN below a leaf", qname: "x.ex01.contoso.com.", qtype: dns.TypeA, rcode: dns.RcodeNameError, aa: true,
			ns: []string{soaContoso}},
		{name: "NODATA", qname: "ex01.contoso.com.", qtype: dns.TypeMX, rcode: dns.RcodeSuccess, aa: true,
			ns: []string{soaContoso}},
		{name: "NODATA unknown type", qname: "ex02.contoso.com.", qtype: dns.TypeAAAA, rcode: dns.RcodeSuccess, aa: true,
			ns: []string{soaContoso}},
		{name: "empty non-terminal", qname: "deep.contoso.com.", qtype: dns.TypeA, rcode: dns.RcodeSuccess, aa: true,
			ns: []string{soaContoso}},
		{name: "empty non-terminal 2", qname: "b.deep.contoso.com.", qtype: dns.TypeTXT, rcode: dns.RcodeSuccess, aa: true,
			ns: []string{soaContoso}},
		{name: "below an empty non-terminal", qname: "c.b.deep.contoso.com.", qtype: dns.TypeTXT, rcode: dns.RcodeNameError, aa: true,
			ns: []string{soaContoso}},
		{name: "reverse empty non-terminal", qname: "20.0.127.in-addr.arpa.", qtype: dns.TypePTR, rcode: dns.RcodeSuccess, aa: true,
			ns: []string{"20.0.127.in-addr.arpa. SOA dns01.contoso.com. hostmaster.20.0.127.in-addr.arpa. 1 3600 600 86400 300"}},
		{name: "refused without RD", qname: "www.example.org.", qtype: dns.TypeA, rcode: dns.RcodeRefused},
		{name: "refused with RD", qname: "www.example.org.", qtype: dns.TypeA, rd: true, rcode: dns.RcodeRefused},
		{name: "refused parent of a zone", qname: "com.", qtype: dns.TypeNS, rcode: dns.RcodeRefused},
		{name: "refused root", qname: ".", qtype: dns.TypeNS, rcode: dns.RcodeRefused},
		{name: "CNAME followed", qname: "www.contoso.com.", qtype: dns.TypeA, rcode: dns.RcodeSuccess, aa: true,
			answer: []string{"www.contoso.com. CNAME mail.contoso.com.", "mail.contoso.com. A 127.0.20.1"}},
		{name: "CNAME asked", qname: "www.contoso.com.", qtype: dns.TypeCNAME, rcode: dns.RcodeSuccess, aa: true,
			answer: []string{"www.contoso.com. CNAME mail.contoso.com."}},
		{name: "CNAME then NODATA", qname: "www.contoso.com.", qtype: dns.TypeMX, rcode: dns.RcodeSuccess, aa: true,
			answer: []string{"www.contoso.com. CNAME mail.contoso.com."}, ns: []string{soaContoso}},
		{name: "CNAME out of the lab", qname: "ext.contoso.com.", qtype: dns.TypeA, rcode: dns.RcodeSuccess, aa: true,
			answer: []string{"ext.contoso.com. CNAME www.example.org."}},
		{name: "CNAME loop", qname: "loop1.contoso.com.", qtype: dns.TypeA, rcode: dns.RcodeSuccess, aa: true,
			answer: []string{"loop1.contoso.com. CNAME loop2.contoso.com.", "loop2.contoso.com. CNAME loop1.contoso.com."}},
		{name: "null MX", qname: "null.contoso.com.", qtype: dns.TypeMX, rcode: dns.RcodeSuccess, aa: true,
			answer: []string{"null.contoso.com. MX 0 ."}},
		{name: "0x20 case echoed", qname: "Ex01.CoNtOsO.cOm.", qtype: dns.TypeA, rcode: dns.RcodeSuccess, aa: true,
			answer: []string{"Ex01.CoNtOsO.cOm. A 127.0.20.1"}},
		{name: "ANY", qname: "contoso.com.", qtype: dns.TypeANY, rcode: dns.RcodeSuccess, aa: true,
			answer: []string{"contoso.com. NS dns01.contoso.com."},
			extra:  []string{"dns01.contoso.com. A 127.0.20.53"}},
		{name: "CHAOS version.bind", qname: "version.bind.", qtype: dns.TypeTXT, class: dns.ClassCHAOS, rcode: dns.RcodeRefused},
		{name: "class ANY", qname: "contoso.com.", qtype: dns.TypeMX, class: dns.ClassANY, rcode: dns.RcodeRefused},
		{name: "IXFR", qname: "contoso.com.", qtype: dns.TypeIXFR, rcode: dns.RcodeRefused},
		{name: "EDNS echoed", qname: "ex02.contoso.com.", qtype: dns.TypeA, edns: 1232, rcode: dns.RcodeSuccess, aa: true,
			answer: []string{"ex02.contoso.com. A 127.0.20.2"}},
		{name: "big answer truncated", qname: "big.contoso.com.", qtype: dns.TypeA, rcode: dns.RcodeSuccess, aa: true, tc: true},
		{name: "big answer in a big buffer", qname: "big.contoso.com.", qtype: dns.TypeA, edns: 4096, rcode: dns.RcodeSuccess,
			aa: true, nAnswer: bigCount},
		{name: "many MX truncated", qname: "many.contoso.com.", qtype: dns.TypeMX, rcode: dns.RcodeSuccess, aa: true, tc: true},
	}
}

func exchange(t *testing.T, network, addr string, m *dns.Msg) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: network, Timeout: 5 * time.Second}
	if network == "udp" {
		// Read whatever the server sends: the point is its own size limit.
		c.UDPSize = dns.MaxMsgSize
	}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("Exchange(%s %s) over %s: %v", m.Question[0].Name, dns.Type(m.Question[0].Qtype), network, err)
	}
	return r
}

func TestQueries(t *testing.T) {
	_, addr := startServer(t, testZones(t), Options{Name: "DNS01"})
	for _, network := range []string{"udp", "tcp"} {
		for _, tc := range queryCases() {
			t.Run(network+"/"+tc.name, func(t *testing.T) {
				m := new(dns.Msg)
				m.SetQuestion(tc.qname, tc.qtype)
				m.RecursionDesired = tc.rd
				if tc.class != 0 {
					m.Question[0].Qclass = tc.class
				}
				if tc.edns != 0 {
					m.SetEdns0(tc.edns, false)
				}
				r := exchange(t, network, addr, m)
				want := tc
				if network == "tcp" {
					// TCP answers are whole; ANY is complete.
					switch {
					case want.tc && tc.qtype == dns.TypeA:
						want.tc, want.nAnswer = false, bigCount
					case want.tc:
						want.tc, want.nAnswer = false, manyCount
					case tc.qtype == dns.TypeANY:
						want.answer = []string{"contoso.com. NS dns01.contoso.com.", soaContoso, "contoso.com. MX 10 edge01.contoso.com."}
						want.extra = []string{"dns01.contoso.com. A 127.0.20.53", "edge01.contoso.com. A 127.0.10.1"}
					}
				}
				checkReply(t, m, r, want)
			})
		}
	}
}

func checkReply(t *testing.T, q, r *dns.Msg, want queryCase) {
	t.Helper()
	desc := fmt.Sprintf("%s %s", q.Question[0].Name, dns.Type(q.Question[0].Qtype))
	if r.Rcode != want.rcode {
		t.Errorf("%s: rcode = %s, want %s", desc, dns.RcodeToString[r.Rcode], dns.RcodeToString[want.rcode])
	}
	if !r.Response || r.Authoritative != want.aa || r.Truncated != want.tc || r.RecursionAvailable ||
		r.RecursionDesired != q.RecursionDesired || r.Id != q.Id {
		t.Errorf("%s: header = qr %v aa %v tc %v ra %v rd %v id %d, want qr true aa %v tc %v ra false rd %v id %d",
			desc, r.Response, r.Authoritative, r.Truncated, r.RecursionAvailable, r.RecursionDesired, r.Id,
			want.aa, want.tc, q.RecursionDesired, q.Id)
	}
	if len(r.Question) != 1 || r.Question[0] != q.Question[0] {
		t.Errorf("%s: question = %v, want %v exactly (case included)", desc, r.Question, q.Question[0])
	}
	if want.nAnswer > 0 {
		if len(r.Answer) != want.nAnswer {
			t.Errorf("%s: %d answers, want %d", desc, len(r.Answer), want.nAnswer)
		}
	} else if got := rrStrings(r.Answer); !slices.Equal(got, want.answer) {
		t.Errorf("%s: answer = %q, want %q", desc, got, want.answer)
	}
	if got := rrStrings(r.Ns); !slices.Equal(got, want.ns) {
		t.Errorf("%s: authority = %q, want %q", desc, got, want.ns)
	}
	if want.nAnswer == 0 {
		if got := rrStrings(r.Extra); !slices.Equal(got, want.extra) {
			t.Errorf("%s: additional = %q, want %q", desc, got, want.extra)
		}
	}
	opt := r.IsEdns0()
	switch {
	case q.IsEdns0() == nil && opt != nil:
		t.Errorf("%s: OPT in the answer to a query without EDNS", desc)
	case q.IsEdns0() != nil && opt == nil:
		t.Errorf("%s: no OPT in the answer to an EDNS query", desc)
	case opt != nil && (opt.Version() != 0 || opt.UDPSize() != ednsSize):
		t.Errorf("%s: OPT version %d size %d, want 0 and %d", desc, opt.Version(), opt.UDPSize(), ednsSize)
	}
	for _, rr := range append(append(slices.Clone(r.Answer), r.Ns...), r.Extra...) {
		if rr.Header().Ttl == 0 && rr.Header().Rrtype != dns.TypeOPT {
			t.Errorf("%s: %v has TTL 0", desc, rr)
		}
	}
	if r.Truncated && len(r.Answer)+len(r.Ns) > 0 {
		t.Errorf("%s: TC=1 with %d answer and authority records, want none", desc, len(r.Answer)+len(r.Ns))
	}
	for _, rr := range r.Answer {
		if strings.EqualFold(rr.Header().Name, q.Question[0].Name) && rr.Header().Name != q.Question[0].Name {
			t.Errorf("%s: answer owner %s, want the question's case %s", desc, rr.Header().Name, q.Question[0].Name)
		}
	}
}
