package dnsd

import (
	"encoding/binary"
	"testing"

	"github.com/miekg/dns"
)

func packQuery(t testing.TB, edit func(m *dns.Msg)) []byte {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion("ex01.contoso.com.", dns.TypeA)
	m.Id = 0x4242
	if edit != nil {
		edit(m)
	}
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func header(id, bits, qd uint16) []byte {
	b := make([]byte, 12)
	binary.BigEndian.PutUint16(b[0:], id)
	binary.BigEndian.PutUint16(b[2:], bits)
	binary.BigEndian.PutUint16(b[4:], qd)
	return b
}

func TestHandleMalformed(t *testing.T) {
	zs := testZones(t)
	zs.freeze()
	valid := packQuery(t, nil)
	optRR := func(version uint8) *dns.OPT {
		o := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
		o.SetUDPSize(1232)
		o.SetVersion(version)
		return o
	}
	tests := []struct {
		name    string
		query   []byte
		rcode   int // -1: no answer
		wantOPT bool
	}{
		{"empty", nil, -1, false},
		{"shorter than a header", []byte{0x42, 0x42, 0, 0, 0, 1}, -1, false},
		{"header only", header(0x4242, 0, 1), dns.RcodeFormatError, false},
		{"no question", header(0x4242, 0, 0), dns.RcodeFormatError, false},
		{"two questions", packQuery(t, func(m *dns.Msg) {
			m.Question = append(m.Question, dns.Question{Name: "ex02.contoso.com.", Qtype: dns.TypeA, Qclass: dns.ClassINET})
		}), dns.RcodeFormatError, false},
		{"question count lies", append(header(0x4242, 0, 3), valid[12:]...), dns.RcodeFormatError, false},
		{"cut in the question", valid[:len(valid)-2], dns.RcodeFormatError, false},
		{"cut after the name", valid[:len(valid)-4], dns.RcodeFormatError, false},
		{"label too long", append(header(0x4242, 0, 1), 0x40, 'a', 'b', 0, 0, 1, 0, 1), dns.RcodeFormatError, false},
		{"compression loop", append(header(0x4242, 0, 1), 0xc0, 12, 0, 1, 0, 1), dns.RcodeFormatError, false},
		{"answer count lies", func() []byte {
			b := packQuery(t, nil)
			binary.BigEndian.PutUint16(b[6:], 5)
			return b
		}(), dns.RcodeFormatError, false},
		{"response", packQuery(t, func(m *dns.Msg) { m.Response = true }), -1, false},
		{"response garbage", append(header(0x4242, 0x8000, 1), 0xff, 0xff), -1, false},
		{"IQUERY", packQuery(t, func(m *dns.Msg) { m.Opcode = dns.OpcodeIQuery }), dns.RcodeNotImplemented, false},
		{"NOTIFY", packQuery(t, func(m *dns.Msg) { m.Opcode = dns.OpcodeNotify }), dns.RcodeNotImplemented, false},
		{"UPDATE", packQuery(t, func(m *dns.Msg) { m.Opcode = dns.OpcodeUpdate }), dns.RcodeNotImplemented, false},
		{"NOTIFY with EDNS", packQuery(t, func(m *dns.Msg) { m.Opcode = dns.OpcodeNotify; m.Extra = []dns.RR{optRR(0)} }), dns.RcodeNotImplemented, true},
		{"two questions with EDNS", packQuery(t, func(m *dns.Msg) {
			m.Question = append(m.Question, m.Question[0])
			m.Extra = []dns.RR{optRR(0)}
		}), dns.RcodeFormatError, true},
		{"opcode 15 garbage body", append(header(0x4242, 15<<11, 1), 0xff), dns.RcodeNotImplemented, false},
		{"two OPT", packQuery(t, func(m *dns.Msg) { m.Extra = []dns.RR{optRR(0), optRR(0)} }), dns.RcodeFormatError, false},
		{"OPT not at the root", packQuery(t, func(m *dns.Msg) {
			o := optRR(0)
			o.Hdr.Name = "contoso.com."
			m.Extra = []dns.RR{o}
		}), dns.RcodeFormatError, false},
		{"EDNS version 1", packQuery(t, func(m *dns.Msg) { m.Extra = []dns.RR{optRR(1)} }), dns.RcodeBadVers, true},
		{"EDNS version 0", packQuery(t, func(m *dns.Msg) { m.Extra = []dns.RR{optRR(0)} }), dns.RcodeSuccess, true},
		{"qtype OPT", packQuery(t, func(m *dns.Msg) { m.Question[0].Qtype = dns.TypeOPT }), dns.RcodeFormatError, false},
		{"qtype TSIG", packQuery(t, func(m *dns.Msg) { m.Question[0].Qtype = dns.TypeTSIG }), dns.RcodeNotImplemented, false},
		{"qtype MAILB", packQuery(t, func(m *dns.Msg) { m.Question[0].Qtype = dns.TypeMAILB }), dns.RcodeNotImplemented, false},
		{"AXFR", packQuery(t, func(m *dns.Msg) {
			m.Question[0] = dns.Question{Name: "contoso.com.", Qtype: dns.TypeAXFR, Qclass: dns.ClassINET}
		}), dns.RcodeRefused, false},
		{"valid", valid, dns.RcodeSuccess, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, tcp := range []bool{false, true} {
				r := zs.handle(tc.query, tcp)
				if r.rcode != tc.rcode {
					t.Fatalf("handle(%x, tcp %v) rcode = %d, want %d", tc.query, tcp, r.rcode, tc.rcode)
				}
				if tc.rcode < 0 {
					if r.wire != nil {
						t.Fatalf("handle(%x) = %x, want no answer", tc.query, r.wire)
					}
					continue
				}
				m := new(dns.Msg)
				if err := m.Unpack(r.wire); err != nil {
					t.Fatalf("handle(%x) answer does not unpack: %v", tc.query, err)
				}
				if m.Id != 0x4242 || !m.Response || m.Rcode != tc.rcode || (m.IsEdns0() != nil) != tc.wantOPT {
					t.Errorf("handle(%x) = id %#x qr %v rcode %d opt %v, want id 0x4242 qr true rcode %d opt %v",
						tc.query, m.Id, m.Response, m.Rcode, m.IsEdns0() != nil, tc.rcode, tc.wantOPT)
				}
				if tc.rcode == dns.RcodeNotImplemented && m.Opcode != int(tc.query[2]>>3&0xf) {
					t.Errorf("handle(%x) opcode = %d, want the query's", tc.query, m.Opcode)
				}
			}
		})
	}
}

