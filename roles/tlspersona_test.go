package roles

import (
	"bufio"
	"context"
	"crypto/rsa"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/exsim/exsim/certs"
	"github.com/exsim/exsim/certs/certstest"
	"github.com/exsim/exsim/internal/labtest"
	"github.com/exsim/exsim/topology"
	"github.com/exsim/exsim/transport/smtpclient"
)

// tlsDial opens a TLS session to listener l, speaking the protocol's
// STARTTLS first where the listener is not implicit TLS.
func tlsDial(l topology.Listener, cfg *tls.Config) (*tls.Conn, error) {
	conn, err := net.DialTimeout("tcp", l.AddrPort().String(), 5*time.Second)
	if err != nil {
		return nil, err
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if l.TLS == topology.TLSStartTLS {
		r := bufio.NewReader(conn)
		var cmds []string
		switch l.Protocol {
		case "smtp":
			cmds = []string{"EHLO probe.fabrikam.com\r\n", "STARTTLS\r\n"}
		case "imap":
			cmds = []string{"a STARTTLS\r\n"}
		case "pop3":
			cmds = []string{"STLS\r\n"}
		}
		if err := upgrade(r, conn, l.Protocol, cmds); err != nil {
			conn.Close()
			return nil, fmt.Errorf("%s: %w", l.Name, err)
		}
	}
	tc := tls.Client(conn, cfg)
	if err := tc.Handshake(); err != nil {
		conn.Close()
		return nil, err
	}
	return tc, nil
}

// upgrade reads the greeting and sends cmds, reading each reply to its
// last line.
func upgrade(r *bufio.Reader, w net.Conn, proto string, cmds []string) error {
	last := func(line string) bool {
		switch proto {
		case "smtp":
			return len(line) >= 4 && line[3] == ' '
		case "imap":
			return !strings.HasPrefix(line, "* ") || strings.Contains(line, "IMAP4 service is ready")
		}
		return true
	}
	read := func() (string, error) {
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return "", err
			}
			if last(line) {
				return line, nil
			}
		}
	}
	if _, err := read(); err != nil {
		return err
	}
	for _, c := range cmds {
		if _, err := w.Write([]byte(c)); err != nil {
			return err
		}
		line, err := read()
		if err != nil {
			return err
		}
		if strings.HasPrefix(line, "5") || strings.HasPrefix(line, "4") || strings.Contains(line, " NO ") || strings.Contains(line, " BAD ") || strings.HasPrefix(line, "-ERR") {
			return fmt.Errorf("%q: %s", c, line)
		}
	}
	return nil
}

// tlsBlocks are the address blocks of the TLS persona tests: roles' own
// range (101-119) is used up by the other lab tests.
var tlsBlocks = labtest.NewBlocks(200, 204)

// startTLSLab is startLab in tlsBlocks.
func startTLSLab(t *testing.T, name string, edit func(*topology.Topology)) *Runtime {
	t.Helper()
	return startLabIn(t, tlsBlocks, name, edit)
}

// certRequest is what a client learns from a CertificateRequest.
type certRequest struct {
	sent bool
	cas  int // distinguished names in certificate_authorities
}

// probeConfig trusts nothing (it only looks) and records a CertificateRequest.
func probeConfig(req *certRequest) *tls.Config {
	return &tls.Config{
		InsecureSkipVerify: true,
		GetClientCertificate: func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
			req.sent, req.cas = true, len(cri.AcceptableCAs)
			return &tls.Certificate{}, nil
		},
	}
}

