package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/exsim/exsim/transport/smtpclient"
)

// Resolver is the lab DNS as the delivery agent needs it.
type Resolver interface {
	// LookupMX returns the mail exchangers of domain, most preferred first.
	LookupMX(ctx context.Context, domain string) ([]string, error)
	LookupHost(ctx context.Context, name string) ([]netip.Addr, error)
}

// SMTPSender delivers over SMTP with go-smtp's client: it resolves the
// next hop through the lab DNS, fails over across its addresses, and uses
// TLS as the hop asks (mutual TLS between Exchange servers, opportunistic
// otherwise).
type SMTPSender struct {
	// HeloName is the EHLO name, the server's FQDN.
	HeloName string
	// Dial opens every connection (source address, topology guard, faults).
	Dial     func(ctx context.Context, network, address string) (net.Conn, error)
	Resolver Resolver
	// ExchangeTLS returns the client TLS configuration for a hop that
	// authenticates as an Exchange server: the lab CA as the only root,
	// serverName verified, our own certificate presented.
	ExchangeTLS func(serverName string) *tls.Config
	// Log is the SMTP send protocol log (may be nil).
	Log *ProtocolLog
	// ConnectorPrefix prefixes the connector-id in the protocol log ("EX01\").
	ConnectorPrefix string
	Logger          *slog.Logger
	Timeout         time.Duration

	sessions atomic.Uint64
}

type endpoint struct {
	host string
	addr netip.AddrPort
}

func (s *SMTPSender) timeout() time.Duration {
	if s.Timeout > 0 {
		return s.Timeout
	}
	return 30 * time.Second
}

// resolve turns a hop into the endpoints to try, in order.
func (s *SMTPSender) resolve(ctx context.Context, hop NextHop) ([]endpoint, error) {
	hosts := hop.Hosts
	if hop.MX {
		mx, err := s.Resolver.LookupMX(ctx, hop.Domain)
		if err != nil {
			return nil, dnsError(err)
		}
		hosts = mx
	} else if hop.LoadBalance && len(hosts) > 1 {
		hosts = append([]string(nil), hosts...)
		rand.Shuffle(len(hosts), func(i, j int) { hosts[i], hosts[j] = hosts[j], hosts[i] })
	}
	var eps []endpoint
	var lastErr error
	for _, h := range hosts {
		if a, err := netip.ParseAddr(h); err == nil {
			eps = append(eps, endpoint{host: h, addr: netip.AddrPortFrom(a, uint16(hop.Port))})
			continue
		}
		addrs, err := s.Resolver.LookupHost(ctx, h)
		if err != nil {
			lastErr = err
			continue
		}
		for _, a := range addrs {
			eps = append(eps, endpoint{host: h, addr: netip.AddrPortFrom(a, uint16(hop.Port))})
		}
	}
	if len(eps) == 0 {
		if lastErr == nil {
			lastErr = errors.New("no host")
		}
		return nil, dnsError(lastErr)
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
			last = connectError(ep.addr.String(), err)
		}
	}
	return nil, last
}

func (s *SMTPSender) open(ctx context.Context, hop NextHop, ep endpoint) (*smtpConn, error) {
	sid := fmt.Sprintf("%016X", uint64(time.Now().UnixNano())<<8|s.sessions.Add(1)&0xff)
	lg := &protoTee{log: s.Log, connector: s.ConnectorPrefix + hop.Connector, session: sid, remote: ep.addr.String()}
	lg.write("+", "", "")
	dctx, cancel := context.WithTimeout(ctx, s.timeout())
	defer cancel()
	raw, err := s.Dial(dctx, "tcp", ep.addr.String())
	if err != nil {
		lg.write("*", "", "Failed connection to "+ep.addr.String()+" ("+socketError(err)+")")
		lg.write("-", "", "")
		return nil, connectError(ep.addr.String(), err)
	}
	lg.local = raw.LocalAddr().String()
	mode, cfg := smtpclient.TLSOpportunistic, &tls.Config{InsecureSkipVerify: true, ServerName: ep.host, MinVersion: tls.VersionTLS12}
	if hop.ExchangeAuth && s.ExchangeTLS != nil {
		// Exchange server authentication: mutual TLS with lab certificates.
		mode, cfg = smtpclient.TLSRequired, s.ExchangeTLS(ep.host)
	}
	c, _, err := smtpclient.Dial(ctx, raw, smtpclient.Options{
		Helo: s.HeloName, TLS: mode, TLSConfig: cfg, Timeout: s.timeout(),
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
			return nil, replyError(ep.addr.String(), se.Reply)
		}
		if errors.As(err, &se) && se.Step == "tls" {
			return nil, replyError(ep.addr.String(), "454 4.7.0 TLS negotiation failed: "+err.Error())
		}
		return nil, connectError(ep.addr.String(), err)
	}
	c.SubmissionTimeout = 10 * time.Minute
	return &smtpConn{c: c, ep: ep, lg: lg}, nil
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
	return sc.c, sc.ep.addr.String(), nil
}

