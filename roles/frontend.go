package roles

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/exsim/exsim/servers/smtpd"
	"github.com/exsim/exsim/topology"
	"github.com/exsim/exsim/transport"
	"github.com/exsim/exsim/transport/smtpclient"
)

type feKind int

const (
	feDefault feKind = iota // Default Frontend <SERVER>, 25
	feClient                // Client Frontend <SERVER>, 587
)

// Front End Transport replies that are Exchange's own.
var (
	// replyNoBackend: no Transport service answered (Exchange's proxy
	// error codes carry a PRX number).
	replyNoBackend = &smtpd.Reply{Code: 451, Enhanced: "4.7.0", Text: "Temporary server error. Please try again later. PRX5"}
	// replySendAs: an authenticated client used another sender.
	replySendAs = &smtpd.Reply{Code: 550, Enhanced: "5.7.60", Text: "SMTP; Client does not have permissions to send as this sender"}
)

// frontend returns the Backend of Default Frontend or Client Frontend:
// Front End Transport is a stateless proxy. It checks what it can itself
// (relay, recipients, authentication) and opens a session to a Transport
// service (Default 2525, or Client Proxy 465 for client submissions) of a
// Mailbox server of the site, this one first, and answers 250 to the
// client only after Transport has accepted the message.
func (r *mailboxRole) frontend(kind feKind, in *transport.Ingress) smtpd.Backend {
	return smtpd.BackendFunc(func(c *smtpd.Conn) (smtpd.Session, error) {
		return &feSession{smtpAuth: smtpAuth{r: r, c: c}, kind: kind, in: in}, nil
	})
}

type feSession struct {
	smtpAuth // r, c
	kind     feKind
	in       *transport.Ingress

	env      transport.Envelope
	up       *smtp.Client
	upHost   *topology.Server
	upPort   int
	upRemote string
}

var (
	_ smtpd.AuthSession = (*feSession)(nil)
	_ smtpd.TLSSession  = (*feSession)(nil)
)

func (f *feSession) TLSEstablished(*tls.ConnectionState) error { return nil }

// trusted reports whether the session may relay and keep organization
// headers: an authenticated user or an Exchange server of the organization.
func (f *feSession) trusted() bool {
	return f.user != nil || f.peerServer() != nil
}

func (f *feSession) peerServer() *topology.Server {
	return exchangeServer(f.r.t, f.r.s.rt.ca, f.c.TLS())
}

func (f *feSession) Mail(from string, o *smtpd.MailOptions) error {
	if f.kind == feClient {
		if f.user == nil {
			return smtpd.ReplyNotAuthenticated
		}
		if from != "" && !strings.EqualFold(from, f.user.Address) {
			return replySendAs
		}
	}
	f.env = transport.Envelope{From: from, Mail: o}
	if err := f.connectUpstream(); err != nil {
		return err
	}
	mo := &smtp.MailOptions{Size: o.Size, UTF8: o.SMTPUTF8, EnvelopeID: o.EnvID, Return: smtp.DSNReturn(o.RET)}
	if err := f.up.Mail(from, mo); err != nil {
		return f.upstreamReply(err)
	}
	return nil
}

// connectUpstream opens (or reuses) the session to a Transport service:
// this session's, an idle one from the pool, or a new one.
func (f *feSession) connectUpstream() error {
	if f.up != nil {
		// Reset after every transaction keeps the session clean.
		return nil
	}
	port := 2525 // Default <SERVER>
	if f.kind == feClient {
		port = 465 // Client Proxy <SERVER>
	}
	if u := f.r.upstreams.get(port); u != nil {
		f.up, f.upHost, f.upRemote, f.upPort = u.c, u.host, u.remote, port
		return nil
	}
	ctx, cancel := context.WithTimeout(f.c.Context(), 30e9)
	defer cancel()
	for _, host := range f.r.mailboxServersLocalFirst() {
		addr := fmt.Sprintf("%s:%d", host.Addr(), f.r.t.Port(port))
		raw, err := f.r.s.dialer.DialContext(ctx, "tcp", addr)
		if err != nil {
			f.c.Logger().Warn("Transport service unreachable", "hop", addr, "err", err)
			continue
		}
		cli, _, err := smtpclient.Dial(ctx, raw, smtpclient.Options{
			Helo: f.r.s.Config.FQDN, TLS: smtpclient.TLSRequired,
			TLSConfig: f.r.s.clientTLS(host.FQDN),
		})
		if err != nil {
			f.c.Logger().Warn("Transport service refused the proxy session", "hop", addr, "err", err)
			continue
		}
		f.up, f.upHost, f.upPort = cli, host, port
		f.upRemote = raw.RemoteAddr().String()
		return nil
	}
	return replyNoBackend
}

// upstreamPool keeps idle proxy sessions to Transport services, so a
// client that opens a connection per message does not cost a new
// upstream session (and TLS handshake) each time.
type upstreamPool struct {
	mu   sync.Mutex
	idle map[int][]*pooledUpstream // by port
}

type pooledUpstream struct {
	c      *smtp.Client
	host   *topology.Server
	remote string
	since  time.Time
}

// upstreamIdle bounds how long a pooled session waits; Transport's
// connectors close idle sessions after minutes, so this stays well within.
const upstreamIdle = 30 * time.Second

func (p *upstreamPool) get(port int) *pooledUpstream {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.idle[port]) > 0 {
		n := len(p.idle[port]) - 1
		u := p.idle[port][n]
		p.idle[port] = p.idle[port][:n]
		if time.Since(u.since) < upstreamIdle {
			return u
		}
		u.c.Close()
	}
	return nil
}

