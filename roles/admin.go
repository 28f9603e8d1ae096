package roles

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/exsim/exsim/internal/control"
	"github.com/exsim/exsim/store"
	"github.com/exsim/exsim/transport"
	"github.com/exsim/exsim/transport/smtpclient"
)

var _ control.Lab = (*Runtime)(nil)

// Running names the servers of this process.
func (rt *Runtime) Running() []string {
	out := make([]string, len(rt.servers))
	for i, s := range rt.servers {
		out[i] = s.Config.Name
	}
	return out
}

// Health reports every listener of every server.
func (rt *Runtime) Health() []control.ServerHealth {
	var out []control.ServerHealth
	for _, s := range rt.servers {
		h := control.ServerHealth{Name: s.Config.Name, Role: s.Config.Role, Address: s.Config.Address}
		for _, b := range s.Listeners() {
			lh := control.ListenerHealth{Listener: b.Listener, Address: b.AddrPort().String(), State: "listening"}
			switch {
			case b.Err != nil:
				lh.State, lh.Error = "failed", b.Err.Error()
			case !b.Enabled:
				lh.State, lh.Error = "closed", b.Why
			}
			h.Listeners = append(h.Listeners, lh)
		}
		out = append(out, h)
	}
	return out
}

func (rt *Runtime) serverOf(name string) (*Server, error) {
	s := rt.Server(name)
	if s == nil {
		return nil, &control.NotFoundError{What: fmt.Sprintf("server %q (this process runs %s)", name, strings.Join(rt.Running(), ", "))}
	}
	return s, nil
}

func (rt *Runtime) transportOf(name string) (*transport.Transport, error) {
	return partOf(rt, name, func(s *Server) *transport.Transport { return s.transport }, "it has no transport queues")
}

// partOf returns the part of server name that get picks (its transport,
// its store), or a bad-input error saying that the server's role lacks it.
func partOf[T comparable](rt *Runtime, name string, get func(*Server) T, lacks string) (T, error) {
	var none T
	s, err := rt.serverOf(name)
	if err != nil {
		return none, err
	}
	v := get(s)
	if v == none {
		return none, &control.BadInputError{Msg: fmt.Sprintf("%s is a %s server: %s", s.Config.Name, s.Config.Role, lacks)}
	}
	return v, nil
}

// Queues is Get-Queue.
func (rt *Runtime) Queues(server string) ([]transport.QueueInfo, error) {
	tr, err := rt.transportOf(server)
	if err != nil {
		return nil, err
	}
	return tr.Queues(), nil
}

// Messages is Get-Message.
func (rt *Runtime) Messages(server, queue string) ([]transport.MessageInfo, error) {
	tr, err := rt.transportOf(server)
	if err != nil {
		return nil, err
	}
	return tr.Messages(queue), nil
}

// QueueAction is Retry-Queue, Suspend-Queue and Resume-Queue.
func (rt *Runtime) QueueAction(server, queue, action string) error {
	tr, err := rt.transportOf(server)
	if err != nil {
		return err
	}
	if queue == "" {
		return &control.BadInputError{Msg: "which queue? give its identity, e.g. " + server + `\1`}
	}
	do, ok := map[string]func(string) error{
		"retry":   tr.RetryQueue,
		"suspend": tr.SuspendQueue,
		"resume":  tr.ResumeQueue,
	}[action]
	if !ok {
		return &control.BadInputError{Msg: fmt.Sprintf("queue action %q: use retry, suspend or resume", action)}
	}
	return notFound(do(queue))
}

// MessageAction is Suspend-Message, Resume-Message and Remove-Message.
func (rt *Runtime) MessageAction(server string, id int64, action string) error {
	tr, err := rt.transportOf(server)
	if err != nil {
		return err
	}
	do, ok := map[string]func(int64) error{
		"suspend":    tr.SuspendMessage,
		"resume":     tr.ResumeMessage,
		"remove":     func(id int64) error { return tr.RemoveMessage(id, false) },
		"remove-ndr": func(id int64) error { return tr.RemoveMessage(id, true) },
	}[action]
	if !ok {
		return &control.BadInputError{Msg: fmt.Sprintf("message action %q: use suspend, resume or remove", action)}
	}
	return notFound(do(id))
}

