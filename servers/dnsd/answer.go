package dnsd

import (
	"github.com/miekg/dns"
)

// maxChain bounds how many CNAMEs one answer follows inside the lab zones.
const maxChain = 8

// result is the data part of an answer: the sections and the rcode.
type result struct {
	rcode  int
	auth   bool // AA: a lab zone answered
	answer []dns.RR
	ns     []dns.RR
	extra  []dns.RR
}

// answer resolves q against the zones. q.Name keeps the client's case; the
// first owner name of the answer is written exactly as asked (so 0x20
// clients see their own case). full says the transport can carry a full ANY
// answer (TCP); over UDP ANY gets one RRset (RFC 8482 section 4.1).
func (s *ZoneSet) answer(q dns.Question, full bool) result {
	key := nameKey(q.Name)
	z := s.match(key)
	if z == nil {
		// Outside every lab zone: no recursion, no forwarding (RFC 1034
		// section 4.3.1: RA=0; RFC 1035 section 4.1.1: REFUSED by policy).
		return result{rcode: dns.RcodeRefused}
	}
	res := result{rcode: dns.RcodeSuccess, auth: true}
	owner := q.Name
	seen := map[string]bool{}
	for hop := 0; ; hop++ {
		node, exists := z.lookup(key)
		if !exists {
			// RFC 1034 section 4.3.2 step 3c, RFC 2308 section 2.1.
			res.rcode = dns.RcodeNameError
			res.ns = negativeSOA(z)
			return res
		}
		cname := node[dns.TypeCNAME]
		if len(cname) > 0 && q.Qtype != dns.TypeCNAME && q.Qtype != dns.TypeANY {
			// RFC 1034 section 4.3.2 step 3a: restart at the target while
			// it is ours; RFC 6604: the rcode is the last name's.
			c := cname[0].(*dns.CNAME)
			res.answer = append(res.answer, withOwner(c, owner))
			seen[key] = true
			key, owner = nameKey(c.Target), c.Target
			next := s.match(key)
			if next == nil || seen[key] || hop+1 >= maxChain {
				return res
			}
			z = next
			continue
		}
		var rrs []dns.RR
		if q.Qtype == dns.TypeANY {
			rrs = anyRRs(node, full)
		} else {
			rrs = node[q.Qtype]
		}
		if len(rrs) == 0 {
			// NODATA: the name exists (or is an empty non-terminal) but
			// has no record of the type (RFC 2308 section 2.2).
			res.ns = negativeSOA(z)
			return res
		}
		for _, rr := range rrs {
			res.answer = append(res.answer, withOwner(rr, owner))
		}
		res.extra = s.additional(rrs)
		return res
	}
}

// anyRRs answers QTYPE=ANY: every record over TCP, the RRset with the
// lowest type code over UDP (RFC 8482 section 4.1).
func anyRRs(node map[uint16][]dns.RR, full bool) []dns.RR {
	var out []dns.RR
	for _, t := range sortedKeys(node) {
		out = append(out, node[t]...)
		if !full {
			break
		}
	}
	return out
}

// additional returns the A and AAAA records of the hosts that MX, NS and SRV
// records point to, when those hosts are in a lab zone (RFC 1035 section
// 3.3.9 and 4.3.2 step 6, RFC 2782).
func (s *ZoneSet) additional(rrs []dns.RR) []dns.RR {
	var extra []dns.RR
	done := map[string]bool{}
	for _, rr := range rrs {
		target, isHost := rrTarget(rr)
		if !isHost {
			continue
		}
		key := nameKey(target)
		if done[key] {
			continue
		}
		done[key] = true
		z := s.match(key)
		if z == nil {
			continue
		}
		node, _ := z.lookup(key)
		extra = append(extra, node[dns.TypeA]...)
		extra = append(extra, node[dns.TypeAAAA]...)
	}
	return extra
}

// negativeSOA is the authority section of NXDOMAIN and NODATA answers: the
// zone's SOA with TTL min(SOA TTL, SOA MINIMUM) (RFC 2308 section 3).
func negativeSOA(z *Zone) []dns.RR {
	soa := dns.Copy(z.soa).(*dns.SOA)
	soa.Hdr.Ttl = min(soa.Hdr.Ttl, soa.Minttl)
	return []dns.RR{soa}
}

// withOwner returns a copy of rr owned by name (the name as the client
// wrote it).
func withOwner(rr dns.RR, name string) dns.RR {
	c := dns.Copy(rr)
	c.Header().Name = name
	return c
}
