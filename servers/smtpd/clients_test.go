package smtpd

import (
	"bytes"
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/exsim/exsim/servers/internal/servertest"
)

// realClientServer is a Client Frontend-like connector for real clients.
type realClientServer struct {
	b         *testBackend
	addr      string
	port      string
	caFile    string
	clientTLS *tls.Config
}

func clientServer(t *testing.T) realClientServer {
	t.Helper()
	serverTLS, clientTLS, caPEM := testTLSWithCA(t)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, caPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	b := &testBackend{mechs: []string{"NTLM", "LOGIN", "PLAIN"}}
	o := Options{TLSConfig: serverTLS, RequireTLSForAuth: true, Limits: DefaultLimits()}
	o.Limits.TarpitInterval = -1
	_, addr := startServer(t, b, o)
	_, port, _ := strings.Cut(addr, ":")
	return realClientServer{b, addr, port, caFile, clientTLS}
}

func TestSwaks(t *testing.T) {
	swaks := servertest.NeedTool(t, "swaks")
	tests := []struct {
		name string
		args []string
		want []string
		auth string
		tls  bool
	}{
		{"plain", nil, []string{"<-  250 2.1.0 Sender OK", "<-  250-STARTTLS"}, "", false},
		{"tls", []string{"--tls"}, []string{"<~  250-AUTH NTLM LOGIN PLAIN"}, "", true},
		{"auth login", []string{"--tls", "--auth", "LOGIN", "--auth-user", "alice@contoso.com", "--auth-password", "P@ssw0rd"},
			[]string{"~> AUTH LOGIN", "<~  235 2.7.0 Authentication successful"}, "alice@contoso.com", true},
		{"auth plain", []string{"--tls", "--auth", "PLAIN", "--auth-user", "alice@contoso.com", "--auth-password", "P@ssw0rd"},
			[]string{"~> AUTH PLAIN", "<~  235 2.7.0 Authentication successful"}, "alice@contoso.com", true},
		{"pipeline", []string{"--pipeline"}, []string{" -> MAIL FROM:<sender@fabrikam.com>\n -> RCPT TO:<alice@contoso.com>\n -> DATA"}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := clientServer(t)
			b, port := srv.b, srv.port
			args := append([]string{"--server", "127.0.0.1", "--port", port, "--from", "sender@fabrikam.com", "--to", "alice@contoso.com",
				"--helo", "client.example.com", "--timeout", "20"}, tt.args...)
			out := servertest.CombinedOutput(t, "", swaks, args...)
			want := append([]string{"<-  220 ex01.contoso.com Microsoft ESMTP MAIL Service ready at ", "Queued mail for delivery"}, tt.want...)
			for _, w := range want {
				if !strings.Contains(out, w) {
					t.Errorf("swaks output lacks %q:\n%s", w, out)
				}
			}
			if m := b.messages(); len(m) != 1 || m[0].Auth != tt.auth || m[0].TLS != tt.tls || m[0].To[0] != "alice@contoso.com" {
				t.Errorf("messages = %+v, want one with auth %q, TLS %v", m, tt.auth, tt.tls)
			}
		})
	}
}

const pythonClient = `
import smtplib, ssl, sys
from email.message import EmailMessage
port, cafile = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=cafile)
with smtplib.SMTP("127.0.0.1", port, local_hostname="client.example.com", timeout=20) as s:
    s.starttls(context=ctx)
    s.ehlo("client.example.com")
    assert s.has_extn("smtputf8") and s.has_extn("chunking"), s.esmtp_features
    s.login("alice@contoso.com", "P@ssw0rd")
    msg = EmailMessage()
    msg["From"] = "jürgen@fabrikam.com"
    msg["To"] = "ñoño@contoso.com"
    msg["Subject"] = "grüße"
    msg.set_content("Hallo ñoño\n.leading dot\n")
    s.send_message(msg)
    print("sent")
`

