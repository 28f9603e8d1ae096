// Package roles runs the servers of a topology: it wires the protocol
// servers of servers/* to the transport, the mailbox store, the lab DNS
// and the lab CA, one role per server (edge, mailbox, dns, internet).
package roles

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/exsim/exsim/certs"
	"github.com/exsim/exsim/internal/labnet"
	"github.com/exsim/exsim/internal/lockout"
	"github.com/exsim/exsim/store"
	"github.com/exsim/exsim/topology"
	"github.com/exsim/exsim/transport"
)

// Options describe what to run.
type Options struct {
	// Topology is the lab; it carries the port offset (SetPortOffset).
	Topology *topology.Topology
	// DataDir holds certs/ and one directory per server.
	DataDir string
	// Servers lists the servers to run; empty means all.
	Servers []string
	Logger  *slog.Logger
	// Faults is the fault table of this process (nil: a new one).
	Faults *labnet.Faults
	Now    func() time.Time
	// BindAny runs the servers behind addresses they do not have, as in a
	// Kubernetes pod behind a Service whose ClusterIP is the server's
	// topology address: listeners bind every address of the host (the
	// documented port on 0.0.0.0 or ::, loopback-only ones stay on
	// loopback) and connections start from the address the system picks
	// (the pod's). The destination guard still allows only the topology.
	BindAny bool
	// Lockout is the logon lockout policy of every protocol (zero: the
	// default, 5 failures in 15 minutes lock for 15 minutes).
	Lockout lockout.Policy
	// MAPI tunes the timers of MAPI over HTTP (zero fields: the
	// defaults of httpd.Options); tests shorten them.
	MAPI MAPITimers
}

// MAPITimers are MAPI over HTTP's timers, as httpd.Options documents
// them: the PENDING keep-alive period, the idle life of a Session
// Context and the length of a NotificationWait without news.
type MAPITimers struct {
	PendingPeriod, SessionTimeout, NotificationWait time.Duration
}

// Runtime is the running servers of one process.
type Runtime struct {
	o       Options
	ca      *certs.CA
	faults  *labnet.Faults
	log     *slog.Logger
	servers []*Server
	guard   *labnet.AllowList
	metrics *metrics
	// lock is the logon lockout every protocol of every server shares.
	lock *lockout.Lockout
}

// Server is one running server.
type Server struct {
	Config *topology.Server
	rt     *Runtime
	dir    string
	log    *slog.Logger
	cert   tls.Certificate
	// tlsCache resumes the server's TLS client sessions to other servers.
	tlsCache tls.ClientSessionCache
	dialer   *labnet.Dialer
	role     role

	// transport and store are set by roles that have them.
	transport *transport.Transport
	store     *store.Store

	mu        sync.Mutex
	listeners []Bound
	closers   []func(context.Context) error
}

// Bound is a listener that is serving (or, with Err, could not start).
type Bound struct {
	topology.Listener
	Err error
}

// role is what each server role implements.
type role interface {
	// start binds the role's listeners (through s.listen) and starts its
	// services; it returns once everything accepts connections.
	start(ctx context.Context, s *Server) error
}

// Start runs the servers of the topology and returns once every listener
// is bound. A bind failure stops everything and names the address.
func Start(ctx context.Context, o Options) (*Runtime, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Faults == nil {
		o.Faults = &labnet.Faults{}
	}
	t := o.Topology
	ca, err := certs.LoadOrCreate(filepath.Join(o.DataDir, "certs"), t.Organization)
	if err != nil {
		return nil, err
	}
	rt := &Runtime{o: o, ca: ca, faults: o.Faults, log: o.Logger, guard: Guard(t), lock: newLockout(t, o.Lockout, o.Now)}
	rt.metrics = newMetrics(rt)
	if err := rt.prepareCertificates(); err != nil {
		return nil, err
	}
	for i := range t.Servers {
		sc := &t.Servers[i]
		if len(o.Servers) > 0 && !slices.ContainsFunc(o.Servers, func(n string) bool { return strings.EqualFold(n, sc.Name) }) {
			continue
		}
		s, err := rt.newServer(sc)
		if err != nil {
			rt.Close(context.Background())
			return nil, err
		}
		rt.servers = append(rt.servers, s)
	}
	if len(rt.servers) == 0 {
		return nil, fmt.Errorf("no server of the topology is named %s", strings.Join(o.Servers, ", "))
	}
	// DNS first: the other roles resolve through it as they start.
	slices.SortStableFunc(rt.servers, func(a, b *Server) int { return rolePriority(a.Config.Role) - rolePriority(b.Config.Role) })
	for _, s := range rt.servers {
		if err := s.role.start(ctx, s); err != nil {
			rt.Close(context.Background())
			return nil, fmt.Errorf("%s: %w", s.Config.Name, err)
		}
	}
	return rt, nil
}