// An MX answer that fits but whose glue does not: whole glue RRsets are
// dropped without TC (RFC 2181 section 9), the answer stays complete.
func TestHandleDropsGlueWithoutTC(t *testing.T) {
	zs := testZones(t)
	zs.freeze()
	q := packQuery(t, func(m *dns.Msg) {
		m.SetQuestion("many.contoso.com.", dns.TypeMX)
		m.SetEdns0(1232, true)
	})
	r := zs.handle(q, false)
	m := new(dns.Msg)
	if err := m.Unpack(r.wire); err != nil {
		t.Fatal(err)
	}
	if len(r.wire) > 1232 {
		t.Errorf("answer is %d bytes, want <= 1232", len(r.wire))
	}
	if m.Truncated || len(m.Answer) != manyCount {
		t.Errorf("many MX: tc %v, %d answers, want tc false and %d", m.Truncated, len(m.Answer), manyCount)
	}
	glue := len(m.Extra) - 1
	if glue <= 0 || glue >= manyCount {
		t.Errorf("many MX: %d glue records, want some but not all %d", glue, manyCount)
	}
	opt := m.IsEdns0()
	if opt == nil || m.Extra[len(m.Extra)-1] != dns.RR(opt) || !opt.Do() {
		t.Errorf("many MX: OPT %v, want last in additional with DO copied", opt)
	}
}

func TestHandleOnEmptySet(t *testing.T) {
	s := New(nil, Options{})
	r := s.Zones().handle(packQuery(t, nil), false)
	if r.rcode != dns.RcodeRefused {
		t.Errorf("handle() on no zones = %s, want REFUSED", dns.RcodeToString[r.rcode])
	}
}
