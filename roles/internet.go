package roles

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/exsim/exsim/servers/smtpd"
	"github.com/exsim/exsim/store"
	"github.com/exsim/exsim/topology"
	"github.com/exsim/exsim/transport"
)

// internetRole is a mail host of "the internet": a plain, non-Exchange MTA
// for its domains. It is go-smtp's server (an ordinary MTA with an ordinary
// banner, deliberately not exsim's Exchange state machine): it accepts mail
// for its users on 25 and stores it durably, lets its users submit on 587
// and sends their mail on by MX lookup through the lab DNS, with a durable
// queue and retries. Its users read their mail over IMAP and POP3.
type internetRole struct {
	s     *Server
	t     *topology.Topology
	store *store.Store
	tr    *transport.Transport
	logs  *transportLogs
	accts accounts
}

// Plain-MTA replies (Postfix's wording, the most common internet MTA).
var (
	errRelayDenied = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Relay access denied"}
	errUserUnknown = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "Recipient address rejected: User unknown in virtual mailbox table"}
	errNeedAuth    = &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
	errTempFail    = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Error: queue file write error"}
	// Postfix's answer when its queue file system is short of space
	// (smtpd_check.c, "Insufficient system storage").
	errInsufficientResources = &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 3, 1}, Message: "Insufficient system storage"}
)

func (r *internetRole) start(ctx context.Context, s *Server) error {
	r.s, r.t = s, s.rt.o.Topology
	homes := map[string]bool{s.Config.Name: true}
	r.accts = accounts{t: r.t, homes: homes}
	var err error
	if r.logs, err = openTransportLogs(s, "Internet"); err != nil {
		return err
	}
	if r.store, err = s.openStore(ctx, store.Options{Logger: s.log, Folders: store.BasicFolders()}); err != nil {
		return err
	}
	r.tr, err = s.newTransport(transport.RouterFunc(r.route), r.logs, r.logs.send["Internet"], "MAILER-DAEMON@"+s.Config.FQDN)
	if err != nil {
		return err
	}
	s.transport, s.store = r.tr, r.store
	for _, kind := range []topology.ListenerKind{topology.SMTPInternet, topology.SMTPInternetSubmit} {
		err := s.serveEach(kind, nil, "SMTP listener stopped", smtp.ErrServerClosed, func(l topology.Listener) (servable, error) {
			srv := smtp.NewServer(&internetBackend{r: r, submission: kind == topology.SMTPInternetSubmit})
			srv.Domain = s.Config.FQDN
			srv.TLSConfig = s.serverTLS(kind)
			srv.MaxMessageBytes = 50 << 20
			srv.MaxRecipients = 1000
			srv.ReadTimeout = 5 * time.Minute
			srv.WriteTimeout = 5 * time.Minute
			srv.AllowInsecureAuth = false
			srv.EnableSMTPUTF8 = true
			srv.EnableDSN = true
			srv.ErrorLog = slogLogger{s.log.With("listener", l.Name)}
			return srv, nil
		})
		if err != nil {
			return err
		}
	}
	if err := r.startMailAccess(ctx); err != nil {
		return err
	}
	return r.startOpenProxy(ctx)
}

// route sends everything by MX lookup through the lab DNS.
func (r *internetRole) route(ctx context.Context, m *transport.Message, rcpt string) transport.NextHop {
	domain := topology.Domain(rcpt)
	return transport.NextHop{Type: transport.DeliveryDNS, Domain: domain, Connector: "smtp", MX: true, Port: r.t.Port(25)}
}

func (r *internetRole) hosts(domain string) bool {
	return r.t.InternetServerFor(domain) == r.s.Config
}

type internetBackend struct {
	r          *internetRole
	submission bool
}

func (b *internetBackend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &internetSession{r: b.r, c: c, submission: b.submission}, nil
}

type internetSession struct {
	r          *internetRole
	c          *smtp.Conn
	submission bool
	user       *topology.Mailbox
	from       string
	opts       *smtp.MailOptions
	rcpts      []transport.Recipient
}

var _ smtp.AuthSession = (*internetSession)(nil)

func (s *internetSession) AuthMechanisms() []string { return []string{sasl.Plain, sasl.Login} }

