// The lab's stub resolver.

package labnet

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Defaults for a zero Resolver field.
const (
	DefaultTimeout  = 2 * time.Second
	DefaultAttempts = 2
)

var (
	errNoServers = errors.New("no DNS server configured")
	errBadName   = errors.New("not a domain name")
)

// Resolver looks names up in the lab DNS. The zero value has no servers
// and fails every lookup. A Resolver is safe for concurrent use and must
// not be changed while in use.
type Resolver struct {
	// Servers are the lab DNS servers (address and port), tried in order.
	Servers []netip.AddrPort
	// Dial opens every socket the resolver uses ("udp" first, "tcp" when
	// an answer is truncated), so it can bind the source address of the
	// server doing the lookup and inject faults. Nil means a net.Dialer.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
	// Timeout bounds one exchange with one server over one transport.
	// Default DefaultTimeout.
	Timeout time.Duration
	// Attempts is how many times the server list is tried when servers do
	// not answer (timeouts, unreachable). Default DefaultAttempts.
	Attempts int
}

// MX is one mail exchanger of a domain.
type MX struct {
	Host string // without the trailing dot
	Pref uint16
}

// LookupMX returns the mail exchangers of domain sorted by preference, equal
// preferences in random order (RFC 5321 section 5.1). A domain without MX
// records but with an address is its own exchanger at preference 0
// (the implicit MX of RFC 5321 section 5.1). A null MX (RFC 7505) is an
// *Error of kind NullMX.
func (r *Resolver) LookupMX(ctx context.Context, domain string) ([]MX, error) {
	resp, err := r.query(ctx, domain, dns.TypeMX)
	if err != nil {
		return nil, err
	}
	mxs, null := parseMX(resp, domain)
	if len(mxs) > 0 {
		return mxs, nil
	}
	if null {
		return nil, &Error{Name: domain, Type: "MX", Kind: NullMX}
	}
	if resp.Rcode == dns.RcodeNameError {
		return nil, &Error{Name: domain, Type: "MX", Kind: NotFound, nxdomain: true}
	}
	// NODATA: the implicit MX.
	if _, err := r.LookupHost(ctx, domain); err != nil {
		var e *Error
		if errors.As(err, &e) && e.Kind == NotFound {
			return nil, &Error{Name: domain, Type: "MX", Kind: NotFound, nxdomain: e.nxdomain}
		}
		return nil, err
	}
	return []MX{{Host: strings.TrimSuffix(domain, "."), Pref: 0}}, nil
}

// LookupHost returns the IPv4 then the IPv6 addresses of name (A and AAAA,
// asked in parallel). An address literal is returned as is.
func (r *Resolver) LookupHost(ctx context.Context, name string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(name); err == nil {
		return []netip.Addr{a}, nil
	}
	types := []uint16{dns.TypeA, dns.TypeAAAA}
	addrs := make([][]netip.Addr, len(types))
	errs := make([]error, len(types))
	var wg sync.WaitGroup
	for i, t := range types {
		wg.Go(func() {
			resp, err := r.query(ctx, name, t)
			if err != nil {
				errs[i] = err
				return
			}
			if addrs[i] = parseAddrs(resp, name, t); len(addrs[i]) == 0 {
				errs[i] = &Error{Name: name, Type: dns.TypeToString[t], Kind: NotFound, nxdomain: resp.Rcode == dns.RcodeNameError}
			}
		})
	}
	wg.Wait()
	if all := append(addrs[0], addrs[1]...); len(all) > 0 {
		return all, nil
	}
	// Nothing found: a transient failure of either query wins, since the
	// name may have addresses after all.
	for _, err := range errs {
		var e *Error
		if errors.As(err, &e) && e.Temporary() {
			return nil, err
		}
	}
	var a *Error
	errors.As(errs[0], &a)
	return nil, &Error{Name: name, Type: "A/AAAA", Kind: NotFound, nxdomain: a != nil && a.nxdomain}
}

// LookupAddr returns the names of addr (PTR records), without trailing dots.
func (r *Resolver) LookupAddr(ctx context.Context, addr netip.Addr) ([]string, error) {
	if !addr.IsValid() {
		return nil, &Error{Name: addr.String(), Type: "PTR", Kind: NotFound, Err: errBadName}
	}
	arpa, err := dns.ReverseAddr(addr.Unmap().String())
	if err != nil {
		return nil, &Error{Name: addr.String(), Type: "PTR", Kind: NotFound, Err: err}
	}
	resp, err := r.query(ctx, arpa, dns.TypePTR)
	if err != nil {
		return nil, err
	}
	names := parsePTR(resp, arpa)
	if len(names) == 0 {
		return nil, &Error{Name: addr.String(), Type: "PTR", Kind: NotFound, nxdomain: resp.Rcode == dns.RcodeNameError}
	}
	return names, nil
}

// parseMX returns the MX records of domain in resp, sorted by preference
// with ties shuffled (RFC 5321 section 5.1), and whether a null MX
// ("." , RFC 7505 section 3) was among them; a null MX beside real ones is
// ignored.
func parseMX(resp *dns.Msg, domain string) (mxs []MX, null bool) {
	for _, rr := range answers(resp, domain, dns.TypeMX) {
		mx, ok := rr.(*dns.MX)
		switch {
		case !ok:
		case mx.Mx == ".":
			null = true
		default:
			mxs = append(mxs, MX{Host: strings.TrimSuffix(mx.Mx, "."), Pref: mx.Preference})
		}
	}
	rand.Shuffle(len(mxs), func(i, j int) { mxs[i], mxs[j] = mxs[j], mxs[i] })
	slices.SortStableFunc(mxs, func(a, b MX) int { return int(a.Pref) - int(b.Pref) })
	return mxs, null
}

// parseAddrs returns the addresses of name (qtype A or AAAA) in resp.
func parseAddrs(resp *dns.Msg, name string, qtype uint16) []netip.Addr {
	var addrs []netip.Addr
	for _, rr := range answers(resp, name, qtype) {
		var ip net.IP
		switch rr := rr.(type) {
		case *dns.A:
			ip = rr.A.To4()
		case *dns.AAAA:
			ip = rr.AAAA
		}
		if a, ok := netip.AddrFromSlice(ip); ok {
			addrs = append(addrs, a)
		}
	}
	return addrs
}

// parsePTR returns the PTR targets of arpa in resp, without trailing dots.
func parsePTR(resp *dns.Msg, arpa string) []string {
	var names []string
	for _, rr := range answers(resp, arpa, dns.TypePTR) {
		if p, ok := rr.(*dns.PTR); ok {
			names = append(names, strings.TrimSuffix(p.Ptr, "."))
		}
	}
	return names
}

// answers returns the records of type qtype for name in the answer
// section, following a CNAME chain (RFC 1034 section 3.6.2).
func answers(resp *dns.Msg, name string, qtype uint16) []dns.RR {
	name = dns.Fqdn(name)
	for range 16 {
		var out []dns.RR
		next := ""
		for _, rr := range resp.Answer {
			h := rr.Header()
			if h.Class != dns.ClassINET || !strings.EqualFold(h.Name, name) {
				continue
			}
			switch {
			case h.Rrtype == qtype:
				out = append(out, rr)
			case h.Rrtype == dns.TypeCNAME:
				if c, ok := rr.(*dns.CNAME); ok {
					next = c.Target
				}
			}
		}
		if len(out) > 0 || next == "" {
			return out
		}
		name = next
	}
	return nil
}
