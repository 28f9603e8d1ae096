package dnsd

import (
	"encoding/binary"

	"github.com/miekg/dns"
)

const (
	headerLen = 12
	// ednsSize is the UDP payload size this server advertises in its OPT
	// record (the DNS flag day 2020 value).
	ednsSize = 1232
	// maxUDPSize caps the response size a client's EDNS buffer can ask for.
	maxUDPSize = 4096
)

// reply is the outcome of handling one query: the packed response (nil:
// send nothing) and what to log.
type reply struct {
	wire  []byte
	rcode int    // -1 when nothing is sent
	q     string // question, for the debug log
}

// handle turns one query message into the bytes to send back. tcp selects
// the size limit: whole answers over TCP, the client's EDNS buffer (512
// without EDNS, RFC 1035 section 4.2.1) over UDP. It never panics on any
// input.
func (s *ZoneSet) handle(query []byte, tcp bool) reply {
	// Too short for a header: nothing identifies a sender to answer.
	if len(query) < headerLen {
		return reply{rcode: -1}
	}
	req := new(dns.Msg)
	unpackErr := req.Unpack(query) // the header is set even when the body fails
	resp := new(dns.Msg)
	resp.Id = req.Id
	resp.Response = true
	resp.Opcode = req.Opcode
	resp.RecursionDesired = req.RecursionDesired // RFC 1035 section 4.1.1
	resp.CheckingDisabled = req.CheckingDisabled // RFC 4035 section 3.1.6

	// The OPT of a query that parsed is answered with an OPT whatever the
	// rcode (RFC 6891 section 7).
	var opt *dns.OPT
	optErr := false
	if unpackErr == nil {
		opt, optErr = queryOPT(req)
	}
	switch {
	case req.Response:
		// Never answer an answer (RFC 1035 section 7.3: it is not ours).
		return reply{rcode: -1}
	case req.Opcode != dns.OpcodeQuery:
		// NOTIFY, UPDATE, IQUERY, STATUS: not implemented (RFC 1035 4.1.1).
		resp.Rcode = dns.RcodeNotImplemented
		return s.finish(resp, opt, tcp)
	case unpackErr != nil || optErr:
		// RFC 1035 section 4.1.1: the server was unable to interpret the
		// query. RFC 6891 section 6.1.1: more than one OPT, or an OPT not
		// owned by the root.
		resp.Rcode = dns.RcodeFormatError
		return s.finish(resp, nil, tcp)
	case binary.BigEndian.Uint16(query[4:6]) != 1 || len(req.Question) != 1 ||
		!countsMatch(query, req) || !questionComplete(query):
		// A query carries exactly one question (RFC 9619). The parser
		// forgives short sections; a strict server does not.
		resp.Rcode = dns.RcodeFormatError
		return s.finish(resp, opt, tcp)
	}
	q := req.Question[0]
	resp.Question = req.Question // echoed as sent, case included (0x20)

	if opt != nil && opt.Version() > 0 {
		// RFC 6891 section 6.1.3.
		resp.Rcode = dns.RcodeBadVers
		return s.finish(resp, opt, tcp)
	}

	switch {
	case q.Qclass != dns.ClassINET:
		// CHAOS (version.bind), HESIOD, ANY: the lab has IN data only.
		resp.Rcode = dns.RcodeRefused
	case q.Qtype == dns.TypeAXFR || q.Qtype == dns.TypeIXFR:
		// No zone transfers (RFC 5936 section 4.2: REFUSED is the policy answer).
		resp.Rcode = dns.RcodeRefused
	case q.Qtype == dns.TypeOPT:
		// OPT is a pseudo-record, never a question (RFC 6891 section 6.1.1).
		resp.Rcode = dns.RcodeFormatError
	case q.Qtype == dns.TypeTKEY || q.Qtype == dns.TypeTSIG || q.Qtype == dns.TypeMAILA || q.Qtype == dns.TypeMAILB:
		resp.Rcode = dns.RcodeNotImplemented
	default:
		res := s.answer(q, tcp)
		resp.Rcode = res.rcode
		resp.Authoritative = res.auth
		resp.Answer, resp.Ns, resp.Extra = res.answer, res.ns, res.extra
	}
	return s.finish(resp, opt, tcp)
}

