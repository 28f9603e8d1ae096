package roles

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"

	"github.com/exsim/exsim/internal/lockout"
	"github.com/exsim/exsim/internal/ntlm"
	"github.com/exsim/exsim/servers/imapd"
	"github.com/exsim/exsim/servers/pop3d"
	"github.com/exsim/exsim/store"
	"github.com/exsim/exsim/topology"
)

// storeAuth checks logons and opens the account's mailbox in a server's
// store: the backend side of POP3 and IMAP, and the Internet server.
type storeAuth struct {
	accts accounts
	store *store.Store
	ntlm  *ntlm.Server // NTLM on a frontend; nil: PLAIN and USER/PASS only
	// lock is the lab's logon lockout, on a frontend (where the client's
	// address is known); nil on a backend, whose client is the frontend.
	lock *lockout.Lockout
}

// errLogonFailure is a failed logon in the words of both mail-access
// servers (errors.Is matches either).
var errLogonFailure = fmt.Errorf("%w (%w)", pop3d.ErrLogonFailure, imapd.ErrAuthFailed)

// Authenticate implements pop3d.Authenticator and imapd.Authenticator.
func (a storeAuth) Authenticate(ctx context.Context, user, password string) (string, error) {
	var m *topology.Mailbox
	err := checkLogon(ctx, a.lock, user, lockout.Source(ctx), func() (err error) {
		m, err = a.accts.Authenticate(user, password)
		return err
	})
	if err != nil {
		return "", errLogonFailure
	}
	return m.Address, nil
}

// Login implements pop3d.Backend on the mailbox's INBOX.
func (a storeAuth) Login(ctx context.Context, user, password string) (pop3d.Maildrop, error) {
	account, err := a.Authenticate(ctx, user, password)
	if err != nil {
		return nil, err
	}
	mb, err := a.store.Mailbox(account)
	if err != nil {
		return nil, fmt.Errorf("pop3: mailbox %s: %w", account, err)
	}
	inbox, err := mb.Folder("INBOX")
	if err != nil {
		return nil, fmt.Errorf("pop3: %s INBOX: %w", account, err)
	}
	st, err := inbox.Status()
	if err != nil {
		return nil, err
	}
	return &maildrop{inbox: inbox, validity: st.UIDValidity}, nil
}

// maildrop is a POP3 maildrop on a store folder. UIDL values join the
// folder's UIDVALIDITY and the message's UID, so they survive restarts
// and never repeat.
type maildrop struct {
	inbox    *store.Folder
	validity uint32
}

func (m *maildrop) uidl(uid uint32) string { return fmt.Sprintf("%d.%d", m.validity, uid) }

func (m *maildrop) parse(s string) (uint32, error) {
	v, u, ok := strings.Cut(s, ".")
	if !ok || v != strconv.FormatUint(uint64(m.validity), 10) {
		return 0, fmt.Errorf("pop3: unknown message %q", s)
	}
	n, err := strconv.ParseUint(u, 10, 32)
	return uint32(n), err
}

func (m *maildrop) Messages(ctx context.Context) ([]pop3d.MessageInfo, error) {
	msgs, err := m.inbox.List() // UIDs and sizes: no header strings
	if err != nil {
		return nil, err
	}
	out := make([]pop3d.MessageInfo, len(msgs))
	for i, mi := range msgs {
		out[i] = pop3d.MessageInfo{UID: m.uidl(mi.UID), Size: mi.Size}
	}
	return out, nil
}

func (m *maildrop) Open(ctx context.Context, uid string) (io.ReadCloser, error) {
	n, err := m.parse(uid)
	if err != nil {
		return nil, err
	}
	b, err := m.inbox.Body(n)
	if err != nil {
		return nil, err
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func (m *maildrop) Delete(ctx context.Context, uids []string) error {
	var ns []uint32
	for _, u := range uids {
		n, err := m.parse(u)
		if err != nil {
			return err
		}
		ns = append(ns, n)
	}
	_, err := m.inbox.Remove(ctx, ns)
	return err
}

func (m *maildrop) Close() error { return nil }

// backendDialer dials the mail-access backend (1993 or 1995) of the
// account's home server with TLS, from this server's address.
type backendDialer struct {
	s    *Server
	port int // 1993 or 1995
}

func (d backendDialer) DialBackend(ctx context.Context, account string) (net.Conn, error) {
	t := d.s.rt.o.Topology
	mb := t.Mailbox(account)
	if mb == nil {
		return nil, fmt.Errorf("no mailbox %s", account)
	}
	home := t.Server(mb.Server)
	addr := net.JoinHostPort(home.Address, strconv.Itoa(t.Port(d.port)))
	raw, err := d.s.dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("backend %s (%s): %w", home.Name, addr, err)
	}
	tc := tls.Client(raw, d.s.clientTLS(home.FQDN))
	if err := tc.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, fmt.Errorf("backend %s (%s): TLS: %w", home.Name, addr, err)
	}
	return tc, nil
}

// startPOP3 runs the POP3 frontend (110, 995) and backend (1995) of a
// Mailbox server, or, with front nil, the plain POP3 service (110, 995)
// of an internet server. front checks logons for every mailbox of the
// organization; back serves the mailboxes this server hosts.
func (s *Server) startPOP3(back storeAuth, front *storeAuth) error {
	tlsConf := s.serverTLS(topology.POP3) // no client certificate on any POP3 listener
	type svc struct {
		kind     topology.ListenerKind
		implicit *tls.Config // 995, 1995
		opts     pop3d.Options
	}
	var svcs []svc
	if front != nil {
		fo := pop3d.Options{Authenticator: pop3FrontAuth{front}, Upstream: backendDialer{s, 1995}}
		svcs = []svc{
			{topology.POP3, nil, fo},
			{topology.POP3S, tlsConf, fo},
			{topology.POP3Backend, tlsConf, pop3d.Options{Backend: back}},
		}
	} else {
		plain := pop3d.Options{Backend: back, Persona: pop3d.PlainPersona(s.Config.FQDN)}
		svcs = []svc{{topology.InternetPOP3, nil, plain}, {topology.InternetPOP3S, tlsConf, plain}}
	}
	for _, v := range svcs {
		err := s.serveEach(v.kind, v.implicit, "POP3 listener stopped", pop3d.ErrServerClosed, func(l topology.Listener) (servable, error) {
			o := v.opts
			o.ServerName = s.Config.FQDN
			o.TLSConfig = tlsConf
			o.Logger = s.log.With("listener", l.Name)
			return pop3d.NewServer(o), nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}
