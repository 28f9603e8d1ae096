// Package lab builds a topology on real networks: a Linux network
// namespace per server behind a router namespace with a real nftables
// firewall (exsim lab up/test/down), and docker-compose files.
package lab

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/vishvananda/netns"

	"github.com/exsim/exsim/internal/labnet"
	"github.com/exsim/exsim/probe"
)

// DialIn returns a dial function whose sockets are created inside the
// named network namespace (a socket keeps the namespace it was created
// in), so the host can reach a server's loopback-only admin API. A name
// with a slash is a path: /proc/PID/ns/net reaches a container.
func DialIn(name string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var conn net.Conn
		err := inNetns(name, func() error {
			var err error
			conn, err = (&net.Dialer{}).DialContext(ctx, network, addr)
			return err
		})
		return conn, err
	}
}

// NamespaceDialer dials from a server's own position on a real network:
// the socket is created inside the server's namespace (Netns, a name or a
// /proc/PID/ns/net path) and bound to its address, so a firewall sees the
// server's address and nothing else. It is the probe's dialer for labs
// whose servers run in namespaces or containers.
type NamespaceDialer struct {
	Netns string
	// Dialer supplies the source address, the topology guard and the
	// timeout.
	Dialer labnet.Dialer
}

var _ probe.Dialer = (*NamespaceDialer)(nil)

// DialContext implements probe.Dialer.
func (d *NamespaceDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var conn net.Conn
	err := inNetns(d.Netns, func() error {
		var err error
		conn, err = d.Dialer.DialContext(ctx, network, addr)
		return err
	})
	return conn, err
}

// newNamespaceDialer is the probe's dialer for server src at addr in ns.
func newNamespaceDialer(ns, server string, src netip.Addr, guard labnet.Guard, timeout time.Duration) *NamespaceDialer {
	return &NamespaceDialer{Netns: ns, Dialer: labnet.Dialer{Server: server, Source: src, Guard: guard, Timeout: timeout}}
}

// openNetns opens a namespace by name (/run/netns) or path.
func openNetns(name string) (netns.NsHandle, error) {
	if strings.Contains(name, "/") {
		return netns.GetFromPath(name)
	}
	return netns.GetFromName(name)
}

// inNetns runs fn on an OS thread switched into namespace name. Sockets
// fn creates, and processes it starts, belong to that namespace; the Go
// runtime starts no other thread from a locked one.
func inNetns(name string, fn func() error) error {
	return lockedAndBack(name, func() error {
		ns, err := openNetns(name)
		if err != nil {
			return fmt.Errorf("netns %s: %w", name, err)
		}
		defer ns.Close()
		if err := netns.Set(ns); err != nil {
			return fmt.Errorf("netns %s: %w", name, err)
		}
		return fn()
	})
}