func rolePriority(r topology.Role) int {
	return map[topology.Role]int{topology.RoleDNS: 0, topology.RoleInternet: 1, topology.RoleMailbox: 2, topology.RoleEdge: 3}[r]
}

// Guard allows exactly the topology's server addresses and the networks of
// allow_outside.
func Guard(t *topology.Topology) *labnet.AllowList {
	g := &labnet.AllowList{Addrs: map[netip.Addr]bool{}}
	for i := range t.Servers {
		g.Addrs[t.Servers[i].Addr()] = true
	}
	for _, c := range t.AllowOutside {
		if p, err := netip.ParsePrefix(c); err == nil {
			g.Prefixes = append(g.Prefixes, p)
		}
	}
	return g
}

func (rt *Runtime) newServer(sc *topology.Server) (*Server, error) {
	dir := filepath.Join(rt.o.DataDir, sc.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	s := &Server{
		Config: sc, rt: rt, dir: dir, tlsCache: tls.NewLRUClientSessionCache(256),
		log: rt.log.With("server", sc.Name),
		dialer: &labnet.Dialer{
			Server: sc.Name, Source: sc.Addr(), Guard: rt.guard, Faults: rt.faults,
		},
	}
	if rt.o.BindAny {
		s.dialer.Source = netip.Addr{} // the pod's own address
	}
	cert, err := rt.ca.Issue(certIdentity(rt.o.Topology, sc))
	if err != nil {
		return nil, err
	}
	s.cert = cert
	switch sc.Role {
	case topology.RoleDNS:
		s.role = &dnsRole{}
	case topology.RoleInternet:
		s.role = &internetRole{}
	case topology.RoleMailbox:
		s.role = &mailboxRole{}
	case topology.RoleEdge:
		s.role = &edgeRole{}
	default:
		return nil, fmt.Errorf("%s: unknown role %q", sc.Name, sc.Role)
	}
	return s, nil
}

// certIdentity names a server's certificate: FQDN, short name, address,
// and on the Client Access server the mail. and autodiscover. names.
func certIdentity(t *topology.Topology, s *topology.Server) certs.Identity {
	id := certs.Identity{Name: s.Name, FQDN: s.FQDN, Addresses: []netip.Addr{s.Addr()}, Key: certs.KeyType(t.Certs.Key)}
	if s.Role == topology.RoleMailbox {
		for _, d := range t.AcceptedDomains {
			id.ExtraDNS = append(id.ExtraDNS, "mail."+d, "autodiscover."+d)
		}
	}
	return id
}

// Close stops every server.
func (rt *Runtime) Close(ctx context.Context) error {
	var errs []error
	for i := len(rt.servers) - 1; i >= 0; i-- {
		if err := rt.servers[i].close(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Servers returns the running servers.
func (rt *Runtime) Servers() []*Server { return rt.servers }

// Server returns the running server named name, or nil.
func (rt *Runtime) Server(name string) *Server {
	for _, s := range rt.servers {
		if strings.EqualFold(s.Config.Name, name) {
			return s
		}
	}
	return nil
}

// DataDir is the lab's data directory.
func (rt *Runtime) DataDir() string { return rt.o.DataDir }

// CA is the lab CA.
func (rt *Runtime) CA() *certs.CA { return rt.ca }

// Faults is the process's fault table.
func (rt *Runtime) Faults() *labnet.Faults { return rt.faults }

// Topology is the topology being run.
func (rt *Runtime) Topology() *topology.Topology { return rt.o.Topology }

// clientTLS is the server's TLS client configuration to another lab server:
// the lab CA as root, our certificate presented, sessions resumed.
func (s *Server) clientTLS(serverName string) *tls.Config {
	c := s.rt.ca.ClientTLS(serverName, &s.cert)
	c.ClientSessionCache = s.tlsCache
	return c
}

// Listeners returns every listener of every running server.
func (rt *Runtime) Listeners() []Bound {
	var out []Bound
	for _, s := range rt.servers {
		out = append(out, s.Listeners()...)
	}
	return out
}

// Listeners returns the server's listeners (disabled ones included).
func (s *Server) Listeners() []Bound {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.listeners)
}

// Dir is DATA/<SERVER>.
func (s *Server) Dir() string { return s.dir }

// Dialer dials from the server's position.
func (s *Server) Dialer() *labnet.Dialer { return s.dialer }

func (s *Server) onClose(f func(context.Context) error) {
	s.mu.Lock()
	s.closers = append(s.closers, f)
	s.mu.Unlock()
}

func (s *Server) close(ctx context.Context) error {
	s.mu.Lock()
	closers := s.closers
	s.closers = nil
	s.mu.Unlock()
	var errs []error
	for i := len(closers) - 1; i >= 0; i-- {
		if err := closers[i](ctx); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// listenerOf returns the topology listener of kind k for this server.
func (s *Server) listenerOf(k topology.ListenerKind) []topology.Listener {
	var out []topology.Listener
	for _, l := range s.rt.o.Topology.Listeners(s.Config) {
		if l.Kind == k {
			out = append(out, l)
		}
	}
	return out
}

// listen binds a TCP listener, records it, and returns nil (not an error)
// for a disabled listener: the port stays closed, as Exchange leaves it.
func (s *Server) listen(l topology.Listener) (net.Listener, error) {
	if !l.Enabled {
		s.record(Bound{Listener: l})
		return nil, nil
	}
	ln, err := net.Listen("tcp", s.bindAddr(l).String())
	if err = s.bound(l, ln, err); err != nil {
		return nil, err
	}
	return ln, nil
}

// bindAddr is the socket address l binds: its own, or with BindAny the
// unspecified address of its family (loopback-only listeners keep theirs).
func (s *Server) bindAddr(l topology.Listener) netip.AddrPort {
	if !s.rt.o.BindAny || l.Bind.IsLoopback() {
		return l.AddrPort()
	}
	if l.Bind.Is4() {
		return netip.AddrPortFrom(netip.IPv4Unspecified(), uint16(l.Port))
	}
	return netip.AddrPortFrom(netip.IPv6Unspecified(), uint16(l.Port))
}

// listenUDP binds a UDP socket.
func (s *Server) listenUDP(l topology.Listener) (net.PacketConn, error) {
	pc, err := net.ListenPacket("udp", s.bindAddr(l).String())
	if err = s.bound(l, pc, err); err != nil {
		return nil, err
	}
	return pc, nil
}

// bound records the outcome of binding l; a bound socket closes with s.
func (s *Server) bound(l topology.Listener, c io.Closer, err error) error {
	if err != nil {
		err = bindError(s.Config.Name, l, err)
		s.record(Bound{Listener: l, Err: err})
		return err
	}
	s.record(Bound{Listener: l})
	s.onClose(func(context.Context) error { c.Close(); return nil })
	return nil
}

func (s *Server) record(b Bound) {
	s.mu.Lock()
	s.listeners = append(s.listeners, b)
	s.mu.Unlock()
}

// BindError is a listener that could not be bound.
type BindError struct {
	Server   string
	Listener topology.Listener
	Err      error
}

func (e *BindError) Error() string {
	msg := fmt.Sprintf("cannot bind %s's %s on %s/%s: %v", e.Server, e.Listener.Name, e.Listener.AddrPort(), e.Listener.Transport, e.Err)
	switch {
	case errors.Is(e.Err, syscall.EACCES):
		msg += fmt.Sprintf("; ports below 1024 need root (or CAP_NET_BIND_SERVICE): run as root or add --port-offset 10000 (then this listener is on port %d)", e.Listener.BasePort+10000)
	case errors.Is(e.Err, syscall.EADDRINUSE):
		msg += "; another program (another exsim?) holds this port: stop it or choose --port-offset"
	case errors.Is(e.Err, syscall.EADDRNOTAVAIL):
		msg += "; this host has no such address: loopback labs use 127.x.y.z, namespace labs run with `exsim lab up`"
	}
	return msg
}

func (e *BindError) Unwrap() error { return e.Err }

func bindError(server string, l topology.Listener, err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) {
		err = oe.Err
	}
	var se *os.SyscallError
	if errors.As(err, &se) {
		err = se.Err
	}
	return &BindError{Server: server, Listener: l, Err: err}
}
