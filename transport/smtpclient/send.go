// Sending mail the way exsim's users need it sent: as an SMTP client to an
// explicit host (STARTTLS or implicit TLS, AUTH), or from a server's own
// position: bound to its address and resolving MX through the lab DNS, never
// a real resolver.

package smtpclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/google/uuid"
)

// Message is what to send.
type Message struct {
	From    string
	To      []string
	Subject string
	Body    string
	// Headers are extra "Name: value" fields.
	Headers []string
	// Size pads the body with text lines up to about this many bytes.
	Size int
	// MessageID is set by Build when empty.
	MessageID string
}

// Build renders the message as RFC 5322 with CRLF line ends.
func Build(m *Message, now time.Time, host string) []byte {
	if m.MessageID == "" {
		m.MessageID = fmt.Sprintf("<%s@%s>", uuid.NewString(), host)
	}
	var b bytes.Buffer
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\r\n", args...) }
	w("From: <%s>", m.From)
	w("To: %s", angleList(m.To))
	w("Subject: %s", strings.NewReplacer("\r", " ", "\n", " ").Replace(m.Subject))
	w("Date: %s", now.Format("Mon, 2 Jan 2006 15:04:05 -0700"))
	w("Message-ID: %s", m.MessageID)
	w("MIME-Version: 1.0")
	w("Content-Type: text/plain; charset=utf-8")
	w("X-Mailer: exsim send")
	for _, h := range m.Headers {
		w("%s", h)
	}
	w("")
	for _, line := range strings.Split(strings.ReplaceAll(m.Body, "\r\n", "\n"), "\n") {
		w("%s", line)
	}
	const filler = "exsim filler line to reach the requested message size, 0123456789 abcdefghijklmnop"
	for i := 0; b.Len() < m.Size; i++ {
		w("%05d %s", i, filler)
	}
	return b.Bytes()
}

func angleList(addrs []string) string {
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = "<" + a + ">"
	}
	return strings.Join(out, ", ")
}

// TLSMode is how the client uses TLS.

// Target says where mail goes.
type Target struct {
	// SMTP is host:port for client mode; empty means MX routing of each
	// recipient's domain (from-a-server mode).
	SMTP string
	// Port is the SMTP port in MX mode (25 plus any port offset).
	Port int
	TLS  TLSMode
	// TLSConfig verifies the server (the lab CA as root).
	TLSConfig func(serverName string) *tls.Config
	User      string
	Password  string
	// AuthMech is PLAIN (default) or LOGIN.
	AuthMech string
}

// Resolver is the lab DNS.
type Resolver interface {
	LookupMX(ctx context.Context, domain string) ([]string, error)
	LookupHost(ctx context.Context, name string) ([]netip.Addr, error)
}

// Sender sends messages.
type Sender struct {
	Helo     string
	Dial     func(ctx context.Context, network, address string) (net.Conn, error)
	Resolver Resolver
	Timeout  time.Duration
}

// Result is the outcome of one message.
type Result struct {
	MessageID string
	Accepted  bool
	// Reply is the final reply (the DATA reply, or the first failure).
	Reply string
	// Rcpts maps each recipient to its reply.
	Rcpts    map[string]string
	Endpoint string
	Err      error
	Duration time.Duration
}

// Send delivers m (rendered as body) to target. Recipients in MX mode are
// grouped by domain, one session per domain.
func (s *Sender) Send(ctx context.Context, t Target, m *Message, body []byte) Result {
	start := time.Now()
	res := Result{MessageID: m.MessageID, Rcpts: map[string]string{}}
	groups := map[string][]string{}
	var order []string
	for _, r := range m.To {
		key := t.SMTP
		if key == "" {
			key = domainOf(r)
		}
		if _, ok := groups[key]; !ok {
			order = append(order, key)
		}
		groups[key] = append(groups[key], r)
	}
	res.Accepted = true
	for _, key := range order {
		one := s.session(ctx, t, key, m.From, groups[key], body)
		for r, rep := range one.Rcpts {
			res.Rcpts[r] = rep
		}
		if !one.Accepted {
			res.Accepted = false
		}
		if res.Reply == "" || !one.Accepted {
			res.Reply, res.Err, res.Endpoint = one.Reply, one.Err, one.Endpoint
		}
	}
	res.Duration = time.Since(start)
	return res
}

func domainOf(a string) string {
	if i := strings.LastIndexByte(a, '@'); i >= 0 {
		return strings.ToLower(a[i+1:])
	}
	return ""
}

func (s *Sender) timeout() time.Duration {
	if s.Timeout > 0 {
		return s.Timeout
	}
	return 30 * time.Second
}

