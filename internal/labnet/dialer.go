// Package labnet is the lab network as exsim's servers see it: the one way
// exsim opens connections and the one way it resolves names.
//
// Every socket a server opens starts from the server's own address, is
// checked against the topology (exsim never dials outside the lab unless the
// topology allows it), and passes the fault table, which can drop, reset or
// delay a flow without root (Dialer, Faults). Every lookup asks the lab DNS
// servers it is given, through that dialer, and nothing else (Resolver): it
// never reads /etc/resolv.conf and never uses the system resolver, so a lab
// cannot leak a lookup to the real DNS.
package labnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"syscall"
	"time"
)

// ErrOutsideTopology is returned for a destination that is neither a server
// of the topology nor inside an allowed network.
var ErrOutsideTopology = errors.New("destination is outside the lab topology")

// Guard decides which destinations may be dialled.
type Guard interface {
	Allowed(netip.Addr) bool
}

// GuardFunc adapts a function to Guard.
type GuardFunc func(netip.Addr) bool

// Allowed implements Guard.
func (f GuardFunc) Allowed(a netip.Addr) bool { return f(a) }

// Dialer dials from one server's position.
type Dialer struct {
	// Server names the source server, for fault rules and errors.
	Server string
	// Source is the local address every connection binds (the server's
	// address); invalid means the system picks.
	Source netip.Addr
	// Guard refuses destinations outside the topology; nil allows all
	// (tests only).
	Guard Guard
	// Faults is the fault table; nil means none.
	Faults *Faults
	// Timeout bounds connection set-up (default 10 s).
	Timeout time.Duration
}

// DialContext connects to address ("host:port" with a literal IP; names are
// resolved by the caller through the lab DNS, never here).
func (d *Dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	host, portStr, err := net.SplitHostPort(address)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", address, err)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %q is not an address; lab names are resolved through the lab DNS", address, host)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return nil, fmt.Errorf("dial %s: bad port", address)
	}
	dst := netip.AddrPortFrom(ip.Unmap(), uint16(port))
	if d.Guard != nil && !d.Guard.Allowed(dst.Addr()) {
		return nil, &net.OpError{Op: "dial", Net: network, Addr: net.TCPAddrFromAddrPort(dst), Err: ErrOutsideTopology}
	}
	f := d.Faults.match(d.Server, d.Source, dst, transportOf(network))
	if f != nil {
		switch f.Action {
		case ActionDrop:
			return nil, d.drop(ctx, network, dst)
		case ActionReset:
			return nil, &net.OpError{Op: "dial", Net: network, Addr: net.TCPAddrFromAddrPort(dst), Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
		case ActionDelay:
			t := time.NewTimer(f.Delay)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return nil, ctx.Err()
			}
		}
	}
	nd := net.Dialer{Timeout: d.timeout()}
	if d.Source.IsValid() && d.Source.Is4() == dst.Addr().Is4() {
		switch transportOf(network) {
		case "udp":
			nd.LocalAddr = &net.UDPAddr{IP: d.Source.AsSlice()}
		default:
			nd.LocalAddr = &net.TCPAddr{IP: d.Source.AsSlice()}
		}
	}
	conn, err := nd.DialContext(ctx, network, dst.String())
	if err == nil && f != nil && f.Action == ActionIdle {
		conn = newIdleConn(conn, f)
	}
	return conn, err
}

func (d *Dialer) timeout() time.Duration {
	if d.Timeout > 0 {
		return d.Timeout
	}
	return 10 * time.Second
}

// drop behaves like a firewall that silently discards: nothing answers
// until the caller's deadline or the connect timeout passes.
func (d *Dialer) drop(ctx context.Context, network string, dst netip.AddrPort) error {
	t := time.NewTimer(d.timeout())
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	return &net.OpError{Op: "dial", Net: network, Addr: net.TCPAddrFromAddrPort(dst), Err: errTimeout{}}
}

type errTimeout struct{}

func (errTimeout) Error() string   { return "i/o timeout" }
func (errTimeout) Timeout() bool   { return true }
func (errTimeout) Temporary() bool { return true }

func transportOf(network string) string {
	switch network {
	case "udp", "udp4", "udp6":
		return "udp"
	}
	return "tcp"
}

// IsTimeout reports whether err is a timeout (a filtered flow).
func IsTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout() || errors.Is(err, context.DeadlineExceeded)
}

// IsRefused reports whether err is a refused connection (a reset flow).
func IsRefused(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET)
}

// AllowList is a Guard over a fixed set of addresses and networks.
type AllowList struct {
	Addrs    map[netip.Addr]bool
	Prefixes []netip.Prefix
}

// Allowed implements Guard. Loopback destinations of the lab's own address
// are allowed only when listed, like any other.
func (g *AllowList) Allowed(a netip.Addr) bool {
	a = a.Unmap()
	if g.Addrs[a] {
		return true
	}
	for _, p := range g.Prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
