// Package probe checks a network against the seed document: it derives
// every documented flow of a topology (Flows, in flows.go), dials each one
// from its source server's own position, speaks enough of the protocol to
// know who answered (Prober), and says which flow failed and what breaks.
// Reports live in probe/report.
package probe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/exsim/exsim/certs"
	"github.com/exsim/exsim/internal/labnet"
	"github.com/exsim/exsim/topology"
)

// Dialer opens a connection from one server's position.
type Dialer interface {
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
}

var _ Dialer = (*labnet.Dialer)(nil)

const (
	// DefaultTimeout bounds one flow's check.
	DefaultTimeout = 3 * time.Second
	// DefaultConcurrency is how many flows run at once: more than the
	// built-in matrices hold, so a run takes about one timeout.
	DefaultConcurrency = 128
)

// Prober checks flows.
type Prober struct {
	// Topology is the lab, with its port offset.
	Topology *topology.Topology
	// CA is the lab CA certificates must chain to. Nil checks names only
	// (the detail says so); give it whenever you have it.
	CA *certs.CA
	// DialerFor returns the dialer of a source server: bound to its
	// address, inside its namespace, or with the process's fault table.
	// Nil uses a labnet.Dialer bound to the source's address that refuses
	// destinations outside the topology.
	DialerFor func(source string) Dialer
	// ClientCert, when set, returns the certificate a source server
	// presents when a listener asks for one (Exchange server authentication:
	// the Exchange Back End site on 444 requires it). Nil, or a nil
	// certificate, presents none; such a site is then reported open on its
	// verified server certificate alone.
	ClientCert func(source string) *tls.Certificate
	// Timeout bounds each flow (default DefaultTimeout).
	Timeout time.Duration
	// Concurrency bounds the flows run at once (default DefaultConcurrency).
	Concurrency int
	// OnResult, when set, is called as each flow finishes (one call at a
	// time, in completion order): for progress output.
	OnResult func(Result)
}

func (p *Prober) timeout() time.Duration {
	if p.Timeout > 0 {
		return p.Timeout
	}
	return DefaultTimeout
}

// Run checks flows in parallel and returns their results in the order of
// flows. Nil flows means every flow of the topology (Flows).
func (p *Prober) Run(ctx context.Context, flows []Flow) []Result {
	if flows == nil {
		flows = Flows(p.Topology)
	}
	results := make([]Result, len(flows))
	workers := p.Concurrency
	if workers <= 0 {
		workers = DefaultConcurrency
	}
	workers = min(workers, len(flows))
	next := make(chan int)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range next {
				results[i] = p.Check(ctx, flows[i])
				if p.OnResult != nil {
					mu.Lock()
					p.OnResult(results[i])
					mu.Unlock()
				}
			}
		})
	}
	for i := range flows {
		next <- i
	}
	close(next)
	wg.Wait()
	return results
}

// Check runs one flow's check from its source's position.
func (p *Prober) Check(ctx context.Context, f Flow) Result {
	start := time.Now()
	v := p.check(ctx, f)
	r := Result{Flow: f, Outcome: v.outcome, Detail: v.detail, Duration: time.Since(start)}
	if v.err != nil {
		r.Outcome = ""
		r.Error = v.err.Error()
	}
	r.Pass = r.Error == "" && f.Expect.Passes(r.Outcome)
	return r
}

// verdict is what a check concluded; err means it could not run.
type verdict struct {
	outcome Outcome
	detail  string
	err     error
}

func failed(err error) verdict { return verdict{err: err} }

// session is one flow being checked.
type session struct {
	p        *Prober
	f        Flow
	src, dst *topology.Server
	dialer   Dialer
	addr     string
	parent   context.Context
}