// notFound reports a transport's refusal of an unknown queue or message
// as the API's 404.
func notFound(err error) error {
	if err != nil {
		return &control.NotFoundError{What: err.Error()}
	}
	return nil
}

// Track is Get-MessageTrackingLog.
func (rt *Runtime) Track(server string, q transport.TrackingQuery) ([]transport.TrackingEvent, error) {
	tr, err := rt.transportOf(server)
	if err != nil {
		return nil, err
	}
	ev, _, err := tr.Tracking().Search(q)
	if ev == nil {
		ev = []transport.TrackingEvent{}
	}
	return ev, err
}

func (rt *Runtime) storeOf(name string) (*store.Store, error) {
	return partOf(rt, name, func(s *Server) *store.Store { return s.store }, "it hosts no mailboxes")
}

// Mailboxes lists a server's mailboxes.
func (rt *Runtime) Mailboxes(server string) ([]control.MailboxSummary, error) {
	st, err := rt.storeOf(server)
	if err != nil {
		return nil, err
	}
	mbs, err := st.Mailboxes()
	if err != nil {
		return nil, err
	}
	out := make([]control.MailboxSummary, 0, len(mbs))
	for _, m := range mbs {
		out = append(out, control.MailboxSummary{Address: m.Address, Messages: int(m.Messages), Unseen: int(m.Unseen)})
	}
	return out, nil
}

func (rt *Runtime) folderOf(server, address, folder string) (*store.Folder, error) {
	st, err := rt.storeOf(server)
	if err != nil {
		return nil, err
	}
	mb, err := st.Mailbox(address)
	if err != nil {
		return nil, &control.NotFoundError{What: fmt.Sprintf("mailbox %s on %s", address, server)}
	}
	f, err := mb.Folder(folder)
	if err != nil {
		return nil, &control.NotFoundError{What: fmt.Sprintf("folder %q of %s", folder, address)}
	}
	return f, nil
}

// MailboxMessages lists a folder, with each message's Received chain.
func (rt *Runtime) MailboxMessages(server, address, folder string) ([]control.MailboxMessage, error) {
	f, err := rt.folderOf(server, address, folder)
	if err != nil {
		return nil, err
	}
	msgs, err := f.Messages()
	if err != nil {
		return nil, err
	}
	out := make([]control.MailboxMessage, 0, len(msgs))
	for _, m := range msgs {
		mm := control.MailboxMessage{UID: m.UID, MessageID: m.MessageID, From: m.From, To: m.To, Subject: m.Subject, Date: m.InternalDate, Size: m.Size, Seen: m.Seen()}
		if body, err := f.Body(m.UID); err == nil {
			for _, fl := range transport.SplitMessage(body).Fields() {
				if strings.EqualFold(fl.Name, "Received") {
					_, v, _ := strings.Cut(string(fl.Raw), ":")
					mm.Received = append(mm.Received, strings.Join(strings.Fields(v), " "))
				}
			}
		}
		out = append(out, mm)
	}
	return out, nil
}

// MailboxMessage returns a message's bytes.
func (rt *Runtime) MailboxMessage(server, address, folder string, uid uint32) ([]byte, error) {
	f, err := rt.folderOf(server, address, folder)
	if err != nil {
		return nil, err
	}
	b, err := f.Body(uid)
	if err != nil {
		return nil, &control.NotFoundError{What: fmt.Sprintf("message %d in %s/%s", uid, address, folder)}
	}
	return b, nil
}