// put returns a clean session to the pool, or closes it when the pool is full.
func (p *upstreamPool) put(port int, u *pooledUpstream) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.idle == nil {
		p.idle = map[int][]*pooledUpstream{}
	}
	if len(p.idle[port]) >= 32 {
		go u.c.Quit()
		return
	}
	u.since = time.Now()
	p.idle[port] = append(p.idle[port], u)
}

// mailboxServersLocalFirst lists the site's Mailbox servers, this one first.
func (r *mailboxRole) mailboxServersLocalFirst() []*topology.Server {
	out := []*topology.Server{r.s.Config}
	for _, m := range r.t.ServersByRole(topology.RoleMailbox) {
		if m.Name != r.s.Config.Name {
			out = append(out, m)
		}
	}
	return out
}

func (f *feSession) closeUpstream() {
	if f.up != nil {
		if f.up.Quit() != nil {
			f.up.Close()
		}
		f.up = nil
	}
}

// upstreamReply turns Transport's answer into the reply for the client. A
// broken upstream session is dropped and reported as a temporary error.
func (f *feSession) upstreamReply(err error) error {
	if r, ok := smtpReply(err); ok {
		return r
	}
	f.c.Logger().Warn("proxy session to Transport failed", "err", err)
	f.closeUpstream()
	return replyNoBackend
}

func (f *feSession) Rcpt(to string, o *smtpd.RcptOptions) error {
	if f.up == nil {
		return smtpd.ReplyBadSequence
	}
	domain := topology.Domain(to)
	if f.r.t.IsAcceptedDomain(domain) {
		if f.r.t.Mailbox(to) == nil {
			return smtpd.ReplyRecipientNotFound
		}
	} else if !f.trusted() {
		return smtpd.ReplyRelayDenied
	}
	ro := &smtp.RcptOptions{}
	if o != nil {
		if n := o.Notify.String(); n != "" {
			for _, x := range strings.Split(n, ",") {
				ro.Notify = append(ro.Notify, smtp.DSNNotify(x))
			}
		}
		if o.ORCPT != "" {
			ro.OriginalRecipientType, ro.OriginalRecipient = smtp.DSNAddressType(strings.ToUpper(o.ORCPTType)), o.ORCPT
		}
	}
	if err := f.up.Rcpt(to, ro); err != nil {
		return f.upstreamReply(err)
	}
	f.env.AddRcpt(to, o)
	return nil
}

func (f *feSession) Data(rd io.Reader) (*smtpd.Reply, error) {
	if f.up == nil {
		io.Copy(io.Discard, rd)
		return nil, smtpd.ReplyBadSequence
	}
	// The header firewall: only Exchange servers (ExchangeServers) bring
	// organization and forest headers; anonymous senders (AnonymousUsers)
	// and authenticated users (ExchangeUsers) bring routing headers only,
	// and this first Exchange hop stamps the organization's own.
	st := transport.Stamp{Accept: transport.AcceptHeaders(transport.AnonymousUsers), Org: transport.OrgStamp, AuthAs: "Anonymous", Date: true}
	switch {
	case f.peerServer() != nil:
		st.Accept, st.Org = transport.AcceptHeaders(transport.ExchangeServers), transport.OrgStampIfNew
	case f.user != nil:
		st.Accept, st.Org = transport.AcceptHeaders(transport.ExchangeUsers), transport.OrgStampIfNew
	}
	if f.user != nil {
		st.AuthAs, st.AuthMechanism = "Internal", "06"
	}
	if f.kind == feClient {
		clientIP, serverIP := ipOf(f.c.RemoteAddr()), ipOf(f.c.LocalAddr())
		st.Prepend = []string{fmt.Sprintf("X-ClientProxiedBy: %s (%s) To %s (%s)", f.r.s.Config.FQDN, serverIP, f.upHost.FQDN, hostOnly(f.upRemote))}
		st.Append = []string{"X-Originating-IP: [" + clientIP + "]"}
	}
	a, err := f.in.Prepare(f.c, &f.env, st, rd)
	if err != nil {
		return nil, err
	}
	defer a.Release()
	out := a.Data
	w, err := f.up.Data()
	if err != nil {
		return nil, f.upstreamReply(err)
	}
	if _, err := w.Write(out); err != nil {
		return nil, f.upstreamReply(err)
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		return nil, f.upstreamReply(err)
	}
	return acceptedReply(resp.StatusText), nil
}

// acceptedReply is the upstream's 250 reply to DATA (Transport's 250 2.6.0
// <id> [InternalId=..., Hostname=...]) as it goes back to the client, the
// way Exchange's Front End passes it on.
func acceptedReply(status string) *smtpd.Reply {
	text := strings.TrimSpace(status)
	enh := "2.6.0"
	if e, rest, ok := strings.Cut(text, " "); ok && len(e) >= 5 && e[1] == '.' {
		enh, text = e, rest
	}
	return &smtpd.Reply{Code: 250, Enhanced: enh, Text: text}
}

func (f *feSession) Reset() {
	f.env.Reset()
	if f.up != nil {
		if err := f.up.Reset(); err != nil {
			f.closeUpstream()
		}
	}
}

// Logout hands a clean upstream session back to the pool.
func (f *feSession) Logout() {
	if f.up != nil && f.env.From == "" && f.up.Reset() == nil {
		f.r.upstreams.put(f.upPort, &pooledUpstream{c: f.up, host: f.upHost, remote: f.upRemote})
		f.up = nil
		return
	}
	f.closeUpstream()
}

func hostOnly(addrPort string) string {
	if i := strings.LastIndexByte(addrPort, ':'); i > 0 {
		return strings.Trim(addrPort[:i], "[]")
	}
	return addrPort
}

// close ends every pooled session.
func (p *upstreamPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, us := range p.idle {
		for _, u := range us {
			u.c.Close()
		}
	}
	p.idle = nil
}