func (p *Prober) check(parent context.Context, f Flow) verdict {
	if p.Topology == nil {
		return failed(errors.New("probe: no topology"))
	}
	src, dst := p.Topology.Server(f.Source), p.Topology.Server(f.Dest)
	if src == nil || dst == nil {
		return failed(fmt.Errorf("probe: %s: unknown server %q or %q", f.ID, f.Source, f.Dest))
	}
	if f.Port <= 0 || f.Port > 65535 {
		return failed(fmt.Errorf("probe: %s: port %d (%d + port offset %d) is out of range", f.ID, f.Port, f.BasePort, f.Port-f.BasePort))
	}
	ctx, cancel := context.WithTimeout(parent, p.timeout())
	defer cancel()
	s := &session{
		p: p, f: f, src: src, dst: dst, parent: parent,
		dialer: p.dialerFor(src),
		addr:   netip.AddrPortFrom(dst.Addr(), uint16(f.Port)).String(),
	}
	var check func(context.Context, net.Conn) verdict
	switch f.Check {
	case CheckTCP:
		check = s.checkTCP
	case CheckSMTP, CheckSMTPStartTLS:
		check = s.checkSMTP
	case CheckHTTP, CheckHTTPS:
		check = s.checkHTTP
	case CheckIMAP, CheckIMAPS:
		check = s.checkIMAP
	case CheckPOP3, CheckPOP3S:
		check = s.checkPOP3
	case CheckLDAPS:
		check = s.checkLDAPS
	case CheckDNS:
		return s.checkDNS(ctx) // it dials once it knows what to ask
	default:
		return failed(fmt.Errorf("probe: %s: unknown check %q", f.ID, f.Check))
	}
	conn, v := s.dial(ctx)
	if conn == nil {
		return v
	}
	defer conn.Close()
	return check(ctx, conn)
}

func (p *Prober) dialerFor(src *topology.Server) Dialer {
	if p.DialerFor != nil {
		return p.DialerFor(src.Name)
	}
	guard := &labnet.AllowList{Addrs: map[netip.Addr]bool{}}
	for i := range p.Topology.Servers {
		guard.Addrs[p.Topology.Servers[i].Addr()] = true
	}
	return &labnet.Dialer{Server: src.Name, Source: src.Addr(), Guard: guard, Timeout: p.timeout()}
}

// dial connects to the flow's destination; a nil conn comes with the
// verdict (refused, filtered, or an error).
func (s *session) dial(ctx context.Context) (net.Conn, verdict) {
	network := s.f.Transport
	if network == "" {
		network = "tcp"
	}
	conn, err := s.dialer.DialContext(ctx, network, s.addr)
	if err != nil {
		return nil, s.dialFailed(err)
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	return conn, verdict{}
}

func (s *session) dialFailed(err error) verdict {
	switch {
	case s.parent.Err() != nil:
		return failed(fmt.Errorf("probe cancelled: %w", s.parent.Err()))
	case errors.Is(err, labnet.ErrOutsideTopology):
		return failed(err)
	case labnet.IsRefused(err):
		return verdict{outcome: OutcomeRefused, detail: "connection refused"}
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return verdict{outcome: OutcomeRefused, detail: "unreachable: " + errText(err)}
	case labnet.IsTimeout(err):
		return verdict{outcome: OutcomeFiltered, detail: "no answer within " + s.p.timeout().String()}
	}
	return failed(fmt.Errorf("probe: %s: %w", s.f.ID, err))
}

// broken classifies a failure after the connection was set up: the port is
// open but what answered is not the service (it stayed silent, hung up, or
// spoke something else).
func (s *session) broken(err error, what string) verdict {
	switch {
	case s.parent.Err() != nil:
		return failed(fmt.Errorf("probe cancelled: %w", s.parent.Err()))
	case labnet.IsTimeout(err):
		return verdict{outcome: OutcomeWrongPeer, detail: "connected, but no " + what + " within " + s.p.timeout().String()}
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), isEOF(err):
		return verdict{outcome: OutcomeWrongPeer, detail: "connection accepted, then closed before the " + what}
	}
	return verdict{outcome: OutcomeWrongPeer, detail: what + ": " + errText(err)}
}

// checkTCP: the connection alone is the answer.
func (s *session) checkTCP(context.Context, net.Conn) verdict {
	return verdict{outcome: OutcomeOpen, detail: "TCP connection established"}
}

// exchange reports whether the destination runs Exchange, whose banners
// and greetings the checks know exactly.
func (s *session) exchange() bool { return s.dst.IsExchange() }

// errText is an error without the repeated "dial tcp a->b:" prefix.
func errText(err error) string {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err.Error()
	}
	return err.Error()
}

// clip makes what a peer said fit a detail line: one line, no control
// characters (a peer must not drive the engineer's terminal), valid UTF-8,
// at most 160 bytes.
func clip(s string) string {
	s = strings.TrimSpace(strings.ReplaceAll(s, "\r", ""))
	s = strings.ReplaceAll(s, "\n", " / ")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '?'
		}
		return r
	}, s)
	const max = 160
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return s[:cut] + "..."
	}
	return s
}