// Send sends one message from a server's position (MX through the lab
// DNS, or to an explicit SMTP endpoint), or queues it on the server.
func (rt *Runtime) Send(ctx context.Context, req control.SendRequest) (control.SendResponse, error) {
	name := req.FromServer
	if name == "" {
		return control.SendResponse{}, &control.BadInputError{Msg: "from_server is required: the server whose position sends"}
	}
	s, err := rt.serverOf(name)
	if err != nil {
		return control.SendResponse{}, err
	}
	if len(req.Recipients) == 0 {
		return control.SendResponse{}, &control.BadInputError{Msg: "at least one recipient"}
	}
	m := &smtpclient.Message{From: req.Sender, To: req.Recipients, Subject: req.Subject, Body: req.Body, Headers: req.Headers}
	body, err := smtpclient.Build(m, rt.o.Now(), s.Config.FQDN)
	if err != nil {
		return control.SendResponse{}, &control.BadInputError{Msg: err.Error()}
	}
	if req.Queue {
		if s.transport == nil {
			return control.SendResponse{}, &control.BadInputError{Msg: s.Config.Name + " has no queue"}
		}
		tm := &transport.Message{MessageID: m.MessageID, NetworkID: transport.NewNetworkID(), From: m.From, Subject: m.Subject,
			Source: transport.Source{ClientIP: s.Config.Address, ServerIP: s.Config.Address, Connector: s.Config.Name + `\admin`, AuthAs: "Internal"}}
		for _, r := range m.To {
			tm.Recipients = append(tm.Recipients, transport.Recipient{Address: r})
		}
		if err := s.transport.Submit(ctx, tm, body); err != nil {
			return control.SendResponse{}, err
		}
		return control.SendResponse{MessageID: m.MessageID, Accepted: true, Reply: fmt.Sprintf("queued on %s as InternalId=%d", s.Config.Name, tm.ID)}, nil
	}
	tgt, err := rt.sendTarget(s, req)
	if err != nil {
		return control.SendResponse{}, err
	}
	snd := &smtpclient.Sender{Helo: s.Config.FQDN, Dial: rt.metrics.countSend(s.dialer.DialContext, s.Config.Name), Resolver: s.resolver(), Timeout: 30 * time.Second}
	res := snd.Send(ctx, tgt, m, body)
	return control.SendResponse{MessageID: m.MessageID, Accepted: res.Accepted, Reply: res.Reply, Rcpts: res.Rcpts, Endpoint: res.Endpoint}, nil
}

// sendTarget turns a request into a smtpclient.Target for server s.
func (rt *Runtime) sendTarget(s *Server, req control.SendRequest) (smtpclient.Target, error) {
	tgt := smtpclient.Target{SMTP: req.SMTP, Port: rt.o.Topology.Port(25), User: req.User, Password: req.Password,
		TLSConfig: func(name string) *tls.Config { return rt.ca.ClientTLS(name, &s.cert) }}
	switch req.TLS {
	case "", "opportunistic":
		tgt.TLS = smtpclient.TLSOpportunistic
	case "none":
		tgt.TLS = smtpclient.TLSNone
	case "starttls":
		tgt.TLS = smtpclient.TLSRequired
	case "implicit":
		tgt.TLS = smtpclient.TLSImplicit
	default:
		return tgt, &control.BadInputError{Msg: fmt.Sprintf("tls %q: use none, opportunistic, starttls or implicit", req.TLS)}
	}
	if tgt.SMTP != "" {
		host, port, err := net.SplitHostPort(tgt.SMTP)
		if err != nil {
			return tgt, &control.BadInputError{Msg: "smtp must be host:port"}
		}
		if _, err := netip.ParseAddr(host); err != nil {
			if srv := rt.o.Topology.ServerByFQDN(host); srv != nil {
				tgt.SMTP = net.JoinHostPort(srv.Address, port)
				name := srv.FQDN
				tgt.TLSConfig = func(string) *tls.Config { return rt.ca.ClientTLS(name, &s.cert) }
			}
		}
		if _, err := strconv.Atoi(port); err != nil {
			return tgt, &control.BadInputError{Msg: "smtp port must be a number"}
		}
	}
	return tgt, nil
}