func (s *internetSession) Auth(mech string) (sasl.Server, error) {
	check := func(user, pass string) error {
		m, err := s.r.accts.Authenticate(user, pass)
		if err != nil {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Error: authentication failed"}
		}
		s.user = m
		return nil
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(_, user, pass string) error { return check(user, pass) }), nil
	case sasl.Login:
		return smtpd.NewLoginServer(check), nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (s *internetSession) Mail(from string, o *smtp.MailOptions) error {
	if s.submission && s.user == nil {
		return errNeedAuth
	}
	s.from, s.opts, s.rcpts = from, o, nil
	return nil
}

func (s *internetSession) Rcpt(to string, o *smtp.RcptOptions) error {
	domain := topology.Domain(to)
	if s.r.hosts(domain) {
		if mb := s.r.t.Mailbox(to); mb == nil || mb.Server != s.r.s.Config.Name {
			return errUserUnknown
		}
	} else if s.user == nil {
		return errRelayDenied
	}
	rc := transport.Recipient{Address: to}
	if o != nil {
		for _, n := range o.Notify {
			rc.Notify = append(rc.Notify, string(n))
		}
		if o.OriginalRecipient != "" {
			rc.ORCPT = strings.ToLower(string(o.OriginalRecipientType)) + ";" + o.OriginalRecipient
		}
	}
	s.rcpts = append(s.rcpts, rc)
	return nil
}

func (s *internetSession) Data(rd io.Reader) error {
	data, release, err := transport.ReadMessage(rd)
	if errors.Is(err, smtpd.ReplyInsufficientResources) {
		return errInsufficientResources
	}
	if err != nil {
		return err
	}
	defer release()
	now := s.r.s.rt.o.Now()
	clientIP := ipOf(s.c.Conn().RemoteAddr())
	proto := "ESMTP"
	if _, ok := s.c.TLSConnectionState(); ok {
		proto = "ESMTPS"
	}
	if s.user != nil {
		proto += "A"
	}
	m := transport.SplitMessage(data)
	id := strings.ToUpper(transport.NewNetworkID()[:12])
	recv := fmt.Sprintf("Received: from %s (%s [%s]) by %s with %s id %s; %s", s.c.Hostname(), clientIP, clientIP, s.r.s.Config.FQDN, proto, id, now.Format("Mon, 2 Jan 2006 15:04:05 -0700"))
	var add []string
	if m.Get("Message-ID") == "" {
		add = append(add, fmt.Sprintf("Message-ID: <%s@%s>", id, s.r.s.Config.FQDN))
	}
	if m.Get("Date") == "" {
		add = append(add, "Date: "+now.Format("Mon, 2 Jan 2006 15:04:05 -0700"))
	}
	body := m.Bytes([]string{recv}, add)
	var local []string
	var remote []transport.Recipient
	for _, rc := range s.rcpts {
		if s.r.hosts(topology.Domain(rc.Address)) {
			local = append(local, rc.Address)
		} else {
			remote = append(remote, rc)
		}
	}
	msgID := m.Get("Message-ID")
	if msgID == "" {
		msgID = fmt.Sprintf("<%s@%s>", id, s.r.s.Config.FQDN)
	}
	if len(local) > 0 {
		if _, err := s.r.store.Deliver(context.Background(), body, local...); err != nil {
			s.r.s.log.Error("local delivery failed", "err", err)
			return errTempFail
		}
		s.r.logs.tracking.Write(transport.LogDelivery, &transport.TrackingEvent{
			ClientIP: clientIP, ClientHostname: s.c.Hostname(), ServerHostname: s.r.s.Config.FQDN,
			Source: transport.SourceStoreDriver, EventID: transport.EventDeliver, MessageID: msgID,
			Recipients: local, RecipientCount: len(local), TotalBytes: int64(len(body)),
			MessageSubject: m.Get("Subject"), Sender: s.from, ReturnPath: s.from,
		})
	}
	if len(remote) > 0 {
		msg := &transport.Message{
			MessageID: msgID, NetworkID: transport.NewNetworkID(), From: s.from, Subject: m.Get("Subject"),
			Source:     transport.Source{ClientIP: clientIP, ClientHostname: s.c.Hostname(), ServerIP: ipOf(s.c.Conn().LocalAddr()), Connector: s.r.s.Config.Name + `\Submission`, AuthAs: "Internal"},
			Recipients: remote,
		}
		if s.opts != nil {
			msg.DSN = transport.DSNParams{Ret: string(s.opts.Return), EnvID: s.opts.EnvelopeID}
			msg.UTF8 = s.opts.UTF8
		}
		if err := s.r.tr.Submit(context.Background(), msg, body); err != nil {
			s.r.s.log.Error("cannot queue message", "err", err)
			return errTempFail
		}
	}
	return nil
}

func (s *internetSession) Reset()        { s.from, s.opts, s.rcpts = "", nil, nil }
func (s *internetSession) Logout() error { return nil }
