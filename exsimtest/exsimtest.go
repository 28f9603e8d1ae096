// Package exsimtest runs an exsim lab inside a Go test: fake Microsoft
// Exchange 2016/2019 servers (Edge, Mailbox, the lab DNS and a server of
// "the internet") in the test's own process, for applications that talk to
// Exchange over SMTP, IMAP4, POP3 or HTTPS.
//
//	func TestInvoiceMail(t *testing.T) {
//		lab := exsimtest.Start(t) // the built-in contoso lab, stopped by t.Cleanup
//		// submit as alice, trusting the lab CA, to the port documented as 587
//		sendInvoice(lab.Addr("EX01", 587), lab.CA(), "alice@contoso.com", "P@ssw0rd")
//		lab.WaitDelivered(t, "bob@contoso.com", "Invoice 42")
//	}
//
// Start needs no root and no fixed addresses: it moves the lab's 127.0.x.y
// addresses into a 127.<block>.x.y block and its ports up by an offset,
// trying blocks and offsets until every listener binds, so tests of several
// packages (and several labs of one package) run in parallel. Addr maps a
// server's documented port to wherever the lab put it. Start returns once
// the lab is ready: every listener bound and, on a subscribed Edge, the
// first EdgeSync done (before it the Edge answers "451 4.4.0 EdgeSync has
// not synchronized"). As `exsim up` does, the lab drops the flows
// Microsoft's port document says must be closed.
//
// New and Close do the same outside a test (TestMain, a program).
package exsimtest

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exsim/exsim/internal/labnet"
	"github.com/exsim/exsim/probe"
	"github.com/exsim/exsim/roles"
	"github.com/exsim/exsim/topology"
)

// Option changes how Start and New build the lab.
type Option func(*config)

type config struct {
	topology string // a built-in name or YAML
	dataDir  string
	logger   *slog.Logger
	ready    time.Duration
}

// WithTopology runs another lab than contoso: the name of a built-in
// topology ("contoso-noedge") or a whole topology file's YAML (as `exsim
// init` writes it). Its IPv4 addresses are moved into the lab's block
// (a.b.c.d becomes 127.<block>.c.d), so c.d must differ between servers.
func WithTopology(nameOrYAML string) Option {
	return func(c *config) { c.topology = nameOrYAML }
}

// WithLogger sends the servers' logs (log/slog, exsim's keys: server,
// listener, proto, ...) to l instead of discarding them.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.logger = l }
}

// WithDataDir keeps the lab's data (the CA, queues, mailboxes, logs) in
// dir instead of a temporary directory. Start uses t.TempDir() by default.
func WithDataDir(dir string) Option {
	return func(c *config) { c.dataDir = dir }
}

// Lab is a running lab.
type Lab struct {
	rt   *roles.Runtime
	top  *topology.Topology
	tb   testing.TB // nil outside Start
	done func()     // releases the address block

	closeOnce sync.Once
	closeErr  error
}

// Start runs the lab for test t and stops it when t ends. It fails t when
// the lab cannot start or does not become ready within 30 seconds.
func Start(t testing.TB, opts ...Option) *Lab {
	t.Helper()
	opts = append([]Option{WithDataDir(t.TempDir())}, opts...)
	l, err := New(opts...)
	if err != nil {
		t.Fatalf("exsimtest: %v", err)
	}
	l.tb = t
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("exsimtest: stopping the lab: %v", err)
		}
	})
	return l
}

// New runs the lab until Close; Start is New for a test. Without
// WithDataDir the data lives in a temporary directory Close removes.
func New(opts ...Option) (*Lab, error) {
	c := config{topology: "contoso", ready: 30 * time.Second}
	for _, o := range opts {
		o(&c)
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	removeDir := func() {}
	if c.dataDir == "" {
		dir, err := os.MkdirTemp("", "exsimtest-")
		if err != nil {
			return nil, err
		}
		c.dataDir, removeDir = dir, func() { os.RemoveAll(dir) }
	}
	l, err := start(c)
	if err != nil {
		removeDir()
		return nil, err
	}
	done := l.done
	l.done = func() { done(); removeDir() }
	ctx, cancel := context.WithTimeout(context.Background(), c.ready)
	defer cancel()
	if err := l.waitReady(ctx); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// start binds the lab in a free block with a free port offset, trying
// others while a listener cannot bind (another lab, another program).
func start(c config) (*Lab, error) {
	var lastErr error
	for try := 0; try < 12; try++ {
		block, release, err := claimBlock()
		if err != nil {
			return nil, err
		}
		top, err := labTopology(c.topology, block, portOffset(try))
		if err != nil {
			release()
			return nil, err
		}
		rt, err := roles.Start(context.Background(), roles.Options{Topology: top, DataDir: c.dataDir, Logger: c.logger})
		if err != nil {
			release()
			var be *roles.BindError
			if errors.As(err, &be) {
				lastErr = err
				continue
			}
			return nil, err
		}
		// The firewall Microsoft's document asks for, as `exsim up` simulates it.
		for _, f := range probe.SimulatedFirewall(top, probe.Flows(top), labnet.ActionDrop) {
			rt.Faults().Add(f)
		}
		return &Lab{rt: rt, top: top, done: release}, nil
	}
	return nil, fmt.Errorf("no free address block and port range after 12 tries; last: %w", lastErr)
}

// Close stops every server. Start calls it when the test ends.
func (l *Lab) Close() error {
	l.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		l.closeErr = l.rt.Close(ctx)
		l.done()
	})
	return l.closeErr
}

