// Package senderrep is the open proxy test of an Edge Transport server's
// sender reputation (the Protocol Analysis agent), and the sender reputation
// level (SRL) bookkeeping that blocks a sender found to be an open proxy.
//
// Exchange's documentation (sender-reputation.md, "Sender open proxy test"):
// sender reputation connects to the sender's address with SOCKS4, SOCKS5,
// Wingate, Telnet, Cisco, HTTP CONNECT and HTTP POST, and asks it to connect
// back to the Exchange server's own SMTP port; if the Exchange server's SMTP
// conversation comes back through it, the sender is an open proxy. Here the
// sign is the Edge's own 220 banner arriving through the suspected proxy.
//
// Test is enabled by default on the Edge; an organization may configure an
// outbound proxy that the tests go through (Options.OutboundProxy), or disable
// the test (the role simply does not call it).
package senderrep

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/exsim/exsim/internal/defaults"
)

// DialFunc makes a TCP connection.
type DialFunc func(ctx context.Context, network, address string) (net.Conn, error)

// Defaults of Options.
const (
	DefaultTimeout     = 10 * time.Second
	DefaultConcurrency = 16
)

// Options configure a Tester.
type Options struct {
	// Dial makes every connection of every probe, including the one to the
	// outbound proxy (exsim binds the Edge's own source address there and
	// injects faults). nil uses a net.Dialer.
	Dial DialFunc
	// Target is the Edge's own SMTP endpoint that a suspected proxy is asked
	// to connect to. Required.
	Target netip.AddrPort
	// ExpectBanner recognises the Edge's own 220 greeting line. Required;
	// MatchBanner(fqdn) builds the usual one.
	ExpectBanner func(line string) bool
	// Ports per protocol; nil means DefaultPorts(). Protocols missing from a
	// non-nil table are not tested.
	Ports PortTable
	// Timeout bounds one probe, from dialing to the banner. Default 10 s.
	Timeout time.Duration
	// Concurrency bounds the probes in flight across all Test calls of the
	// Tester. Default 16.
	Concurrency int
	// OutboundProxy, when set, is the proxy every probe goes through.
	OutboundProxy *ProxyConfig
	// Logger receives probe logs; nil discards.
	Logger *slog.Logger
}

// Tester runs open proxy tests. It is safe for concurrent use.
type Tester struct {
	o     Options
	log   *slog.Logger
	slots chan struct{}
}

// MatchBanner recognises the greeting of the SMTP server named fqdn:
// `220 <fqdn> ...` (EXCHANGE.md section 2), also as the first line of a
// multi-line greeting (`220-<fqdn> ...`), in any case.
func MatchBanner(fqdn string) func(string) bool {
	want := strings.ToLower(fqdn)
	return func(line string) bool {
		l := strings.ToLower(strings.TrimSpace(line))
		if len(l) < 4 || (l[:4] != "220 " && l[:4] != "220-") {
			return false
		}
		rest := l[4:]
		return rest == want || strings.HasPrefix(rest, want+" ")
	}
}

// NewTester checks o and returns a Tester.
func NewTester(o Options) (*Tester, error) {
	if !o.Target.IsValid() || o.Target.Port() == 0 {
		return nil, errors.New("openproxy: Target (the Edge's SMTP endpoint) is required")
	}
	if o.ExpectBanner == nil {
		return nil, errors.New("openproxy: ExpectBanner is required")
	}
	if o.Ports == nil {
		o.Ports = DefaultPorts()
	}
	if err := o.Ports.Validate(); err != nil {
		return nil, err
	}
	if o.OutboundProxy != nil {
		if err := o.OutboundProxy.Validate(); err != nil {
			return nil, err
		}
	}
	if o.Dial == nil {
		var d net.Dialer
		o.Dial = d.DialContext
	}
	defaults.Set(&o.Timeout, DefaultTimeout)
	defaults.Set(&o.Concurrency, DefaultConcurrency)
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Tester{o: o, log: log, slots: make(chan struct{}, o.Concurrency)}, nil
}

type probeKey struct {
	proto Protocol
	port  uint16
}

