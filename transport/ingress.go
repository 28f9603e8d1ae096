package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/exsim/exsim/internal/membudget"

	"github.com/exsim/exsim/servers/smtpd"
)

// Ingress is how a message enters a server, the one path every Receive
// connector takes (Edge, Front End Transport, Transport, Mailbox Transport
// Delivery): read the DATA once, check the hop count, stamp this hop's
// Received header, apply the header firewall, stamp or fill in the
// X-MS-Exchange-Organization headers and the Message-Id, then hand the
// message to a Target (the queue, or mailbox delivery) and word the reply.
// The role decides the policy (Stamp); Ingress does the protocol.
type Ingress struct {
	// Connector is the Receive connector, "EX01\Default EX01"
	// (tracking connector-id).
	Connector string
	// FQDN and Build are this server's, for Received and the 250 reply.
	FQDN  string
	Build string // 15.2.1258.12
	// Via ends this hop's Received header: "Frontend Transport",
	// "Mailbox Transport" or "" (Transport, Edge).
	Via string
	Now func() time.Time
}

// MaxHopCount is Set-TransportConfig's MaxHopCount (a real server's
// Get-ReceiveConnector reports 60; EXCHANGE.md section 2): a message with
// that many Received fields is refused as a loop.
const MaxHopCount = 60

// ReceiveConn is what Ingress needs of an SMTP connection (*smtpd.Conn).
type ReceiveConn interface {
	Context() context.Context
	RemoteAddr() net.Addr
	LocalAddr() net.Addr
	HeloName() string
	TLS() *tls.ConnectionState
	Logger() *slog.Logger
}

var _ ReceiveConn = (*smtpd.Conn)(nil)

// OrgHeaders says how a hop treats the X-MS-Exchange-Organization headers.
type OrgHeaders int

const (
	// OrgFill: the peer is trusted; keep what it sent and fill in what is
	// missing (AuthAs Internal). Transport, Mailbox delivery, and the Edge
	// for Mailbox servers of its site.
	OrgFill OrgHeaders = iota
	// OrgStamp: this first Exchange hop stamps the organization's own
	// (the header firewall has removed what an anonymous peer sent: it
	// goes with an Accept that lacks PermitOrganization).
	OrgStamp
	// OrgStampIfNew: keep them when the message already carries a
	// Network-Message-Id, else stamp the organization's own (Front End
	// Transport for authenticated users and Exchange servers).
	OrgStampIfNew
)

// Stamp is a hop's header policy, decided by the role.
type Stamp struct {
	// Accept are the header firewall permissions the session's security
	// principal holds on this Receive connector (AcceptHeaders of its
	// permission group): the fields it lacks are removed as the message
	// arrives, before this hop adds its own.
	Accept HeaderPermissions
	Org    OrgHeaders
	// AuthAs and AuthMechanism are stamped with the organization headers
	// (OrgStamp, OrgStampIfNew): Anonymous or Internal, and "06" for an
	// authenticated client submission ("" for none).
	AuthAs, AuthMechanism string
	// Prepend are fields after this hop's Received (X-ClientProxiedBy);
	// Append go after the organization headers (X-Originating-IP).
	Prepend, Append []string
	// Date adds a Date field to a message without one (Front End).
	Date bool
}

// Accepted is a message that passed ingress, as it goes on.
type Accepted struct {
	Message *Message
	// Data is the whole message with this hop's headers. It is valid until
	// Release.
	Data []byte
	// Received is how many bytes the client sent.
	Received int64
	start    time.Time
	release  func()
}

// Release gives Data's memory back to the process-wide budget; Data must
// not be used afterwards.
func (a *Accepted) Release() {
	if a.release != nil {
		a.release()
		a.release, a.Data = nil, nil
	}
}

// Receive takes a message from a DATA (or BDAT) stream to target and
// returns the reply: Exchange's 250 with the target's InternalId, or the
// reply for what went wrong (a hop-count loop, a size limit smtpd
// enforced, a target that failed).
func (in *Ingress) Receive(c ReceiveConn, env *Envelope, st Stamp, r io.Reader, target Target) (*smtpd.Reply, error) {
	a, err := in.accept(c, env, st, r, target)
	if err != nil {
		return nil, err
	}
	defer a.Release()
	m := a.Message
	if err := deliverTo(c.Context(), target, m, a.Data); err != nil {
		c.Logger().Error("message not accepted", "msg_id", m.MessageID, "err", err)
		var rep *smtpd.Reply
		if errors.As(err, &rep) {
			return nil, rep
		}
		return nil, smtpd.ReplyInsufficientResources
	}
	return smtpd.Queued(m.MessageID, m.ID, in.FQDN, a.Received, time.Since(a.start)), nil
}

