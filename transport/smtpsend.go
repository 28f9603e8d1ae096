package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/exsim/exsim/transport/smtpclient"
)

// SMTPSender is the Transport service's delivery agent over SMTP. It makes
// the decisions (which endpoints of the next hop, in what order; which TLS
// the hop asks for: mutual TLS between Exchange servers, opportunistic
// otherwise; how a failure reads as the queue's LastError) and leaves the
// protocol to smtpclient.
type SMTPSender struct {
	// HeloName is the EHLO name, the server's FQDN.
	HeloName string
	// Dial opens every connection (source address, topology guard, faults).
	Dial     func(ctx context.Context, network, address string) (net.Conn, error)
	Resolver smtpclient.Resolver
	// ExchangeTLS returns the client TLS configuration for a hop that
	// authenticates as an Exchange server: the lab CA as the only root,
	// serverName verified, our own certificate presented.
	ExchangeTLS func(serverName string) *tls.Config
	// Log is the SMTP send protocol log (may be nil).
	Log *ProtocolLog
	// ConnectorPrefix prefixes the connector-id in the protocol log ("EX01\").
	ConnectorPrefix string
	// HeaderFirewall applies each hop's SendHeaders to what is sent: the
	// server is an Exchange server (the lab's internet servers are not).
	HeaderFirewall bool
	Logger         *slog.Logger
	Timeout        time.Duration

	sessions atomic.Uint64
}

func (s *SMTPSender) timeout() time.Duration {
	if s.Timeout > 0 {
		return s.Timeout
	}
	return 30 * time.Second
}

// resolve turns a hop into the endpoints to try, in order: the mail
// exchangers of its domain, or its smart hosts (shuffled when the send
// connector balances load).
func (s *SMTPSender) resolve(ctx context.Context, hop NextHop) ([]smtpclient.Endpoint, error) {
	hosts := hop.Hosts
	if hop.MX {
		mx, err := smtpclient.MXHosts(ctx, s.Resolver, hop.Domain)
		if err != nil {
			return nil, dnsError(err)
		}
		hosts = mx
	} else if hop.LoadBalance && len(hosts) > 1 {
		hosts = append([]string(nil), hosts...)
		rand.Shuffle(len(hosts), func(i, j int) { hosts[i], hosts[j] = hosts[j], hosts[i] })
	}
	eps, err := smtpclient.Endpoints(ctx, s.Resolver, hosts, hop.Port)
	if err != nil {
		return nil, dnsError(err)
	}
	return eps, nil
}

// Open connects to the first endpoint of hop that takes mail.
func (s *SMTPSender) Open(ctx context.Context, hop NextHop) (Conn, error) {
	eps, err := s.resolve(ctx, hop)
	if err != nil {
		return nil, err
	}
	var last *HopError
	for _, ep := range eps {
		c, err := s.open(ctx, hop, ep)
		if err == nil {
			return c, nil
		}
		errors.As(err, &last)
		if last == nil {
			last = connectError(ep.Addr.String(), err)
		}
	}
	return nil, last
}