func TestPythonSmtplib(t *testing.T) {
	python := servertest.NeedTool(t, "python3")
	srv := clientServer(t)
	b := srv.b
	out := servertest.CombinedOutput(t, "", python, "-c", pythonClient, srv.port, srv.caFile)
	if !strings.Contains(out, "sent") {
		t.Fatalf("python: %s", out)
	}
	m := b.messages()
	if len(m) != 1 {
		t.Fatalf("messages = %d, want 1", len(m))
	}
	if m[0].From != "jürgen@fabrikam.com" || m[0].To[0] != "ñoño@contoso.com" || !m[0].Mail.SMTPUTF8 || m[0].Auth != "alice@contoso.com" || !m[0].TLS {
		t.Errorf("message = %+v, want SMTPUTF8 from jürgen to ñoño, authenticated over TLS", m[0])
	}
	if !bytes.Contains(m[0].Body, []byte("\r\n.leading dot\r\n")) {
		t.Errorf("body not dot-unstuffed: %q", m[0].Body)
	}
}

func TestOpenSSLStartTLS(t *testing.T) {
	openssl := servertest.NeedTool(t, "openssl")
	srv := clientServer(t)
	out := servertest.CombinedOutput(t, "EHLO client.example.com\nQUIT\n", openssl, "s_client", "-starttls", "smtp", "-connect", srv.addr,
		"-CAfile", srv.caFile, "-verify_return_error", "-servername", testHost, "-crlf", "-ign_eof")
	for _, w := range []string{"Verify return code: 0 (ok)", "250-AUTH NTLM LOGIN PLAIN", "250 XRDST", "221 2.0.0 Service closing transmission channel"} {
		if !strings.Contains(out, w) {
			t.Errorf("openssl s_client output lacks %q:\n%s", w, out)
		}
	}
	if strings.Contains(out, "250-STARTTLS") {
		t.Errorf("STARTTLS offered again after TLS:\n%s", out)
	}
}

func TestGoSMTPClient(t *testing.T) {
	srv := clientServer(t)
	b := srv.b
	tests := []struct {
		name string
		auth sasl.Client
	}{
		{"PLAIN", sasl.NewPlainClient("", "alice@contoso.com", "P@ssw0rd")},
		{"LOGIN", sasl.NewLoginClient("alice@contoso.com", "P@ssw0rd")},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// go-smtp v0.25.1 runs EHLO (as "localhost") and STARTTLS here.
			c, err := gosmtp.DialStartTLS(srv.addr, srv.clientTLS)
			if err != nil {
				t.Fatalf("DialStartTLS() = %v", err)
			}
			defer c.Close()
			if err := c.Auth(tt.auth); err != nil {
				t.Fatalf("Auth(%s) = %v", tt.name, err)
			}
			if st, ok := c.TLSConnectionState(); !ok || len(st.VerifiedChains) == 0 || st.PeerCertificates[0].VerifyHostname(testHost) != nil {
				t.Errorf("TLSConnectionState() = %v, want a verified TLS session with %s", ok, testHost)
			}
			body := "Subject: go-smtp\r\n\r\n" + strings.Repeat("x", 5000) + "\r\n.dot\r\n"
			if err := c.SendMail("a@fabrikam.com", []string{"b@contoso.com", "c@contoso.com"}, strings.NewReader(body)); err != nil {
				t.Fatalf("SendMail() = %v", err)
			}
			var smtpErr *gosmtp.SMTPError
			err = c.Mail("a@fabrikam.com", &gosmtp.MailOptions{Size: 1 << 30})
			if !errors.As(err, &smtpErr) || smtpErr.Code != 552 || smtpErr.Message != "Message size exceeds fixed maximum message size" {
				t.Errorf("Mail(SIZE=1 GiB) = %v, want 552 5.3.4", err)
			}
			if err := c.Quit(); err != nil {
				t.Errorf("Quit() = %v", err)
			}
			m := b.messages()
			if len(m) != i+1 || string(m[i].Body) != body || len(m[i].To) != 2 || m[i].Auth != "alice@contoso.com" {
				t.Errorf("message = %+v", m)
			}
		})
	}
}
