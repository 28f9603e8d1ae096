package roles

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

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
// (relay, recipients, authentication) and, from the first recipient on,
// relays the transaction to a Transport service (Default 2525, or Client
// Proxy 465 for client submissions) of a Mailbox server of the site, this
// one first: every RCPT gets the Transport service's reply, and the client
// gets 250 for its message only after Transport has queued it. The relay
// is pipelined (smtpclient's relay.go): MAIL goes with the first RCPT, the
// message as one BDAT LAST chunk, and no RSET follows a finished
// transaction.
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
	inTx     bool // MAIL given, the transaction not over
	up       *smtpclient.Client
	upPooled bool // up came from the pool: it may have died while idle
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
	return f.user != nil || f.exchangePeer() != nil
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
	// Nothing goes to Transport before the first recipient (relay.go).
	f.env = transport.Envelope{From: from, Mail: o}
	f.inTx = true
	return nil
}

// upstreamMail starts the transaction on the upstream session: MAIL with
// the client's parameters, sent with the first RCPT.
func (f *feSession) upstreamMail() {
	o := f.env.Mail
	env := &smtpclient.Envelope{From: f.env.From}
	var size int64
	if o != nil {
		env.UTF8, env.EnvID, env.Ret, size = o.SMTPUTF8, o.EnvID, string(o.RET), o.Size
	}
	f.up.Mail(env, size)
}

// connectUpstream opens (or reuses) the session to a Transport service:
// this session's, an idle one from the pool, or a new one (fresh: not
// from the pool).
func (f *feSession) connectUpstream(fresh bool) error {
	if f.up != nil {
		return nil
	}
	port := 2525 // Default <SERVER>
	if f.kind == feClient {
		port = 465 // Client Proxy <SERVER>
	}
	if !fresh {
		if u := f.r.upstreams.get(port); u != nil {
			f.up, f.upHost, f.upRemote, f.upPort, f.upPooled = u.c, u.host, u.remote, port, true
			return nil
		}
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
		cli, err := smtpclient.NewClient(ctx, raw, smtpclient.Options{
			Helo: f.r.s.Config.FQDN, TLS: smtpclient.TLSRequired,
			TLSConfig: f.r.s.clientTLS(host.FQDN), Chunking: true,
		})
		if err != nil {
			f.c.Logger().Warn("Transport service refused the proxy session", "hop", addr, "err", err)
			continue
		}
		f.up, f.upHost, f.upPort, f.upPooled = cli, host, port, false
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
	c      *smtpclient.Client
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
		u.c.SMTP().Close()
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
		go u.c.Close()
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

// upstreamFailed drops a broken upstream session and answers the client
// with a temporary error.
func (f *feSession) upstreamFailed(err error) error {
	f.c.Logger().Warn("proxy session to Transport failed", "err", err)
	f.dropUpstream()
	return replyNoBackend
}

// dropUpstream closes the upstream session without a word to Transport.
func (f *feSession) dropUpstream() {
	f.up.SMTP().Close()
	f.up = nil
}

// upstreamReply is a reply of the Transport service as it goes back to
// the client: the enhanced code taken apart from the text on every line.
func upstreamReply(r smtpclient.Reply) *smtpd.Reply {
	lines := strings.Split(r.Text, "\n")
	enh, _, _ := strings.Cut(lines[0], " ")
	if len(enh) < 5 || enh[1] != '.' || enh[0] != byte('0'+r.Code/100) {
		return &smtpd.Reply{Code: r.Code, Text: r.Text}
	}
	for i := range lines {
		lines[i] = strings.TrimPrefix(strings.TrimPrefix(lines[i], enh), " ")
	}
	return &smtpd.Reply{Code: r.Code, Enhanced: enh, Text: strings.Join(lines, "\n")}
}

func (f *feSession) Rcpt(to string, o *smtpd.RcptOptions) error {
	if !f.inTx {
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
	var env transport.Envelope
	env.AddRcpt(to, o)
	rc := smtpclient.Rcpt{Address: to, Notify: env.Rcpts[0].Notify, ORCPT: env.Rcpts[0].ORCPT}
	r, err := f.upstreamRcpt(rc)
	if err != nil {
		return err
	}
	if !r.OK() {
		return upstreamReply(r)
	}
	f.env.Rcpts = append(f.env.Rcpts, env.Rcpts[0])
	return nil
}

// upstreamRcpt relays one recipient, connecting (and sending MAIL) first
// for the transaction's first. A pooled session that died while idle is
// replaced once: nothing of the transaction had reached it. Any other
// failure ends the client's transaction: RCPT and DATA then get 503 until
// the client starts over.
func (f *feSession) upstreamRcpt(rc smtpclient.Rcpt) (smtpclient.Reply, error) {
	for fresh := false; ; fresh = true {
		if err := f.connectUpstream(fresh); err != nil {
			return smtpclient.Reply{}, err
		}
		first := !f.up.InTransaction()
		if first {
			f.upstreamMail()
		}
		r, err := f.up.Rcpt(rc)
		if err == nil {
			return r, nil
		}
		retry := first && f.upPooled && !fresh
		err = f.upstreamFailed(err)
		if !retry {
			// The recipients accepted so far were in the lost upstream
			// transaction: end the client's too, or the next RCPT would
			// start a new one without them.
			f.env.Reset()
			f.inTx = false
			return smtpclient.Reply{}, err
		}
	}
}

func (f *feSession) Data(rd io.Reader) (*smtpd.Reply, error) {
	if f.up == nil || !f.up.InTransaction() {
		io.Copy(io.Discard, rd)
		return nil, smtpd.ReplyBadSequence
	}
	// The header firewall: only Exchange servers (ExchangeServers) bring
	// organization and forest headers; anonymous senders (AnonymousUsers)
	// and authenticated users (ExchangeUsers) bring routing headers only,
	// and this first Exchange hop stamps the organization's own.
	st := transport.Stamp{Accept: transport.AcceptHeaders(transport.AnonymousUsers), Org: transport.OrgStamp, AuthAs: "Anonymous", Date: true}
	switch {
	case f.exchangePeer() != nil:
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
	r, err := f.up.Data(a.Data)
	if err != nil {
		return nil, f.upstreamFailed(err)
	}
	if !r.OK() {
		return nil, upstreamReply(r)
	}
	return acceptedReply(r.Text), nil
}

// acceptedReply is the upstream's 250 reply to DATA (Transport's 250 2.6.0
// <id> [InternalId=..., Hostname=...]) as it goes back to the client, the
// way Exchange's Front End passes it on: upstreamReply, with 2.6.0 for a
// reply that came without an enhanced code.
func acceptedReply(status string) *smtpd.Reply {
	r := upstreamReply(smtpclient.Reply{Code: 250, Text: strings.TrimSpace(status)})
	if r.Enhanced == "" {
		r.Enhanced = "2.6.0"
	}
	return r
}

// Reset ends the transaction; the upstream session costs an RSET only
// when Transport holds the transaction open (the client gave up before
// the end of its message).
func (f *feSession) Reset() {
	f.env.Reset()
	f.inTx = false
	if f.up != nil {
		if err := f.up.Reset(); err != nil {
			f.dropUpstream()
		}
	}
}

// Logout hands a clean upstream session back to the pool.
func (f *feSession) Logout() {
	if f.up == nil {
		return
	}
	if f.up.Reset() != nil {
		f.dropUpstream()
		return
	}
	f.r.upstreams.put(f.upPort, &pooledUpstream{c: f.up, host: f.upHost, remote: f.upRemote})
	f.up = nil
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
			u.c.SMTP().Close()
		}
	}
	p.idle = nil
}
