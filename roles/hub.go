package roles

import (
	"context"
	"io"
	"strings"
	"time"

	"github.com/exsim/exsim/servers/smtpd"
	"github.com/exsim/exsim/topology"
	"github.com/exsim/exsim/transport"
)

// hub returns the Backend of the Transport service's Receive connectors:
// Default <SERVER> (2525) and Client Proxy <SERVER> (465). Only Exchange
// servers of the organization may use them; they categorize each
// recipient and queue the message durably before answering 250.
func (r *mailboxRole) hub(clientProxy bool) smtpd.Backend {
	return smtpd.BackendFunc(func(c *smtpd.Conn) (smtpd.Session, error) {
		return &hubSession{smtpAuth: smtpAuth{r: r, c: c}, r: r, c: c, clientProxy: clientProxy}, nil
	})
}

type hubSession struct {
	smtpAuth
	r           *mailboxRole
	c           *smtpd.Conn
	clientProxy bool
	peer        *topology.Server
	env         envelope
}

func (h *hubSession) Mail(from string, o *smtpd.MailOptions) error {
	h.peer = exchangeServer(h.r.t, h.r.s.rt.ca, h.c.RemoteAddr(), h.c.TLS())
	if h.peer == nil {
		return smtpd.ReplyNotAuthenticated
	}
	h.env.reset()
	h.env.from, h.env.mail = from, o
	return nil
}

func (h *hubSession) Rcpt(to string, o *smtpd.RcptOptions) error {
	if h.r.t.IsAcceptedDomain(topology.Domain(to)) && h.r.t.Mailbox(to) == nil {
		return smtpd.ReplyRecipientNotFound
	}
	h.env.addRcpt(to, o)
	return nil
}

func (h *hubSession) Data(rd io.Reader) (*smtpd.Reply, error) {
	start := time.Now()
	data, err := readMessage(rd)
	if err != nil {
		return nil, err
	}
	m := splitMessage(data)
	if hopCount(m) >= maxHopCount {
		return nil, smtpd.ReplyHopCount
	}
	msg, body := h.r.s.accept(h.c, h.env, m, "", h.r.t)
	if err := h.r.tr.Submit(context.Background(), msg, body); err != nil {
		h.c.Logger().Error("cannot queue message", "msg_id", msg.MessageID, "err", err)
		return nil, smtpd.ReplyInsufficientResources
	}
	return smtpd.Queued(msg.MessageID, msg.ID, h.r.s.Config.FQDN, int64(len(data)), time.Since(start)), nil
}

func (h *hubSession) Reset()  { h.env.reset() }
func (h *hubSession) Logout() {}

// accept turns a received transaction into a queued Message and its body
// as it goes on: with this hop's Received header, the organization headers
// read (from a trusted peer) or stamped, and a Message-Id.
func (s *Server) accept(c *smtpd.Conn, env envelope, m message, via string, t *topology.Topology) (*transport.Message, []byte) {
	now := s.rt.o.Now()
	clientIP, serverIP := ipOf(c.RemoteAddr()), ipOf(c.LocalAddr())
	prepend := []string{received(receivedHop{
		heloName: c.HeloName(), clientIP: clientIP, byFQDN: s.Config.FQDN, byIP: serverIP,
		tls: smtpd.TLSDescription(c.TLS()), build: t.BuildNumber(), via: via, when: now,
	})}
	var add []string
	msg := &transport.Message{
		From:    env.from,
		Subject: m.get("Subject"),
		Source: transport.Source{
			ClientIP: clientIP, ClientHostname: c.HeloName(), ServerIP: serverIP,
			Connector: s.Config.Name + `\` + connectorName(s, c), TLS: smtpd.TLSDescription(c.TLS()),
		},
		Recipients: env.rcpts,
	}
	if env.mail != nil {
		msg.DSN = transport.DSNParams{Ret: string(env.mail.RET), EnvID: env.mail.EnvID}
		msg.UTF8 = env.mail.SMTPUTF8
		msg.Body8Bit = string(env.mail.Body)
	}
	msg.NetworkID = m.get(hdrNetworkMessageID)
	if msg.NetworkID == "" {
		msg.NetworkID = newNetworkID()
		add = append(add, hdrNetworkMessageID+": "+msg.NetworkID)
	}
	if at, ok := parseArrivalTime(m.get(hdrOriginalArrival)); ok {
		msg.OriginalArrival = at
	} else {
		msg.OriginalArrival = now
		add = append(add, hdrOriginalArrival+": "+arrivalTime(now))
	}
	msg.Source.AuthAs = m.get(hdrAuthAs)
	if msg.Source.AuthAs == "" {
		msg.Source.AuthAs = "Internal"
		add = append(add, hdrAuthAs+": Internal", hdrAuthSource+": "+s.Config.FQDN)
	}
	msg.Source.OriginalClientIP = m.get(hdrOrigClientIP)
	if msg.Source.OriginalClientIP == "" {
		msg.Source.OriginalClientIP = clientIP
		add = append(add, hdrOrigClientIP+": "+clientIP, hdrOrigServerIP+": "+serverIP)
	}
	msg.MessageID = m.get("Message-ID")
	if msg.MessageID == "" {
		msg.MessageID = newMessageID(s.Config.FQDN)
		add = append(add, "Message-ID: "+msg.MessageID)
	}
	return msg, m.bytes(prepend, add)
}

// connectorName names the Receive connector a session came in on, from
// the local port.
func connectorName(s *Server, c *smtpd.Conn) string {
	port := 0
	if i := strings.LastIndexByte(c.LocalAddr().String(), ':'); i >= 0 {
		for _, ch := range c.LocalAddr().String()[i+1:] {
			port = port*10 + int(ch-'0')
		}
	}
	for _, l := range s.rt.o.Topology.Listeners(s.Config) {
		if l.Port == port && l.Protocol == "smtp" {
			return l.Name
		}
	}
	return "SMTP"
}