// TestListenerTLSPersona is sslscan's view of every TLS listener of a
// Mailbox server and an Edge: key type, versions, suites, and which ones
// send a CertificateRequest.
func TestListenerTLSPersona(t *testing.T) {
	rt := startTLSLab(t, "contoso", enableMailAccess)
	wantRequest := map[int]bool{25: true, 2525: true, 465: true, 475: true, 717: true}
	seen := map[string]bool{}
	for _, b := range rt.Listeners() {
		l := b.Listener
		if b.Err != nil || !l.Enabled || l.TLS == topology.TLSNone || l.Server != "EX01" && l.Server != "EDGE01" || l.Kind == topology.LDAPS {
			continue
		}
		t.Run(fmt.Sprintf("%s/%d", l.Server, l.BasePort), func(t *testing.T) {
			seen[fmt.Sprintf("%s/%d", l.Server, l.BasePort)] = true
			var req certRequest
			tc, err := tlsDial(l, probeConfig(&req))
			if err != nil {
				t.Fatalf("%s: %v", l, err)
			}
			cs := tc.ConnectionState()
			tc.Close()
			if req.sent != wantRequest[l.BasePort] {
				t.Errorf("%s: CertificateRequest sent = %v, want %v", l, req.sent, wantRequest[l.BasePort])
			}
			// openssl's "No client certificate CA names sent": a browser or
			// mail client holding certificates has no CA to match, so it
			// never prompts.
			if req.cas != 0 {
				t.Errorf("%s: CertificateRequest names %d acceptable CAs, want none", l, req.cas)
			}
			if k, ok := cs.PeerCertificates[0].PublicKey.(*rsa.PublicKey); !ok || k.N.BitLen() != 2048 {
				t.Errorf("%s: server key %T, want RSA-2048", l, cs.PeerCertificates[0].PublicKey)
			}
			if cs.Version != tls.VersionTLS12 {
				t.Errorf("%s: %s, want TLS 1.2 (Exchange 2019 CU13)", l, tls.VersionName(cs.Version))
			}
			if l.BasePort == 444 && cs.PeerCertificates[0].Subject.String() != "CN=Microsoft Exchange" {
				t.Errorf("%s: certificate %s, want CN=Microsoft Exchange", l, cs.PeerCertificates[0].Subject)
			}
			if l.BasePort != 444 && !rt.ca.Issued(cs.PeerCertificates[0]) {
				t.Errorf("%s: certificate not from the lab CA", l)
			}
			// A TLS 1.2 client with only ChaCha20 finds no common suite.
			chacha := probeConfig(new(certRequest))
			chacha.MaxVersion = tls.VersionTLS12
			chacha.CipherSuites = []uint16{tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256}
			if tc, err := tlsDial(l, chacha); err == nil {
				tc.Close()
				t.Errorf("%s: ChaCha20-only TLS 1.2 handshake succeeded (%s), want a handshake failure", l, tls.CipherSuiteName(tc.ConnectionState().CipherSuite))
			}
		})
	}
	for _, want := range []string{"EX01/25", "EX01/587", "EX01/717", "EX01/2525", "EX01/465", "EX01/475", "EX01/443", "EX01/444", "EX01/993", "EX01/995", "EX01/143", "EX01/110", "EDGE01/25"} {
		if !seen[want] {
			t.Errorf("listener %s not tested", want)
		}
	}
}

// TestTLSWithoutEdge runs the checks that need a lab without an Edge on one
// lab (address blocks are scarce).
func TestTLSWithoutEdge(t *testing.T) {
	rt := startTLSLab(t, "contoso-noedge", nil)
	t.Run("Port25WithoutClientCertificate", func(t *testing.T) { port25WithoutClientCertificate(t, rt) })
	t.Run("BackEndTrustsServerTicketsOnly", func(t *testing.T) { backEndTrustsServerTicketsOnly(t, rt) })
	t.Run("ExchangeHopsResume", func(t *testing.T) { exchangeHopsResume(t, rt) })
	t.Run("NmapBackEnd", func(t *testing.T) { nmapBackEnd(t, rt) })
}

// An internet MTA without a client certificate, or with one of another CA,
// still delivers on the Default Frontend connector over STARTTLS.
func port25WithoutClientCertificate(t *testing.T, rt *Runtime) {
	ex01, inet := rt.Server("EX01"), rt.Server("INET01")
	foreign := certstest.Issue(t, certstest.CA(t, "Fabrikam"), certs.Identity{Name: "MX", FQDN: "mx.fabrikam.com"})
	for i, cert := range []*tls.Certificate{nil, &foreign} {
		conn, err := inet.dialer.DialContext(context.Background(), "tcp", net.JoinHostPort(ex01.Config.Address, fmt.Sprint(rt.o.Topology.Port(25))))
		if err != nil {
			t.Fatal(err)
		}
		cfg := &tls.Config{InsecureSkipVerify: true}
		if cert != nil {
			cfg.Certificates = []tls.Certificate{*cert}
		}
		c, _, err := smtpclient.Dial(context.Background(), conn, smtpclient.Options{Helo: "mx.fabrikam.com", TLS: smtpclient.TLSRequired, TLSConfig: cfg})
		if err != nil {
			t.Fatalf("client certificate %v: STARTTLS: %v", cert != nil, err)
		}
		subject := fmt.Sprintf("no client cert %d", i)
		msg := "From: <carol@fabrikam.com>\r\nTo: <alice@contoso.com>\r\nSubject: " + subject + "\r\n\r\nhi\r\n"
		if err := c.SendMail("carol@fabrikam.com", []string{"alice@contoso.com"}, strings.NewReader(msg)); err != nil {
			t.Fatalf("client certificate %v: %v", cert != nil, err)
		}
		c.Quit()
		waitMail(t, rt, "EX01", "alice@contoso.com", subject)
	}
	// swaks, as an administrator would test it: STARTTLS, no client certificate.
	swaks, err := exec.LookPath("swaks")
	if err != nil {
		t.Log("swaks is not installed: checked with go-smtp only")
		return
	}
	out, err := exec.Command(swaks, "--server", ex01.Config.Address, "--port", fmt.Sprint(rt.o.Topology.Port(25)), "--tls",
		"--helo", "mx.fabrikam.com", "--from", "carol@fabrikam.com", "--to", "alice@contoso.com", "--header", "Subject: swaks without client cert").CombinedOutput()
	if err != nil {
		t.Fatalf("swaks --tls to port 25: %v\n%s", err, out)
	}
	waitMail(t, rt, "EX01", "alice@contoso.com", "swaks without client cert")
}