// Prepare is Receive without a target, for a hop that passes the message
// on itself (Front End Transport's proxy). The caller must Release it.
func (in *Ingress) Prepare(c ReceiveConn, env *Envelope, st Stamp, r io.Reader) (*Accepted, error) {
	return in.accept(c, env, st, r, nil)
}

// deliverTo runs one delivery to target: StartDelivery, AddRcpt for every
// recipient, Body, Commit (Abort on the first failure).
func deliverTo(ctx context.Context, target Target, m *Message, body []byte) error {
	rcpts := m.Recipients
	m.Recipients = nil
	d, err := target.StartDelivery(ctx, m)
	if err != nil {
		return err
	}
	for _, r := range rcpts {
		if err := d.AddRcpt(ctx, r); err != nil {
			d.Abort(ctx)
			return err
		}
	}
	if err := d.Body(ctx, body); err != nil {
		d.Abort(ctx)
		return err
	}
	return d.Commit(ctx)
}

func (in *Ingress) accept(c ReceiveConn, env *Envelope, st Stamp, r io.Reader, target Target) (*Accepted, error) {
	start := time.Now()
	buf, release, err := readMessage(r)
	if err != nil {
		return nil, err
	}
	data := buf[headroom:]
	a := &Accepted{Received: int64(len(data)), start: start, release: release}
	raw := SplitMessage(data)
	if raw.Count("Received") >= MaxHopCount {
		a.Release()
		return nil, smtpd.ReplyHopCount
	}
	now := in.Now()
	clientIP, serverIP := ipOf(c.RemoteAddr()), ipOf(c.LocalAddr())
	tlsDesc := smtpd.TLSDescription(c.TLS())
	prepend := append([]string{in.Received(c, now)}, st.Prepend...)
	m := &Message{
		From: env.From, Arrived: now,
		Source: Source{
			ClientIP: clientIP, ClientHostname: c.HeloName(), ServerIP: serverIP,
			Connector: in.Connector, TLS: tlsDesc,
		},
		Recipients: env.Rcpts,
	}
	if o := env.Mail; o != nil {
		m.DSN = DSNParams{Ret: string(o.RET), EnvID: o.EnvID}
		m.UTF8 = o.SMTPUTF8
		m.Body8Bit = string(o.Body)
	}
	raw = raw.Firewall(st.Accept)
	var add []string
	netID := raw.Get(HeaderNetworkMessageID)
	if st.Org == OrgStamp || st.Org == OrgStampIfNew && netID == "" {
		m.NetworkID = NewNetworkID()
		at := ArrivalTime(now)
		m.OriginalArrival, _ = ParseArrivalTime(at)
		m.Source.AuthAs, m.Source.OriginalClientIP = st.AuthAs, clientIP
		add = append(add,
			HeaderNetworkMessageID+": "+m.NetworkID,
			HeaderOriginalArrival+": "+at,
			HeaderAuthSource+": "+in.FQDN,
			HeaderAuthAs+": "+st.AuthAs,
			HeaderOrigClientIP+": "+clientIP,
			HeaderOrigServerIP+": "+serverIP,
		)
		if st.AuthMechanism != "" {
			add = append(add, HeaderAuthMechanism+": "+st.AuthMechanism)
		}
	} else {
		add = fillOrgHeaders(raw, m, netID, st.Org == OrgFill, in.FQDN, now, add)
	}
	add = append(add, st.Append...)
	m.Subject = raw.Get("Subject")
	if m.MessageID = raw.Get("Message-ID"); m.MessageID == "" {
		m.MessageID = NewMessageID(in.FQDN)
		add = append(add, "Message-ID: "+m.MessageID)
	}
	if st.Date && raw.Get("Date") == "" {
		add = append(add, "Date: "+now.Format("Mon, 2 Jan 2006 15:04:05 -0700"))
	}
	if s, ok := target.(Stamper); ok {
		add = append(add, s.Stamp(m, now)...)
	}
	a.Message = m
	a.Data = raw.BytesInPlace(buf, prepend, add)
	return a, nil
}

