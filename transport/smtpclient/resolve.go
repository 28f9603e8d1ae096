package smtpclient

import (
	"context"
	"errors"
	"net/netip"

	"github.com/exsim/exsim/internal/labnet"
)

// Resolver is the lab DNS as a sender needs it; *labnet.Resolver is one.
// A sender never uses the host's resolver: exsim's names exist only in
// the lab DNS.
type Resolver interface {
	// LookupMX returns the mail exchangers of domain, most preferred
	// first (the implicit MX of a domain with only an address included).
	LookupMX(ctx context.Context, domain string) ([]labnet.MX, error)
	// LookupHost returns the addresses of name; an address literal is
	// returned as is.
	LookupHost(ctx context.Context, name string) ([]netip.Addr, error)
}

var _ Resolver = (*labnet.Resolver)(nil)

// Endpoint is one place to connect to: the host name (for TLS
// verification and the logs) and its address.
type Endpoint struct {
	Host string
	Addr netip.AddrPort
}

// MXHosts returns the mail exchangers of domain, most preferred first.
func MXHosts(ctx context.Context, r Resolver, domain string) ([]string, error) {
	mx, err := r.LookupMX(ctx, domain)
	if err != nil {
		return nil, err
	}
	hosts := make([]string, len(mx))
	for i, x := range mx {
		hosts[i] = x.Host
	}
	return hosts, nil
}

// Endpoints resolves hosts (names or address literals) to endpoints on
// port, in order, every address of a host in turn (RFC 5321 section 5.1).
// A host that does not resolve is skipped; the error of the last one is
// returned when none does.
func Endpoints(ctx context.Context, r Resolver, hosts []string, port int) ([]Endpoint, error) {
	var eps []Endpoint
	var lastErr error
	for _, h := range hosts {
		if a, err := netip.ParseAddr(h); err == nil {
			eps = append(eps, Endpoint{Host: h, Addr: netip.AddrPortFrom(a, uint16(port))})
			continue
		}
		if r == nil {
			lastErr = errors.New(h + " is a name and there is no lab DNS to resolve it")
			continue
		}
		addrs, err := r.LookupHost(ctx, h)
		if err != nil {
			lastErr = err
			continue
		}
		for _, a := range addrs {
			eps = append(eps, Endpoint{Host: h, Addr: netip.AddrPortFrom(a, uint16(port))})
		}
	}
	if len(eps) == 0 {
		if lastErr == nil {
			lastErr = errors.New("no host")
		}
		return nil, lastErr
	}
	return eps, nil
}
