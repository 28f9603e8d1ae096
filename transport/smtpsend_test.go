package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/exsim/exsim/certs"
	"github.com/exsim/exsim/internal/labnet"
	"github.com/exsim/exsim/internal/loopback"
)

// sink is a go-smtp server that records what it accepts and the client
// certificate it saw.
type sink struct {
	mu       sync.Mutex
	got      []string
	peerCert string
	reject   map[string]*smtp.SMTPError
}

func (s *sink) NewSession(c *smtp.Conn) (smtp.Session, error) { return &sinkSession{s: s, c: c}, nil }

type sinkSession struct {
	s  *sink
	c  *smtp.Conn
	to []string
}

func (ss *sinkSession) AuthPlain(string, string) error       { return nil }
func (ss *sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (ss *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if e := ss.s.reject[to]; e != nil {
		return e
	}
	ss.to = append(ss.to, to)
	return nil
}
func (ss *sinkSession) Data(r io.Reader) error {
	b, _ := io.ReadAll(r)
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	if cs, ok := ss.c.TLSConnectionState(); ok && len(cs.PeerCertificates) > 0 {
		ss.s.peerCert = cs.PeerCertificates[0].Subject.CommonName
	}
	for _, to := range ss.to {
		ss.s.got = append(ss.s.got, to+":"+string(b))
	}
	return nil
}
func (ss *sinkSession) Reset()        { ss.to = nil }
func (ss *sinkSession) Logout() error { return nil }

type staticResolver map[string][]netip.Addr

func (r staticResolver) LookupMX(ctx context.Context, d string) ([]labnet.MX, error) {
	if d == "nxdomain.test" {
		return nil, permErr{}
	}
	return []labnet.MX{{Host: "mx." + d, Pref: 10}}, nil
}
func (r staticResolver) LookupHost(ctx context.Context, h string) ([]netip.Addr, error) {
	if a, ok := r[h]; ok {
		return a, nil
	}
	return nil, errors.New("timeout")
}

type permErr struct{}

func (permErr) Error() string   { return "NXDOMAIN" }
func (permErr) Temporary() bool { return false }

func TestSMTPSenderMutualTLS(t *testing.T) {
	ca, _ := certs.NewEphemeral("Contoso")
	srvCert, _ := ca.Issue(certs.Identity{Name: "EX02", FQDN: "ex02.contoso.com"})
	cliCert, _ := ca.Issue(certs.Identity{Name: "EX01", FQDN: "ex01.contoso.com"})
	sk := &sink{reject: map[string]*smtp.SMTPError{"nobody@contoso.com": {Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 10}, Message: "RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup"}}}
	srv := smtp.NewServer(sk)
	srv.Domain = "ex02.contoso.com"
	srv.TLSConfig = ca.ServerTLS(srvCert)
	l := loopback.ServeSMTP(t, srv)
	port := uint16(l.Addr().(*net.TCPAddr).Port)

	dir := t.TempDir()
	plog, _ := NewProtocolLog(dir, ProtocolSend, nil)
	s := &SMTPSender{
		HeloName: "ex01.contoso.com",
		Dial:     (&labnet.Dialer{Source: netip.MustParseAddr("127.0.20.1")}).DialContext,
		Resolver: staticResolver{"ex02.contoso.com": {netip.MustParseAddr("127.0.0.1")}},
		ExchangeTLS: func(name string) *tls.Config {
			return ca.ClientTLS(name, &cliCert)
		},
		Log: plog, ConnectorPrefix: `EX01\`,
	}
	hop := NextHop{Type: DeliveryToMailbox, Domain: "mailbox database 1", Connector: "Intra-Organization SMTP Send Connector", Hosts: []string{"ex02.contoso.com"}, Port: int(port), ExchangeAuth: true}
	c, err := s.Open(context.Background(), hop)
	if err != nil {
		t.Fatal(err)
	}
	m, body := msg("alice@contoso.com", "bob@contoso.com", "nobody@contoso.com")
	replies, err := c.Send(context.Background(), m, []string{"bob@contoso.com", "nobody@contoso.com"}, body)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if r := replies["bob@contoso.com"]; r.Code != 250 {
		t.Errorf("bob: %v", r)
	}
	if r := replies["nobody@contoso.com"]; r.String() != "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup" {
		t.Errorf("nobody: %q", r.String())
	}
	sk.mu.Lock()
	if sk.peerCert != "ex01.contoso.com" || len(sk.got) != 1 {
		t.Errorf("sink saw cert %q and %d messages", sk.peerCert, len(sk.got))
	}
	sk.mu.Unlock()
	plog.Close()
	files, _ := filepathGlob(dir + "/SEND*.log")
	if len(files) != 1 {
		t.Fatalf("send protocol log files: %v", files)
	}
	logText := readFile(t, files[0])
	// The Intra-Organization hop pipelines MAIL, RCPT and BDAT (the sink offers CHUNKING).
	for _, want := range []string{"#Log-type: SMTP Send Protocol Log", `EX01\Intra-Organization SMTP Send Connector`, ",>,EHLO ex01.contoso.com,", ",>,STARTTLS,", "TLS negotiation succeeded", ",>,MAIL FROM:<alice@contoso.com>", ",>,BDAT "} {
		if !strings.Contains(logText, want) {
			t.Errorf("protocol log lacks %q:\n%s", want, logText)
		}
	}
	if strings.Contains(logText, "Subject: hello") {
		t.Error("protocol log contains the message body")
	}
}

func TestSMTPSenderErrors(t *testing.T) {
	ca, _ := certs.NewEphemeral("Contoso")
	cliCert, _ := ca.Issue(certs.Identity{Name: "EX01", FQDN: "ex01.contoso.com"})
	// A port nobody listens on.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s := &SMTPSender{
		HeloName:    "ex01.contoso.com",
		Dial:        (&labnet.Dialer{Timeout: time.Second}).DialContext,
		Resolver:    staticResolver{"mx.fabrikam.com": {netip.MustParseAddr("127.0.0.1")}},
		ExchangeTLS: func(name string) *tls.Config { return ca.ClientTLS(name, &cliCert) },
	}
	_, err := s.Open(context.Background(), NextHop{Domain: "fabrikam.com", MX: true, Port: port})
	if want := `451 4.4.0 Primary target IP address responded with: "421 4.2.1 Unable to connect." Attempted failover to alternate host, but that did not succeed. Either there are no alternate hosts, or delivery failed to all alternate hosts. The last endpoint attempted was 127.0.0.1:`; err == nil || !strings.HasPrefix(LastError(err), want) {
		t.Errorf("refused: %v", err)
	}
	_, err = s.Open(context.Background(), NextHop{Domain: "nxdomain.test", MX: true, Port: port})
	var he *HopError
	if !errors.As(err, &he) || !he.Permanent || he.Reply != "550 5.4.4 SMTPSEND.DNS.NonExistentDomain; nonexistent domain" {
		t.Errorf("nxdomain: %v", err)
	}
	_, err = s.Open(context.Background(), NextHop{Domain: "unresolvable.test", MX: true, Port: port})
	if !errors.As(err, &he) || he.Permanent || he.Reply != "451 4.4.0 DNS query failed. The error was: DNS query failed with error: ErrorRetry" {
		t.Errorf("dns timeout: %v", err)
	}
}

func filepathGlob(p string) ([]string, error) { return filepath.Glob(p) }

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