type smtpConn struct {
	c  *smtp.Client
	ep endpoint
	lg *protoTee
}

func (c *smtpConn) Remote() (string, string) { return c.ep.host, c.ep.addr.String() }

func (c *smtpConn) Close() error {
	err := c.c.Quit()
	if err != nil {
		c.c.Close()
	}
	c.lg.write("-", "", "")
	return nil
}

// Send implements Conn.
func (c *smtpConn) Send(ctx context.Context, m *Message, rcpts []string, body []byte) (map[string]Reply, error) {
	out := make(map[string]Reply, len(rcpts))
	mo := &smtp.MailOptions{Size: int64(len(body)), UTF8: m.UTF8 && needsUTF8(m), EnvelopeID: m.DSN.EnvID}
	switch m.DSN.Ret {
	case "FULL":
		mo.Return = smtp.DSNReturnFull
	case "HDRS":
		mo.Return = smtp.DSNReturnHeaders
	}
	if err := c.c.Mail(m.From, mo); err != nil {
		r, connErr := replyOf(err)
		if connErr != nil {
			return nil, connErr
		}
		for _, a := range rcpts {
			out[a] = r
		}
		c.c.Reset()
		return out, nil
	}
	var accepted []string
	for _, a := range rcpts {
		ro := &smtp.RcptOptions{}
		if rc := m.Recipient(a); rc != nil {
			for _, n := range rc.Notify {
				ro.Notify = append(ro.Notify, smtp.DSNNotify(strings.ToUpper(n)))
			}
			if t, addr, ok := strings.Cut(rc.ORCPT, ";"); ok {
				ro.OriginalRecipientType = smtp.DSNAddressType(strings.ToUpper(t))
				ro.OriginalRecipient = addr
			}
		}
		if err := c.c.Rcpt(a, ro); err != nil {
			r, connErr := replyOf(err)
			if connErr != nil {
				return nil, connErr
			}
			out[a] = r
			continue
		}
		accepted = append(accepted, a)
	}
	if len(accepted) == 0 {
		c.c.Reset()
		return out, nil
	}
	w, err := c.c.Data()
	if err != nil {
		r, connErr := replyOf(err)
		if connErr != nil {
			return nil, connErr
		}
		for _, a := range accepted {
			out[a] = r
		}
		c.c.Reset()
		return out, nil
	}
	if _, err := w.Write(body); err != nil {
		return nil, err
	}
	resp, err := w.CloseWithResponse()
	var r Reply
	if err != nil {
		var connErr error
		r, connErr = replyOf(err)
		if connErr != nil {
			return nil, connErr
		}
	} else {
		r = Reply{Code: 250, Text: strings.TrimSpace(resp.StatusText)}
		if !strings.HasPrefix(r.Text, "2.") {
			r.Text = "2.0.0 " + r.Text
		}
	}
	for _, a := range accepted {
		out[a] = r
	}
	return out, nil
}

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

// replyOf turns a go-smtp error into a Reply; anything that is not an SMTP
// reply, and 421 (the server is closing), is a connection failure.
func replyOf(err error) (Reply, error) {
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code == 421 {
		return Reply{}, err
	}
	return Reply{Code: se.Code, Text: smtpErrText(se)[4:]}, nil
}

func smtpErrText(se *smtp.SMTPError) string {
	text := se.Message
	if se.EnhancedCode != smtp.NoEnhancedCode && se.EnhancedCode != (smtp.EnhancedCode{}) {
		text = fmt.Sprintf("%d.%d.%d %s", se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2], se.Message)
	}
	return strconv.Itoa(se.Code) + " " + text
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
