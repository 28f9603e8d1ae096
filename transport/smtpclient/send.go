// Sending mail the way exsim's users need it sent: as an SMTP client to an
// explicit host (STARTTLS or implicit TLS, AUTH), or from a server's own
// position: bound to its address and resolving MX through the lab DNS, never
// a real resolver.

package smtpclient

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

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

// endpoints returns where to connect, in order: the explicit host, or the
// mail exchangers of the domain key.
func (s *Sender) endpoints(ctx context.Context, t Target, key string) ([]Endpoint, error) {
	if t.SMTP != "" {
		host, port, err := net.SplitHostPort(t.SMTP)
		if err != nil {
			return nil, fmt.Errorf("--smtp %s: %w", t.SMTP, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			return nil, fmt.Errorf("--smtp %s: bad port", t.SMTP)
		}
		eps, err := Endpoints(ctx, s.Resolver, []string{host}, p)
		if err != nil && s.Resolver == nil {
			return nil, fmt.Errorf("%s is a name; give an address, or send from a server (--from) to use the lab DNS", host)
		}
		return eps, err
	}
	if s.Resolver == nil {
		return nil, errors.New("no lab DNS resolver to route by MX")
	}
	mx, err := MXHosts(ctx, s.Resolver, key)
	if err != nil {
		return nil, fmt.Errorf("MX lookup of %s: %w", key, err)
	}
	eps, err := Endpoints(ctx, s.Resolver, mx, t.Port)
	if err != nil {
		return nil, fmt.Errorf("no address for the mail exchangers of %s (%s)", key, strings.Join(mx, ", "))
	}
	return eps, nil
}

// session delivers to the recipients of one group over one session, to
// the first endpoint that sets one up.
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
	eps, err := s.endpoints(ctx, t, key)
	if err != nil {
		return fail(err.Error(), err)
	}
	var c *Client
	for _, ep := range eps {
		res.Endpoint = ep.Addr.String()
		dctx, cancel := context.WithTimeout(ctx, s.timeout())
		conn, derr := s.Dial(dctx, "tcp", res.Endpoint)
		if derr != nil {
			cancel()
			err = fmt.Errorf("connect %s: %w", res.Endpoint, derr)
			continue
		}
		var cfg *tls.Config
		if t.TLSConfig != nil {
			cfg = t.TLSConfig(ep.Host)
		}
		c, err = NewClient(dctx, conn, Options{Helo: s.Helo, TLS: t.TLS, TLSConfig: cfg, Timeout: s.timeout()})
		cancel()
		if err == nil {
			break
		}
		err = fmt.Errorf("%s: %w", res.Endpoint, err)
	}
	if c == nil {
		return fail(ReplyText(err), err)
	}
	defer c.Close()
	if t.User != "" {
		if err := c.Auth(t.AuthMech, t.User, t.Password); err != nil {
			return fail(ReplyText(err), err)
		}
	}
	env := &Envelope{From: from, To: make([]Rcpt, len(rcpts))}
	for i, r := range rcpts {
		env.To[i] = Rcpt{Address: r}
	}
	replies, err := c.Deliver(env, body)
	if err != nil {
		return fail(ReplyText(err), err)
	}
	res.Accepted = true
	for _, r := range rcpts {
		rep := replies[r]
		res.Rcpts[r] = rep.String()
		if !rep.OK() && res.Accepted {
			res.Accepted = false
			res.Reply, res.Err = rep.String(), errors.New(rep.String())
		}
	}
	if res.Accepted {
		res.Reply = replies[rcpts[0]].String()
	}
	return res
}