// finish adds the OPT echo, fits the response into the transport's limit
// and packs it.
func (s *ZoneSet) finish(resp *dns.Msg, queryOpt *dns.OPT, tcp bool) reply {
	limit := dns.MaxMsgSize
	if !tcp {
		limit = dns.MinMsgSize
		if queryOpt != nil {
			// RFC 6891 section 6.2.5: below 512 means 512.
			limit = min(max(int(queryOpt.UDPSize()), dns.MinMsgSize), maxUDPSize)
		}
	}
	var opt *dns.OPT
	if queryOpt != nil {
		// RFC 6891 section 7: answer EDNS with EDNS; RFC 3225 section 3:
		// copy the DO bit.
		opt = &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
		opt.SetUDPSize(ednsSize)
		opt.SetDo(queryOpt.Do())
	}
	resp.Compress = true
	fit(resp, opt, limit)
	wire, err := resp.Pack()
	if err != nil {
		// Only an rcode that needs EDNS without an OPT can fail here; answer
		// SERVFAIL rather than nothing.
		fail := &dns.Msg{MsgHdr: resp.MsgHdr, Question: resp.Question}
		fail.Rcode = dns.RcodeServerFailure
		fail.Answer, fail.Ns, fail.Extra = nil, nil, nil
		if wire, err = fail.Pack(); err != nil {
			return reply{rcode: -1}
		}
		return reply{wire: wire, rcode: dns.RcodeServerFailure, q: questionString(resp)}
	}
	return reply{wire: wire, rcode: resp.Rcode, q: questionString(resp)}
}

// fit trims resp to limit bytes. RFC 2181 section 9: additional records may
// go without TC; if the answer and authority sections do not fit, TC=1 and
// only the question (and OPT) is sent, so the client retries over TCP
// (RFC 7766 section 5) and never sees a partial RRset.
func fit(resp *dns.Msg, opt *dns.OPT, limit int) {
	extra := resp.Extra
	resp.Extra = nil
	if opt != nil {
		resp.Extra = []dns.RR{opt}
	}
	if resp.Len() > limit {
		resp.Truncated = true
		resp.Answer, resp.Ns = nil, nil
		return
	}
	// Keep whole RRsets of additional data while they fit.
	for len(extra) > 0 {
		n := 1
		for n < len(extra) && extra[n].Header().Rrtype == extra[0].Header().Rrtype &&
			extra[n].Header().Name == extra[0].Header().Name {
			n++
		}
		resp.Extra = append(resp.Extra, extra[:n]...)
		if resp.Len() > limit {
			resp.Extra = resp.Extra[:len(resp.Extra)-n]
			break
		}
		extra = extra[n:]
	}
	// RFC 6891 section 6.1.1: the OPT record goes last by convention; keep
	// it there.
	if opt != nil {
		resp.Extra = append(removeRR(resp.Extra, opt), opt)
	}
}

func removeRR(rrs []dns.RR, x dns.RR) []dns.RR {
	out := rrs[:0]
	for _, rr := range rrs {
		if rr != x {
			out = append(out, rr)
		}
	}
	return out
}

// queryOPT returns the query's OPT record; bad is true when there is more
// than one, or one not owned by the root.
func queryOPT(req *dns.Msg) (opt *dns.OPT, bad bool) {
	for _, rr := range req.Extra {
		o, ok := rr.(*dns.OPT)
		if !ok {
			continue
		}
		if opt != nil || o.Hdr.Name != "." {
			return nil, true
		}
		opt = o
	}
	return opt, false
}

func questionString(m *dns.Msg) string {
	if len(m.Question) == 0 {
		return "-"
	}
	q := m.Question[0]
	return q.Name + " " + dns.Class(q.Qclass).String() + " " + dns.Type(q.Qtype).String()
}

// countsMatch reports whether the section counts of the header are the
// records the parser found.
func countsMatch(query []byte, req *dns.Msg) bool {
	return int(binary.BigEndian.Uint16(query[6:8])) == len(req.Answer) &&
		int(binary.BigEndian.Uint16(query[8:10])) == len(req.Ns) &&
		int(binary.BigEndian.Uint16(query[10:12])) == len(req.Extra)
}

// questionComplete reports whether the one question's name, type and class
// are all in the message (the parser accepts a question cut after the name
// or the type).
func questionComplete(query []byte) bool {
	off := headerLen
	for off < len(query) {
		l := int(query[off])
		switch {
		case l == 0:
			return off+1+4 <= len(query)
		case l&0xc0 == 0xc0:
			return off+2+4 <= len(query)
		}
		off += 1 + l
	}
	return false
}