func (s *SMTPSender) open(ctx context.Context, hop NextHop, ep smtpclient.Endpoint) (*smtpConn, error) {
	addr := ep.Addr.String()
	sid := fmt.Sprintf("%016X", uint64(time.Now().UnixNano())<<8|s.sessions.Add(1)&0xff)
	lg := &protoTee{log: s.Log, connector: s.ConnectorPrefix + hop.Connector, session: sid, remote: addr}
	lg.write("+", "", "")
	dctx, cancel := context.WithTimeout(ctx, s.timeout())
	defer cancel()
	raw, err := s.Dial(dctx, "tcp", addr)
	if err != nil {
		lg.write("*", "", "Failed connection to "+addr+" ("+socketError(err)+")")
		lg.write("-", "", "")
		return nil, connectError(addr, err)
	}
	lg.local = raw.LocalAddr().String()
	mode, cfg := smtpclient.TLSOpportunistic, &tls.Config{InsecureSkipVerify: true, ServerName: ep.Host, MinVersion: tls.VersionTLS12}
	if hop.ExchangeAuth && s.ExchangeTLS != nil {
		// Exchange server authentication: mutual TLS with lab certificates.
		mode, cfg = smtpclient.TLSRequired, s.ExchangeTLS(ep.Host)
	}
	c, err := smtpclient.NewClient(ctx, raw, smtpclient.Options{
		Helo: s.HeloName, TLS: mode, TLSConfig: cfg, Timeout: s.timeout(), DataTimeout: 10 * time.Minute, Chunking: true,
		Trace: func(dir, line string) {
			if dir == "*" {
				lg.write("*", "", line)
			} else {
				lg.write(dir, line, "")
			}
		},
	})
	if err != nil {
		lg.write("-", "", "")
		var se *smtpclient.Error
		if errors.As(err, &se) && se.Reply != "" {
			return nil, replyError(addr, se.Reply)
		}
		if errors.As(err, &se) && se.Step == smtpclient.StepTLS {
			return nil, replyError(addr, "454 4.7.0 TLS negotiation failed: "+err.Error())
		}
		return nil, connectError(addr, err)
	}
	sc := &smtpConn{c: c, ep: ep, lg: lg, keep: PermitAll}
	if s.HeaderFirewall {
		sc.keep = hop.SendHeaders
	}
	return sc, nil
}

func socketError(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded), strings.Contains(err.Error(), "timeout"):
		return "TimedOut"
	case strings.Contains(err.Error(), "refused"):
		return "ConnectionRefused"
	}
	return err.Error()
}

// OpenClient connects like Open and hands over the go-smtp client, for a
// proxy that relays a session command by command; it returns the endpoint
// reached. The caller ends the session with Quit.
func (s *SMTPSender) OpenClient(ctx context.Context, hop NextHop) (*smtp.Client, string, error) {
	c, err := s.Open(ctx, hop)
	if err != nil {
		return nil, "", err
	}
	sc := c.(*smtpConn)
	return sc.c.SMTP(), sc.ep.Addr.String(), nil
}

// smtpConn is an open session to one endpoint of a next hop.
type smtpConn struct {
	c  *smtpclient.Client
	ep smtpclient.Endpoint
	lg *protoTee
	// keep are the header firewall permissions of the Send connector.
	keep HeaderPermissions
}

func (c *smtpConn) Remote() (string, string) { return c.ep.Host, c.ep.Addr.String() }

func (c *smtpConn) Close() error {
	c.c.Close()
	c.lg.write("-", "", "")
	return nil
}

// Send implements Conn. The header firewall removes from the bytes sent
// the fields the Send connector's permissions do not keep; the spooled
// message is untouched and the body is not copied.
func (c *smtpConn) Send(ctx context.Context, m *Message, rcpts []string, body []byte) (map[string]Reply, error) {
	env := &smtpclient.Envelope{From: m.From, UTF8: m.UTF8 && needsUTF8(m), EnvID: m.DSN.EnvID, Ret: m.DSN.Ret,
		To: make([]smtpclient.Rcpt, len(rcpts))}
	for i, a := range rcpts {
		env.To[i] = smtpclient.Rcpt{Address: a}
		if rc := m.Recipient(a); rc != nil {
			env.To[i].Notify, env.To[i].ORCPT = rc.Notify, rc.ORCPT
		}
	}
	return c.c.Deliver(env, FirewallMessage(body, c.keep)...)
}

// needsUTF8 reports whether an address of m needs SMTPUTF8 (RFC 6531).
func needsUTF8(m *Message) bool {
	for _, r := range m.Recipients {
		if !isASCII(r.Address) {
			return true
		}
	}
	return !isASCII(m.From)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// protoTee writes one send session's lines to the protocol log.
type protoTee struct {
	log       *ProtocolLog
	connector string
	session   string
	local     string
	remote    string
	seq       int
}

func (p *protoTee) write(event, data, context string) {
	if p.log == nil {
		return
	}
	p.log.Write(ProtocolLine{Connector: p.connector, Session: p.session, Seq: p.seq, Local: p.local, Remote: p.remote, Event: event, Data: data, Context: context})
	p.seq++
}