// probes lists the tests in report order.
func (t *Tester) probes() []probeKey {
	var out []probeKey
	for _, p := range Protocols() {
		seen := map[uint16]bool{}
		for _, port := range t.o.Ports[p] {
			if !seen[port] {
				seen[port] = true
				out = append(out, probeKey{p, port})
			}
		}
	}
	return out
}

// Test runs every protocol/port probe against addr in parallel and returns
// when all have ended. Each probe ends within Options.Timeout of starting;
// cancelling ctx ends them all at once.
func (t *Tester) Test(ctx context.Context, addr netip.Addr) Result {
	addr = addr.Unmap()
	res := Result{Addr: addr, Started: time.Now()}
	keys := t.probes()
	res.Probes = make([]ProbeResult, len(keys))
	var wg sync.WaitGroup
	for i, k := range keys {
		wg.Go(func() { res.Probes[i] = t.Probe(ctx, addr, k.proto, k.port) })
	}
	wg.Wait()
	res.Duration = time.Since(res.Started)
	res.OpenProxy = slices.ContainsFunc(res.Probes, func(p ProbeResult) bool { return p.Outcome == OpenProxy })
	if res.OpenProxy {
		t.log.Info("open proxy detected", "remote", addr.String(), "hop", t.o.Target.String())
	}
	return res
}

// Probe runs one protocol against one port of addr.
func (t *Tester) Probe(ctx context.Context, addr netip.Addr, proto Protocol, port uint16) ProbeResult {
	r := ProbeResult{Protocol: proto, Port: port}
	select {
	case t.slots <- struct{}{}:
		defer func() { <-t.slots }()
	case <-ctx.Done():
		r.Outcome, r.Detail = Error, "canceled before start"
		return r
	}
	start := time.Now()
	r.Outcome, r.Detail = t.probe(ctx, netip.AddrPortFrom(addr.Unmap(), port), proto)
	r.Duration = time.Since(start)
	t.log.Debug("probe "+string(r.Outcome)+": "+r.Detail, "proto", string(proto), "remote", netip.AddrPortFrom(addr, port).String())
	return r
}

// probeConn counts the bytes the peer sent, to tell a silent peer (filtered)
// from one that spoke but did not relay.
type probeConn struct {
	net.Conn
	n int
}

func (c *probeConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n += n
	return n, err
}