// endpoints returns where to connect, in order.
func (s *Sender) endpoints(ctx context.Context, t Target, key string) ([]string, []string, error) {
	if t.SMTP != "" {
		host, _, err := net.SplitHostPort(t.SMTP)
		if err != nil {
			return nil, nil, fmt.Errorf("--smtp %s: %w", t.SMTP, err)
		}
		if _, err := netip.ParseAddr(host); err != nil {
			addrs, err := s.lookupHost(ctx, host)
			if err != nil {
				return nil, nil, err
			}
			_, port, _ := net.SplitHostPort(t.SMTP)
			var eps, names []string
			for _, a := range addrs {
				eps = append(eps, net.JoinHostPort(a.String(), port))
				names = append(names, host)
			}
			return eps, names, nil
		}
		return []string{t.SMTP}, []string{host}, nil
	}
	if s.Resolver == nil {
		return nil, nil, errors.New("no lab DNS resolver to route by MX")
	}
	mx, err := s.Resolver.LookupMX(ctx, key)
	if err != nil {
		return nil, nil, fmt.Errorf("MX lookup of %s: %w", key, err)
	}
	var eps, names []string
	for _, h := range mx {
		addrs, err := s.Resolver.LookupHost(ctx, h)
		if err != nil {
			continue
		}
		for _, a := range addrs {
			eps = append(eps, net.JoinHostPort(a.String(), strconv.Itoa(t.Port)))
			names = append(names, h)
		}
	}
	if len(eps) == 0 {
		return nil, nil, fmt.Errorf("no address for the mail exchangers of %s (%s)", key, strings.Join(mx, ", "))
	}
	return eps, names, nil
}

func (s *Sender) lookupHost(ctx context.Context, host string) ([]netip.Addr, error) {
	if s.Resolver == nil {
		return nil, fmt.Errorf("%s is a name; give an address, or send from a server (--from) to use the lab DNS", host)
	}
	return s.Resolver.LookupHost(ctx, host)
}

func (s *Sender) session(ctx context.Context, t Target, key, from string, rcpts []string, body []byte) Result {
	res := Result{Rcpts: map[string]string{}}
	fail := func(reply string, err error) Result {
		res.Reply, res.Err = reply, err
		for _, r := range rcpts {
			if _, ok := res.Rcpts[r]; !ok {
				res.Rcpts[r] = reply
			}
		}
		return res
	}
	eps, names, err := s.endpoints(ctx, t, key)
	if err != nil {
		return fail(err.Error(), err)
	}
	var c *smtp.Client
	for i, ep := range eps {
		res.Endpoint = ep
		dctx, cancel := context.WithTimeout(ctx, s.timeout())
		conn, derr := s.Dial(dctx, "tcp", ep)
		if derr != nil {
			cancel()
			err = fmt.Errorf("connect %s: %w", ep, derr)
			continue
		}
		var cfg *tls.Config
		if t.TLSConfig != nil {
			cfg = t.TLSConfig(names[i])
		}
		c, _, err = Dial(dctx, conn, Options{Helo: s.Helo, TLS: t.TLS, TLSConfig: cfg, Timeout: s.timeout()})
		cancel()
		if err == nil {
			break
		}
		err = fmt.Errorf("%s: %w", ep, err)
	}
	if c == nil {
		return fail(ReplyText(err), err)
	}
	defer func() {
		if c.Quit() != nil {
			c.Close()
		}
	}()
	if t.User != "" {
		var a sasl.Client
		if strings.EqualFold(t.AuthMech, "LOGIN") {
			a = sasl.NewLoginClient(t.User, t.Password)
		} else {
			a = sasl.NewPlainClient("", t.User, t.Password)
		}
		if err := c.Auth(a); err != nil {
			return fail(ReplyText(err), err)
		}
	}
	if err := c.Mail(from, &smtp.MailOptions{Size: int64(len(body))}); err != nil {
		return fail(ReplyText(err), err)
	}
	var ok []string
	for _, r := range rcpts {
		if err := c.Rcpt(r, nil); err != nil {
			res.Rcpts[r] = ReplyText(err)
			res.Reply, res.Err = res.Rcpts[r], err
			continue
		}
		ok = append(ok, r)
	}
	if len(ok) == 0 {
		return res
	}
	w, err := c.Data()
	if err != nil {
		return fail(ReplyText(err), err)
	}
	if _, err := w.Write(body); err != nil {
		return fail(err.Error(), err)
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		return fail(ReplyText(err), err)
	}
	reply := "250 " + strings.TrimSpace(resp.StatusText)
	for _, r := range ok {
		res.Rcpts[r] = reply
	}
	if len(ok) == len(rcpts) {
		res.Accepted = true
		res.Reply, res.Err = reply, nil
	}
	return res
}
