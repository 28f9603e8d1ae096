package labnet

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// ednsSize is the UDP payload size the resolver advertises (RFC 6891).
const ednsSize = 1232

// query asks the servers for name and qtype and returns the first answer
// that is NOERROR or NXDOMAIN. Servers are tried in order; REFUSED,
// SERVFAIL, a timeout or an unreachable server moves on to the next. The
// list is tried again (up to Attempts times) only while some server did
// not answer at all.
func (r *Resolver) query(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	typ := dns.TypeToString[qtype]
	fail := func(kind Kind, srv netip.AddrPort, err error) *Error {
		return &Error{Name: name, Type: typ, Kind: kind, Server: srv, Err: err}
	}
	if _, ok := dns.IsDomainName(name); !ok || name == "" {
		return nil, fail(NotFound, netip.AddrPort{}, errBadName)
	}
	if len(r.Servers) == 0 {
		return nil, fail(Unreachable, netip.AddrPort{}, errNoServers)
	}
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), qtype)
	q.SetEdns0(ednsSize, false)
	attempts := r.Attempts
	if attempts <= 0 {
		attempts = DefaultAttempts
	}
	var last *Error
	for range attempts {
		silent := false
		for _, srv := range r.Servers {
			if err := ctx.Err(); err != nil {
				return nil, fail(Timeout, srv, err)
			}
			resp, err := r.exchange(ctx, srv, q)
			switch {
			case err != nil:
				last = fail(classify(err), srv, err)
				silent = true
				continue
			case resp.Rcode == dns.RcodeSuccess || resp.Rcode == dns.RcodeNameError:
				return resp, nil
			case resp.Rcode == dns.RcodeRefused:
				last = fail(Refused, srv, nil)
			default:
				last = fail(ServerFailure, srv, errors.New(dns.RcodeToString[resp.Rcode]))
			}
		}
		if !silent {
			break
		}
	}
	return nil, last
}

// classify maps a network or context error to a Kind.
func classify(err error) Kind {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled),
		errors.As(err, &ne) && ne.Timeout():
		return Timeout
	case errors.Is(err, errBadReply):
		return ServerFailure
	}
	return Unreachable
}

var errBadReply = errors.New("malformed answer")

// exchange asks one server: over UDP, then over TCP when the answer is
// truncated (RFC 7766 section 5).
func (r *Resolver) exchange(ctx context.Context, srv netip.AddrPort, q *dns.Msg) (*dns.Msg, error) {
	q = q.Copy()
	q.Id = dns.Id()
	resp, err := r.exchangeOver(ctx, "udp", srv, q)
	if err != nil || !resp.Truncated {
		return resp, err
	}
	q.Id = dns.Id()
	return r.exchangeOver(ctx, "tcp", srv, q)
}

// exchangeOver sends q to srv over network and waits for the matching
// answer, at most Timeout.
func (r *Resolver) exchangeOver(ctx context.Context, network string, srv netip.AddrPort, q *dns.Msg) (*dns.Msg, error) {
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	dial := r.Dial
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	conn, err := dial(ctx, network, srv.String())
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	if err := conn.SetDeadline(deadline); err != nil {
		return nil, err
	}
	// A cancelled context unblocks the reads and writes at once.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	var resp *dns.Msg
	if network == "udp" {
		resp, err = udpRoundTrip(conn, q)
	} else {
		resp, err = tcpRoundTrip(conn, q)
	}
	if err != nil && ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return resp, err
}

// udpBufs are the buffers UDP answers are read into: a datagram can be as
// large as 64 KiB, and a lookup per new connection should not allocate one.
var udpBufs = sync.Pool{New: func() any { b := make([]byte, 65535); return &b }}

// udpRoundTrip writes one datagram and reads datagrams until one answers q;
// others (late answers to earlier queries, forgeries) are skipped
// (RFC 5452 section 9.1).
func udpRoundTrip(conn net.Conn, q *dns.Msg) (*dns.Msg, error) {
	wire, err := q.Pack()
	if err != nil {
		return nil, err
	}
	if _, err := conn.Write(wire); err != nil {
		return nil, err
	}
	bp := udpBufs.Get().(*[]byte)
	defer udpBufs.Put(bp)
	buf := *bp
	for {
		n, err := conn.Read(buf)
		if err != nil {
			return nil, err
		}
		resp := new(dns.Msg)
		if resp.Unpack(buf[:n]) != nil || !answers1(resp, q) {
			continue
		}
		return resp, nil
	}
}

// tcpRoundTrip writes one query and reads one answer; dns.Conn does the
// two-byte length framing of RFC 1035 section 4.2.2.
func tcpRoundTrip(conn net.Conn, q *dns.Msg) (*dns.Msg, error) {
	dc := &dns.Conn{Conn: conn}
	if err := dc.WriteMsg(q); err != nil {
		return nil, err
	}
	resp, err := dc.ReadMsg()
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, err
		}
		return nil, errBadReply
	}
	if !answers1(resp, q) {
		return nil, errBadReply
	}
	return resp, nil
}

// answers1 reports whether resp is the answer to q: a response with q's
// ID, opcode and question (an error answer may leave the question out).
func answers1(resp, q *dns.Msg) bool {
	if !resp.Response || resp.Id != q.Id || resp.Opcode != q.Opcode {
		return false
	}
	ok := resp.Rcode == dns.RcodeSuccess || resp.Rcode == dns.RcodeNameError
	if len(resp.Question) == 0 && !ok {
		return true
	}
	if len(resp.Question) != 1 {
		return false
	}
	a, b := resp.Question[0], q.Question[0]
	return a.Qtype == b.Qtype && a.Qclass == b.Qclass && strings.EqualFold(a.Name, b.Name)
}
