package rca

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/exsim/exsim/internal/labnet"
)

// run is one test in progress: it records steps and stops at the first
// failure, as RCA does.
type run struct {
	ctx    context.Context
	env    *Env
	o      Options
	res    Result
	failed bool
}

// step runs fn as the step name unless an earlier step failed; fn returns
// what it saw (the detail) or why it failed.
func (r *run) step(name string, fn func() (string, error)) bool {
	if r.failed {
		return false
	}
	start := time.Now()
	detail, err := fn()
	s := Step{Name: name, Status: Pass, Detail: detail, Duration: time.Since(start)}
	if err != nil {
		s.Status, s.Detail, r.failed = Fail, err.Error(), true
		if detail != "" {
			s.Detail = detail + ": " + err.Error()
		}
	}
	r.res.Steps = append(r.res.Steps, s)
	return !r.failed
}

func (r *run) port(p int) int {
	if r.env.Port == nil {
		return p
	}
	return r.env.Port(p)
}

// host is the target, or def when none was given.
func (r *run) host(def string) string {
	if r.o.Target != "" {
		return r.o.Target
	}
	return def
}

// resolve looks host up in the position's DNS.
func (r *run) resolve(host string) (netip.Addr, bool) {
	var addr netip.Addr
	ok := r.step("Resolve "+host+" in DNS", func() (string, error) {
		addrs, err := r.env.Resolver.LookupHost(r.ctx, host)
		if err != nil {
			return "", err
		}
		addr = addrs[0]
		return fmt.Sprintf("%s resolves to %s", host, joinAddrs(addrs)), nil
	})
	return addr, ok
}

func joinAddrs(as []netip.Addr) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}

// connect opens a TCP connection to addr on a documented port (the lab
// maps it).
func (r *run) connect(addr netip.Addr, port int) (net.Conn, bool) {
	return r.connectTo(addr, port, r.port(port))
}

// connectTo opens a TCP connection to addr:actual; the step names shown,
// the port as documented or as a URL gave it.
func (r *run) connectTo(addr netip.Addr, shown, actual int) (net.Conn, bool) {
	var conn net.Conn
	dst := net.JoinHostPort(addr.String(), strconv.Itoa(actual))
	ok := r.step(fmt.Sprintf("Connect to %s on port %d", addr, shown), func() (string, error) {
		c, err := r.env.Dial(r.ctx, "tcp", dst)
		if err != nil {
			return "", explainDial(err)
		}
		conn = c
		return "TCP connection to " + dst + " established", nil
	})
	return conn, ok
}

// explainDial says what a failed connection looks like on the wire.
func explainDial(err error) error {
	switch {
	case labnet.IsRefused(err):
		return fmt.Errorf("connection refused (RST: the port is closed or a firewall rejects it): %w", err)
	case labnet.IsTimeout(err), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("no answer (a firewall drops the traffic, or nothing routes there): %w", err)
	}
	return err
}

// tlsConfig is the client side of every TLS test: Go's verification is
// off so that the certificate's name and chain are checked, and reported,
// as separate steps.
func tlsConfig(host string) *tls.Config {
	return &tls.Config{ServerName: host, InsecureSkipVerify: true, MinVersion: tls.VersionTLS12} // verified by checkCert
}

// handshake runs TLS on conn and checks the certificate; on failure conn
// is closed.
func (r *run) handshake(conn net.Conn, host string) (*tls.Conn, bool) {
	tc := tls.Client(conn, tlsConfig(host))
	if !r.step("Negotiate TLS", func() (string, error) {
		if err := tc.HandshakeContext(r.ctx); err != nil {
			return "", err
		}
		cs := tc.ConnectionState()
		return fmt.Sprintf("%s, %s", tls.VersionName(cs.Version), tls.CipherSuiteName(cs.CipherSuite)), nil
	}) {
		conn.Close()
		return nil, false
	}
	cs := tc.ConnectionState()
	if !r.checkCert(&cs, host) {
		tc.Close()
		return nil, false
	}
	return tc, true
}

// checkCert is RCA's certificate analysis: the name, then the chain and
// validity against the trusted roots.
func (r *run) checkCert(cs *tls.ConnectionState, host string) bool {
	if len(cs.PeerCertificates) == 0 {
		return r.step("Validate the certificate name", func() (string, error) { return "", errors.New("the server sent no certificate") })
	}
	leaf := cs.PeerCertificates[0]
	ok := r.step("Validate the certificate name", func() (string, error) {
		names := strings.Join(leaf.DNSNames, ", ")
		if err := leaf.VerifyHostname(host); err != nil {
			return "", fmt.Errorf("the certificate (subject %s, names %s) is not valid for %s", leaf.Subject.CommonName, names, host)
		}
		return fmt.Sprintf("%s is among the certificate's names (%s)", host, names), nil
	})
	return ok && r.step("Validate the certificate chain and dates", func() (string, error) {
		inter := x509.NewCertPool()
		for _, c := range cs.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		chains, err := leaf.Verify(x509.VerifyOptions{Roots: r.env.Roots, Intermediates: inter})
		if err != nil {
			return "", fmt.Errorf("certificate issued by %q: %w", leaf.Issuer.CommonName, err)
		}
		root := chains[0][len(chains[0])-1]
		return fmt.Sprintf("chains to %q; valid %s to %s", root.Subject.CommonName,
			leaf.NotBefore.UTC().Format(time.DateOnly), leaf.NotAfter.UTC().Format(time.DateOnly)), nil
	})
}

// tlsTo resolves host, connects to a documented port and checks TLS: the
// first steps of every HTTPS, IMAP and POP test.
func (r *run) tlsTo(host string, port int) (*tls.Conn, netip.Addr, bool) {
	return r.tlsAt(host, port, r.port(port))
}

// tlsAt is tlsTo with the port shown and the port dialled apart (see
// connectTo).
func (r *run) tlsAt(host string, shown, actual int) (*tls.Conn, netip.Addr, bool) {
	addr, ok := r.resolve(host)
	if !ok {
		return nil, addr, false
	}
	conn, ok := r.connectTo(addr, shown, actual)
	if !ok {
		return nil, addr, false
	}
	tc, ok := r.handshake(conn, host)
	return tc, addr, ok
}