// Received is this hop's Received header for a message that arrived on c
// (EXCHANGE.md section 3).
func (in *Ingress) Received(c ReceiveConn, now time.Time) string {
	return ReceivedHop{
		HeloName: c.HeloName(), ClientIP: ipOf(c.RemoteAddr()), ByFQDN: in.FQDN, ByIP: ipOf(c.LocalAddr()),
		TLS: smtpd.TLSDescription(c.TLS()), Build: in.Build, Via: in.Via, When: now,
	}.String()
}

// fillOrgHeaders reads the organization headers a trusted peer sent into m
// and, when fill, stamps those that are missing.
func fillOrgHeaders(raw RawMessage, m *Message, netID string, fill bool, fqdn string, now time.Time, add []string) []string {
	clientIP, serverIP := m.Source.ClientIP, m.Source.ServerIP
	if m.NetworkID = netID; netID == "" && fill {
		m.NetworkID = NewNetworkID()
		add = append(add, HeaderNetworkMessageID+": "+m.NetworkID)
	}
	if at, ok := ParseArrivalTime(raw.Get(HeaderOriginalArrival)); ok {
		m.OriginalArrival = at
	} else {
		m.OriginalArrival = now
		if fill {
			add = append(add, HeaderOriginalArrival+": "+ArrivalTime(now))
		}
	}
	if m.Source.AuthAs = raw.Get(HeaderAuthAs); m.Source.AuthAs == "" && fill {
		m.Source.AuthAs = "Internal"
		add = append(add, HeaderAuthAs+": Internal", HeaderAuthSource+": "+fqdn)
	}
	if m.Source.OriginalClientIP = raw.Get(HeaderOrigClientIP); m.Source.OriginalClientIP == "" && fill {
		m.Source.OriginalClientIP = clientIP
		add = append(add, HeaderOrigClientIP+": "+clientIP, HeaderOrigServerIP+": "+serverIP)
	}
	return add
}

// ipOf is the IP of a connection endpoint, without the port.
func ipOf(a net.Addr) string {
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr().Unmap().String()
	}
	h, _, _ := net.SplitHostPort(a.String())
	return h
}

// headroom is the space readMessage leaves before the message, where this
// hop's header fields go without moving the body.
const headroom = 2048

// memFactor is how many times a message's size Ingress draws from the
// process-wide memory budget while it holds the message: the message and
// the queue database's copy of its pages until the commit's fsync.
const memFactor = 2

// readMessage reads the DATA stream once, with at most a small piece of it
// in memory while it arrives (the rest goes to a temporary file), then
// loads it into one buffer after headroom bytes, drawn from the
// process-wide budget; data is the message. A message that fits in
// membudget's pooled read buffer stays where it was read: this hop's
// header section goes into the headroom in front of its body
// (BytesInPlace), and nothing is copied. A size-limit error from smtpd
// is returned as is, so the connector answers with Exchange's reply; a
// spent budget is Exchange's back-pressure reply, 452 4.3.1.
func readMessage(r io.Reader) (buf []byte, release func(), err error) {
	sp, err := membudget.Read(r, headroom)
	defer sp.Close()
	if err == nil {
		buf, release, err = sp.Load(memFactor)
	}
	if errors.Is(err, membudget.ErrExhausted) {
		return nil, nil, smtpd.ReplyInsufficientResources
	}
	return buf, release, err
}

// Envelope is a mail transaction's sender and recipients, as a session
// collects them.
type Envelope struct {
	From  string
	Mail  *smtpd.MailOptions
	Rcpts []Recipient
}

// Reset starts a new transaction.
func (e *Envelope) Reset() { *e = Envelope{} }

// AddRcpt adds a recipient with its DSN parameters (RFC 3461).
func (e *Envelope) AddRcpt(to string, o *smtpd.RcptOptions) {
	r := Recipient{Address: to}
	if o != nil {
		if n := o.Notify.String(); n != "" {
			r.Notify = strings.Split(n, ",")
		}
		if o.ORCPT != "" {
			r.ORCPT = o.ORCPTType + ";" + o.ORCPT
		}
	}
	e.Rcpts = append(e.Rcpts, r)
}

// ReadMessage is how a session that is not an Ingress (the internet's MTA,
// the outbound proxy) reads a DATA stream under the same bounds: data is
// the message, release gives its memory back. A spent budget is
// smtpd.ReplyInsufficientResources.
func ReadMessage(r io.Reader) (data []byte, release func(), err error) {
	buf, release, err := readMessage(r)
	if err != nil {
		return nil, nil, err
	}
	return buf[headroom:], release, nil
}
