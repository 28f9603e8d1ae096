package probe

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/miekg/dns"

	"github.com/exsim/exsim/internal/labnet"
	"github.com/exsim/exsim/topology"
)

// checkDNS asks the destination for the MX record the source needs for its
// next mail hop (internet servers: the organization's domain; Exchange
// servers: an internet domain) without recursion, and requires an
// authoritative answer (AA, NOERROR, at least one record). A resolver that
// answers without AA is not the lab DNS: wrong-peer.
func (s *session) checkDNS(ctx context.Context) verdict {
	name := dnsQueryName(s.p.Topology, s.src)
	if name == "" {
		return failed(fmt.Errorf("probe: %s: the topology has no domain to query", s.f.ID))
	}
	conn, v := s.dial(ctx)
	if conn == nil {
		return v
	}
	defer conn.Close()
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), dns.TypeMX)
	q.RecursionDesired = false
	wire, err := q.Pack()
	if err != nil {
		return failed(err)
	}
	var r *dns.Msg
	if s.f.Transport == "udp" {
		r, err = exchangeUDP(conn, wire, q.Id)
		if err != nil {
			switch {
			case s.parent.Err() != nil:
				return failed(fmt.Errorf("probe cancelled: %w", s.parent.Err()))
			case labnet.IsTimeout(err):
				return verdict{outcome: OutcomeFiltered, detail: "no DNS answer within " + s.p.timeout().String()}
			case errors.Is(err, syscall.ECONNREFUSED):
				return verdict{outcome: OutcomeRefused, detail: "port unreachable (ICMP)"}
			}
			return verdict{outcome: OutcomeWrongPeer, detail: "not a DNS answer: " + clip(err.Error())}
		}
	} else {
		r, err = exchangeTCP(conn, wire, q.Id)
		if err != nil {
			if labnet.IsTimeout(err) || isEOF(err) || errors.Is(err, syscall.ECONNRESET) {
				return s.broken(err, "DNS answer")
			}
			return verdict{outcome: OutcomeWrongPeer, detail: "not a DNS answer: " + clip(err.Error())}
		}
	}
	detail := fmt.Sprintf("MX %s: %s", name, dns.RcodeToString[r.Rcode])
	if r.Authoritative {
		detail += " aa"
	}
	for i, rr := range r.Answer {
		if i == 2 {
			detail += ", ..."
			break
		}
		if mx, ok := rr.(*dns.MX); ok {
			detail += fmt.Sprintf(", %d %s", mx.Preference, strings.TrimSuffix(mx.Mx, "."))
		}
	}
	switch {
	case r.Rcode != dns.RcodeSuccess:
		return verdict{outcome: OutcomeWrongPeer, detail: detail + ": the lab DNS answers NOERROR for its zones"}
	case !r.Authoritative:
		return verdict{outcome: OutcomeWrongPeer, detail: detail + ": not authoritative (a resolver, not the lab DNS)"}
	case len(r.Answer) == 0:
		return verdict{outcome: OutcomeWrongPeer, detail: detail + ": no records"}
	}
	return verdict{outcome: OutcomeOpen, detail: detail}
}

// dnsQueryName is the name the source looks up for its next mail hop.
func dnsQueryName(t *topology.Topology, src *topology.Server) string {
	if src.Role != topology.RoleInternet {
		for _, s := range t.ServersByRole(topology.RoleInternet) {
			if s.Internet != nil && len(s.Internet.Domains) > 0 {
				return s.Internet.Domains[0]
			}
		}
	}
	return t.DefaultDomain()
}

// exchangeUDP sends one query datagram and reads datagrams until the
// answer with the query's id arrives (or the connection's deadline).
func exchangeUDP(conn net.Conn, wire []byte, id uint16) (*dns.Msg, error) {
	if _, err := conn.Write(wire); err != nil {
		return nil, err
	}
	buf := make([]byte, dns.MaxMsgSize)
	for range 16 {
		n, err := conn.Read(buf)
		if err != nil {
			return nil, err
		}
		r := new(dns.Msg)
		if err := r.Unpack(buf[:n]); err != nil {
			return nil, err
		}
		if r.Id == id && r.Response {
			return r, nil
		}
	}
	return nil, errors.New("no answer to the query among the datagrams received")
}

// exchangeTCP sends one length-prefixed query (RFC 1035 section 4.2.2) and
// reads the answer.
func exchangeTCP(conn net.Conn, wire []byte, id uint16) (*dns.Msg, error) {
	msg := binary.BigEndian.AppendUint16(nil, uint16(len(wire)))
	if _, err := conn.Write(append(msg, wire...)); err != nil {
		return nil, err
	}
	var l [2]byte
	if _, err := io.ReadFull(conn, l[:]); err != nil {
		return nil, err
	}
	buf := make([]byte, binary.BigEndian.Uint16(l[:]))
	if _, err := io.ReadFull(conn, buf); err != nil {
		return nil, err
	}
	r := new(dns.Msg)
	if err := r.Unpack(buf); err != nil {
		return nil, err
	}
	if r.Id != id || !r.Response {
		return nil, errors.New("the answer does not match the query")
	}
	return r, nil
}