// waitReady waits for EdgeSync: every subscribed Edge has the
// organization's configuration and recipients. Without a Mailbox server
// in the subscription nothing will ever sync, and there is nothing to
// wait for.
func (l *Lab) waitReady(ctx context.Context) error {
	if len(l.top.EdgeSyncParticipants()) == 0 {
		return nil
	}
	for _, e := range l.top.SubscribedEdges() {
		for {
			st, err := l.rt.EdgeSync(e.Name)
			if err != nil {
				return err
			}
			if !st.LastSuccess.IsZero() && st.ConfigEntries > 0 && (st.RecipientEntries > 0 || !l.hasRecipients()) {
				break
			}
			select {
			case <-ctx.Done():
				why := "no EdgeSync yet"
				for _, m := range l.top.EdgeSyncParticipants() {
					if ms, err := l.rt.EdgeSync(m.Name); err == nil && ms.LastError != "" {
						why = m.Name + ": " + ms.LastError
					}
				}
				return fmt.Errorf("%s not ready: %s", e.Name, why)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	return nil
}

// hasRecipients reports whether the organization has mailboxes EdgeSync
// replicates (recipients of its accepted domains).
func (l *Lab) hasRecipients() bool {
	return slices.ContainsFunc(l.top.Mailboxes, func(m topology.Mailbox) bool {
		return l.top.IsAcceptedDomain(topology.Domain(m.Address))
	})
}

// server returns the server named name or fails the test (panics outside one).
func (l *Lab) server(name string) *topology.Server {
	s := l.top.Server(name)
	if s == nil {
		var names []string
		for _, s := range l.top.Servers {
			names = append(names, s.Name)
		}
		l.fatalf("no server %q in the lab (servers: %s)", name, strings.Join(names, ", "))
	}
	return s
}

func (l *Lab) fatalf(format string, args ...any) {
	msg := "exsimtest: " + fmt.Sprintf(format, args...)
	if l.tb != nil {
		l.tb.Helper()
		l.tb.Fatal(msg)
	}
	panic(msg)
}

// Addr is "host:port" of server's listener documented on port (Addr("EX01",
// 587): the Client Frontend connector), where this lab bound it. An
// unknown server or a port the server has no listener on fails the test.
// The listener may be disabled (IMAP4 on EX02, as Exchange installs it):
// then nothing answers there.
func (l *Lab) Addr(server string, port int) string {
	if l.tb != nil {
		l.tb.Helper()
	}
	s := l.server(server)
	var have []string
	for _, ln := range l.top.Listeners(s) {
		if ln.BasePort == port && ln.Transport == "tcp" {
			return ln.AddrPort().String()
		}
		if ln.Transport == "tcp" {
			have = append(have, fmt.Sprint(ln.BasePort))
		}
	}
	l.fatalf("%s has no TCP listener documented on port %d (it has %s)", s.Name, port, strings.Join(have, ", "))
	return ""
}

// CA is the pool of the lab's certificate authority, which signed every
// server's certificate: set it as RootCAs of a client's tls.Config.
func (l *Lab) CA() *x509.CertPool { return l.rt.CA().Pool() }

// CAFile is the lab CA's certificate as a PEM file, for clients that read
// one (curl --cacert, SSL_CERT_FILE).
func (l *Lab) CAFile() string { return l.rt.CA().CertPath() }

// Topology is the running lab's topology: its addresses are the moved
// ones, and its port offset is set (Topology().Port(25)).
func (l *Lab) Topology() *topology.Topology { return l.top }

// Runtime is the running servers themselves, for what exsimtest does not
// wrap: their queues (Get-Queue), message tracking, EdgeSync state, or
// the admin API of package control served over the lab.
func (l *Lab) Runtime() *roles.Runtime { return l.rt }
