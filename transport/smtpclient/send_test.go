package smtpclient

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/exsim/exsim/internal/labnet"
	"github.com/exsim/exsim/servers/smtpd"
)

// zone is a lab DNS in a map: MX by domain, addresses by host.
type zone struct {
	mx    map[string][]labnet.MX
	hosts map[string][]netip.Addr
}

func (z zone) LookupMX(_ context.Context, domain string) ([]labnet.MX, error) {
	if mx, ok := z.mx[domain]; ok {
		return mx, nil
	}
	return nil, &labnet.Error{Name: domain, Type: "MX", Kind: labnet.NotFound}
}

func (z zone) LookupHost(_ context.Context, name string) ([]netip.Addr, error) {
	if a, ok := z.hosts[name]; ok {
		return a, nil
	}
	return nil, &labnet.Error{Name: name, Type: "A/AAAA", Kind: labnet.NotFound}
}

func port(t *testing.T, ts *testServer) int {
	t.Helper()
	_, p, _ := net.SplitHostPort(ts.addr)
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSenderMX sends from a server's position: one session per recipient
// domain to its mail exchanger, failing over from an exchanger that does
// not resolve, with a reply per recipient.
func TestSenderMX(t *testing.T) {
	l := newLab(t)
	ts := startServer(t, l, serverOptions{starttls: true, reject: map[string]*smtpd.Reply{
		"nobody@fabrikam.com": {Code: 550, Enhanced: "5.1.1", Text: "User unknown"},
	}})
	lo := netip.MustParseAddr("127.0.0.1")
	z := zone{
		mx: map[string][]labnet.MX{
			"fabrikam.com": {{Host: "gone.fabrikam.com", Pref: 5}, {Host: "ex02.contoso.com", Pref: 10}},
			"contoso.com":  {{Host: "ex02.contoso.com", Pref: 10}},
		},
		hosts: map[string][]netip.Addr{"ex02.contoso.com": {lo}},
	}
	s := &Sender{Helo: "ex01.contoso.com", Dial: (&net.Dialer{}).DialContext, Resolver: z, Timeout: 5 * time.Second}
	tgt := Target{Port: port(t, ts), TLS: TLSRequired, TLSConfig: func(name string) *tls.Config { return l.ca.ClientTLS(name, nil) }}
	m := &Message{From: "alice@contoso.com", To: []string{"bob@fabrikam.com", "dave@contoso.com", "nobody@fabrikam.com"}, Subject: "hello", Body: "hi"}
	body, err := Build(m, time.Now(), "ex01.contoso.com")
	if err != nil {
		t.Fatal(err)
	}
	res := s.Send(context.Background(), tgt, m, body)
	if res.Accepted || res.Reply != "550 5.1.1 User unknown" || res.MessageID != m.MessageID {
		t.Errorf("Send = %+v, want not accepted, 550 5.1.1", res)
	}
	for a, want := range map[string]string{"bob@fabrikam.com": "250 2.6.0", "dave@contoso.com": "250 2.6.0", "nobody@fabrikam.com": "550 5.1.1 User unknown"} {
		if !strings.HasPrefix(res.Rcpts[a], want) {
			t.Errorf("Send: %s = %q, want %q", a, res.Rcpts[a], want)
		}
	}
	ts.mu.Lock()
	conns := ts.conns
	ts.mu.Unlock()
	if conns != 2 {
		t.Errorf("server saw %d sessions, want one per domain (2)", conns)
	}

	res = s.Send(context.Background(), tgt, &Message{From: "alice@contoso.com", To: []string{"x@nowhere.test"}}, body)
	var le *labnet.Error
	if res.Accepted || !strings.HasPrefix(res.Reply, "MX lookup of nowhere.test") || !errors.As(res.Err, &le) {
		t.Errorf("Send to a domain without MX = %+v", res)
	}
}

// TestSenderExplicitHost sends as a client: implicit TLS and AUTH.
func TestSenderExplicitHost(t *testing.T) {
	l := newLab(t)
	ts := startServer(t, l, serverOptions{implicit: true, users: map[string]string{"alice@contoso.com": "Pa55word"}})
	s := &Sender{Helo: "client.example", Dial: (&net.Dialer{}).DialContext, Timeout: 5 * time.Second}
	tgt := Target{SMTP: ts.addr, TLS: TLSImplicit, User: "alice@contoso.com", Password: "Pa55word", AuthMech: "LOGIN",
		TLSConfig: func(string) *tls.Config { return l.clientTLS() }}
	m := &Message{From: "alice@contoso.com", To: []string{"bob@fabrikam.com"}, Subject: "hello", Body: "hi"}
	body, _ := Build(m, time.Now(), "client.example")
	res := s.Send(context.Background(), tgt, m, body)
	if !res.Accepted || !strings.HasPrefix(res.Reply, "250 2.6.0") || res.Endpoint != ts.addr {
		t.Fatalf("Send = %+v", res)
	}
	tgt.Password = "wrong"
	if res := s.Send(context.Background(), tgt, m, body); res.Accepted || res.Reply != "535 5.7.3 Authentication unsuccessful" {
		t.Errorf("Send with a wrong password = %+v", res)
	}
	tgt.SMTP = "ex02.contoso.com:25"
	if res := s.Send(context.Background(), tgt, m, body); res.Accepted || !strings.Contains(res.Reply, "is a name") {
		t.Errorf("Send to a name without a resolver = %+v", res)
	}
}
