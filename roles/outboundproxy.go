package roles

import (
	"context"
	"io"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/exsim/exsim/servers/smtpd"
	"github.com/exsim/exsim/topology"
	"github.com/exsim/exsim/transport"
)

// outboundProxy returns the Backend of Outbound Proxy Frontend <SERVER>
// (717): the Transport service of a Mailbox server whose Send connector has
// FrontEndProxyEnabled hands outbound mail here, and Front End Transport
// relays it, command by command, to the connector's destination (DNS MX or
// smart hosts). It answers the Transport service with the destination's
// own replies, so nothing is acknowledged that the next hop did not take.
// It only stamps its Received header (in's), as a relay, and applies the
// Send connector's header firewall.
func (r *mailboxRole) outboundProxy(in *transport.Ingress) smtpd.Backend {
	return smtpd.BackendFunc(func(c *smtpd.Conn) (smtpd.Session, error) {
		return &proxySession{smtpAuth: smtpAuth{r: r, c: c}, in: in}, nil
	})
}

type proxySession struct {
	smtpAuth // r, c
	in       *transport.Ingress
	peer     *topology.Server
	from     string
	mail     *smtpd.MailOptions
	up       *smtp.Client
	dest     string
	// keep are the header firewall permissions of the Send connector the
	// message leaves through.
	keep transport.HeaderPermissions
}

func (p *proxySession) Mail(from string, o *smtpd.MailOptions) error {
	p.peer = p.exchangePeer()
	if p.peer == nil || p.peer.Role != topology.RoleMailbox {
		return smtpd.ReplyNotAuthenticated
	}
	p.closeUpstream()
	p.from, p.mail = from, o
	return nil
}

// connectorFor finds the FrontEndProxyEnabled Send connector of the peer
// that serves domain, as the peer's router chose it.
func (p *proxySession) connectorFor(domain string) *topology.SendConnector {
	var best *topology.SendConnector
	bestSpec := -1
	for i := range p.r.t.SendConnectors {
		c := &p.r.t.SendConnectors[i]
		if !c.FrontEndProxyEnabled || !containsFold(c.SourceServers, p.peer.Name) {
			continue
		}
		if spec := addressSpaceMatch(c.AddressSpaces, domain); spec > bestSpec || spec == bestSpec && best != nil && c.Cost < best.Cost {
			best, bestSpec = c, spec
		}
	}
	return best
}

func (p *proxySession) Rcpt(to string, o *smtpd.RcptOptions) error {
	if p.peer == nil {
		return smtpd.ReplyBadSequence
	}
	if p.up == nil {
		domain := topology.Domain(to)
		c := p.connectorFor(domain)
		if c == nil {
			return &smtpd.Reply{Code: 550, Enhanced: "5.4.4", Text: transport.ErrNoConnector}
		}
		hop := transport.NextHop{Connector: c.Name, Port: p.r.t.Port(c.Port), SendHeaders: transport.SendHeaders(transport.UsageInternet)}
		if c.DNSRouting() {
			hop.Domain, hop.MX = domain, true
		} else {
			hop.Domain, hop.Hosts = c.Name, c.SmartHosts
		}
		ctx, cancel := context.WithTimeout(p.c.Context(), time.Minute)
		defer cancel()
		up, dest, err := p.r.feSender.OpenClient(ctx, hop)
		if err != nil {
			// The Transport service retries and shows this as LastError.
			return replyFromLastError(transport.LastError(err))
		}
		mo := &smtp.MailOptions{Size: p.mail.Size, UTF8: p.mail.SMTPUTF8, EnvelopeID: p.mail.EnvID, Return: smtp.DSNReturn(p.mail.RET)}
		if err := up.Mail(p.from, mo); err != nil {
			up.Close()
			return proxyReply(err)
		}
		p.up, p.dest, p.keep = up, dest, hop.SendHeaders
	}
	ro := &smtp.RcptOptions{}
	if o != nil && o.Notify != 0 {
		for _, x := range strings.Split(o.Notify.String(), ",") {
			ro.Notify = append(ro.Notify, smtp.DSNNotify(x))
		}
	}
	if err := p.up.Rcpt(to, ro); err != nil {
		return proxyReply(err)
	}
	return nil
}

func (p *proxySession) Data(rd io.Reader) (*smtpd.Reply, error) {
	data, release, err := transport.ReadMessage(rd)
	if err != nil {
		return nil, err
	}
	defer release()
	if p.up == nil {
		return nil, smtpd.ReplyBadSequence
	}
	// The Send connector's header firewall (mailbox.go routeExternal):
	// the Front End applies it as the message leaves the organization.
	m := transport.SplitMessage(data).Firewall(p.keep)
	var received []string
	if p.keep&transport.PermitRouting != 0 {
		received = []string{p.in.Received(p.c, p.r.s.rt.o.Now())}
	}
	out := m.Bytes(received, nil)
	w, err := p.up.Data()
	if err != nil {
		return nil, proxyReply(err)
	}
	if _, err := w.Write(out); err != nil {
		p.closeUpstream()
		return nil, replyNoBackend
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		return nil, proxyReply(err)
	}
	return acceptedReply(resp.StatusText), nil
}

func (p *proxySession) closeUpstream() {
	if p.up != nil {
		if p.up.Quit() != nil {
			p.up.Close()
		}
		p.up = nil
	}
}

func (p *proxySession) Reset()  { p.closeUpstream() }
func (p *proxySession) Logout() { p.closeUpstream() }

// proxyReply passes the destination's reply back; a broken session is a
// temporary failure the Transport service retries.
func proxyReply(err error) error {
	if r, ok := smtpReply(err); ok {
		return r
	}
	return replyNoBackend
}

// replyFromLastError turns a queue LastError ("451 4.4.0 ...") into a reply.
func replyFromLastError(s string) *smtpd.Reply {
	code, rest, _ := strings.Cut(s, " ")
	enh, text, _ := strings.Cut(rest, " ")
	n := 451
	if len(code) == 3 {
		n = int(code[0]-'0')*100 + int(code[1]-'0')*10 + int(code[2]-'0')
	}
	return &smtpd.Reply{Code: n, Enhanced: enh, Text: text}
}