// The Back End site trusts X-CommonAccessToken only with a front end's
// server ticket, now that it asks for no client certificate.
func backEndTrustsServerTicketsOnly(t *testing.T, rt *Runtime) {
	ex01, ex02 := rt.Server("EX01"), rt.Server("EX02")
	url := fmt.Sprintf("https://%s:%d/EWS/Exchange.asmx", ex01.Config.Address, rt.o.Topology.Port(444))
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: certs.BackEndClientTLS(ex01.Config.FQDN)}}
	get := func(ticket string) int {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set(commonAccessToken, "alice@contoso.com")
		if ticket != "" {
			req.Header.Set(serverTicketHeader, ticket)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	good, err := certs.SignServerTicket(ex02.cert, ex01.Config.FQDN, "alice@contoso.com", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	forCarol, _ := certs.SignServerTicket(ex02.cert, ex01.Config.FQDN, "carol@fabrikam.com", time.Now())
	foreignCA, _ := certs.NewEphemeral("Contoso")
	fake, _ := foreignCA.Issue(certs.Identity{Name: "EX02", FQDN: ex02.Config.FQDN})
	forged, _ := certs.SignServerTicket(fake, ex01.Config.FQDN, "alice@contoso.com", time.Now())
	for _, tc := range []struct {
		name, ticket string
		authorized   bool
	}{{"no ticket", "", false}, {"ticket for another user", forCarol, false}, {"ticket of another CA", forged, false}, {"EX02's ticket", good, true}} {
		code := get(tc.ticket)
		if (code != http.StatusUnauthorized) != tc.authorized {
			t.Errorf("%s: GET EWS with X-CommonAccessToken = %d, want authorized %v", tc.name, code, tc.authorized)
		}
	}
}

// Exchange servers resume their TLS sessions to each other's connectors
// (the relay path's hops), client certificate and all.
func exchangeHopsResume(t *testing.T, rt *Runtime) {
	ex01, ex02 := rt.Server("EX01"), rt.Server("EX02")
	for _, kind := range []topology.ListenerKind{topology.SMTPDefault, topology.SMTPMailboxDelivery} {
		l, _ := rt.o.Topology.Listener(ex01.Config, kind)
		cfg := ex02.clientTLS(ex01.Config.FQDN)
		var resumed []bool
		for range 2 {
			tc, err := tlsDial(l, cfg)
			if err != nil {
				t.Fatalf("%s: %v", l, err)
			}
			// TLS 1.2 delivers the ticket in the handshake; read nothing more.
			resumed = append(resumed, tc.ConnectionState().DidResume)
			tc.Close()
		}
		if resumed[0] || !resumed[1] {
			t.Errorf("%s: DidResume = %v, want [false true]", l, resumed)
		}
	}
}

// nmap -sV names the Back End site as IIS, as on Exchange.
func nmapBackEnd(t *testing.T, rt *Runtime) {
	nmap, err := exec.LookPath("nmap")
	if err != nil {
		t.Skip("nmap is not installed (apt-get install nmap): the Back End site's service detection is not checked")
	}
	ex01 := rt.Server("EX01")
	port := fmt.Sprint(rt.o.Topology.Port(444))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, nmap, "-sV", "-Pn", "-n", "-p", port, ex01.Config.Address).CombinedOutput()
	if err != nil {
		t.Fatalf("nmap: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "Microsoft IIS httpd") || !strings.Contains(string(out), "ssl/") {
		t.Errorf("nmap -sV -p %s does not report ssl/... Microsoft IIS httpd:\n%s", port, out)
	}
}