func (t *Tester) probe(parent context.Context, dst netip.AddrPort, proto Protocol) (Outcome, string) {
	conv := conversationFor(proto)
	if conv == nil {
		return Error, "unknown protocol"
	}
	if proto == SOCKS4 && !t.o.Target.Addr().Unmap().Is4() {
		return Error, "socks4 cannot address an IPv6 target"
	}
	ctx, cancel := context.WithTimeout(parent, t.o.Timeout)
	defer cancel()

	var c net.Conn
	var err error
	if t.o.OutboundProxy != nil {
		c, err = dialOutbound(ctx, t.o.Dial, t.o.OutboundProxy, dst)
	} else {
		c, err = t.o.Dial(ctx, "tcp", dst.String())
	}
	if err != nil {
		return classifyDial(parent, ctx, err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	pc := &probeConn{Conn: c}
	s := &scanner{br: bufio.NewReaderSize(pc, maxLine), expect: t.o.ExpectBanner}
	found, err := conv(pc, s, t.o.Target)
	if found {
		// Leave the Edge's SMTP session politely; best effort.
		io.WriteString(c, "QUIT\r\n")
		return OpenProxy, "banner: " + s.last
	}
	return classifyConversation(parent, err, pc.n, s, t.o.Timeout)
}

func classifyDial(parent, ctx context.Context, err error) (Outcome, string) {
	var oe *outboundError
	var ne net.Error
	switch {
	case errors.As(err, &oe):
		return oe.outcome, oe.msg
	case parent.Err() != nil:
		return Error, "canceled"
	case errors.Is(err, syscall.ECONNREFUSED):
		return Closed, "connection refused"
	case ctx.Err() != nil, errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return Filtered, "no answer to connect"
	}
	return Error, err.Error()
}

func classifyConversation(parent context.Context, err error, peerBytes int, s *scanner, timeout time.Duration) (Outcome, string) {
	var rf *refusal
	var se *socks5ReplyError
	var he *httpStatusError
	said := ""
	if s.last != "" {
		said = fmt.Sprintf("; last line %q", s.last)
	}
	switch {
	case err == nil:
		return NotProxy, "no banner" + said
	case errors.As(err, &rf), errors.As(err, &se), errors.As(err, &he):
		return NotProxy, err.Error()
	case parent.Err() != nil:
		return Error, "canceled"
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		if peerBytes == 0 {
			return Filtered, "connected, no answer within " + timeout.String()
		}
		return NotProxy, "no banner within " + timeout.String() + said
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return NotProxy, "connection closed after " + strconv.Itoa(peerBytes) + " bytes" + said
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return NotProxy, "connection reset" + said
	}
	return Error, err.Error()
}

// conversation speaks one proxy protocol over c asking for target, and
// reports whether the banner came back.
type conversation func(c net.Conn, s *scanner, target netip.AddrPort) (bool, error)

func conversationFor(p Protocol) conversation {
	switch p {
	case SOCKS4:
		return socks4Probe
	case SOCKS5:
		return socks5Probe
	case Wingate: // WinGate's prompt takes host:port
		return telnetProbe(func(t netip.AddrPort) string { return t.String() + "\r\n" })
	case Telnet: // a telnet gateway takes "open host port"
		return telnetProbe(func(t netip.AddrPort) string { return fmt.Sprintf("open %s %d\r\n", t.Addr(), t.Port()) })
	case Cisco: // a Cisco router with the default password "cisco" takes "telnet host port"
		return telnetProbe(func(t netip.AddrPort) string { return fmt.Sprintf("cisco\r\ntelnet %s %d\r\n", t.Addr(), t.Port()) })
	case HTTPConnect:
		return httpConnectProbe
	case HTTPPost:
		return httpPostProbe
	}
	return nil
}

func socks4Probe(c net.Conn, s *scanner, target netip.AddrPort) (bool, error) {
	req, err := socks4Request(target)
	if err != nil {
		return false, err
	}
	if _, err := c.Write(req); err != nil {
		return false, err
	}
	if err := readSOCKS4Reply(s.br); err != nil {
		return false, err
	}
	return s.untilBanner()
}

func socks5Probe(c net.Conn, s *scanner, target netip.AddrPort) (bool, error) {
	if _, err := c.Write(socks5Greeting()); err != nil {
		return false, err
	}
	if err := readSOCKS5Method(s.br); err != nil {
		return false, err
	}
	if _, err := c.Write(socks5Request(target)); err != nil {
		return false, err
	}
	if err := readSOCKS5Reply(s.br); err != nil {
		return false, err
	}
	return s.untilBanner()
}

// telnetProbe sends the gateway's connect command right away, as open proxy
// scanners do (a prompt may or may not come first), then watches for the
// banner among whatever the gateway prints.
func telnetProbe(command func(netip.AddrPort) string) conversation {
	return func(c net.Conn, s *scanner, target netip.AddrPort) (bool, error) {
		if _, err := io.WriteString(c, command(target)); err != nil {
			return false, err
		}
		return s.untilBanner()
	}
}

func httpConnectProbe(c net.Conn, s *scanner, target netip.AddrPort) (bool, error) {
	if _, err := fmt.Fprintf(c, "CONNECT %s HTTP/1.0\r\nHost: %s\r\n\r\n", target, target); err != nil {
		return false, err
	}
	found, err := readHTTPConnectReply(s)
	if found || err != nil {
		return found, err
	}
	return s.untilBanner()
}

// postBody is the SMTP conversation a POST carries to the Edge.
const postBody = "QUIT\r\n"

func httpPostProbe(c net.Conn, s *scanner, target netip.AddrPort) (bool, error) {
	if _, err := fmt.Fprintf(c, "POST http://%s/ HTTP/1.0\r\nHost: %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s",
		target, target, len(postBody), postBody); err != nil {
		return false, err
	}
	// Proxies pass the SMTP server's lines through raw or inside an HTTP
	// response; either way the banner is a line of what comes back.
	return s.untilBanner()
}
