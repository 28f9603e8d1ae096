package smtpclient

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/exsim/exsim/servers/smtpd"
)

func open(t *testing.T, l *lab, ts *testServer, mode TLSMode) *Client {
	t.Helper()
	return openWith(t, l, ts, Options{TLS: mode})
}

// openWith opens a session with o, its Helo, TLSConfig and Timeout set.
func openWith(t *testing.T, l *lab, ts *testServer, o Options) *Client {
	t.Helper()
	o.Helo, o.TLSConfig, o.Timeout = "ex01.contoso.com", l.clientTLS(), 5*time.Second
	c, err := NewClient(context.Background(), dial(t, ts), o)
	if err != nil {
		t.Fatalf("NewClient = %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestDeliverPartialFailure: a refused recipient keeps its RCPT reply, the
// others get the DATA reply; the DSN parameters and the body arrive as sent.
func TestDeliverPartialFailure(t *testing.T) { bothWays(t, testDeliverPartialFailure) }

func testDeliverPartialFailure(t *testing.T, chunking bool) {
	l := newLab(t)
	ts := startServer(t, l, serverOptions{starttls: true, reject: map[string]*smtpd.Reply{
		"nobody@fabrikam.com": {Code: 550, Enhanced: "5.1.1", Text: "User unknown"},
	}})
	c := openWith(t, l, ts, Options{TLS: TLSRequired, Chunking: chunking})
	body := "Subject: hello\r\n\r\nline one\r\n.leading dot\r\n"
	env := &Envelope{From: "alice@contoso.com", EnvID: "ENV1", Ret: "HDRS", To: []Rcpt{
		{Address: "bob@fabrikam.com", Notify: []string{"success", "failure"}, ORCPT: "rfc822;bob@fabrikam.com"},
		{Address: "nobody@fabrikam.com"},
		{Address: "carol@fabrikam.com"},
	}}
	got, err := c.Deliver(env, []byte(body))
	if err != nil {
		t.Fatalf("Deliver = %v", err)
	}
	queued := Reply{Code: 250, Text: "2.6.0 <test@ex02.contoso.com> Queued mail for delivery"}
	want := map[string]Reply{
		"bob@fabrikam.com":    queued,
		"nobody@fabrikam.com": {Code: 550, Text: "5.1.1 User unknown"},
		"carol@fabrikam.com":  queued,
	}
	if len(got) != len(want) {
		t.Errorf("Deliver = %v, want %v", got, want)
	}
	for a, w := range want {
		if got[a] != w {
			t.Errorf("Deliver: %s = %v, want %v", a, got[a], w)
		}
	}
	txns := ts.transactions()
	if len(txns) != 1 {
		t.Fatalf("server got %d transactions, want 1", len(txns))
	}
	tx := txns[0]
	if tx.from != "alice@contoso.com" || strings.Join(tx.rcpts, ",") != "bob@fabrikam.com,carol@fabrikam.com" || tx.body != body {
		t.Errorf("server got from %q rcpts %q body %q", tx.from, tx.rcpts, tx.body)
	}
	if tx.mail.EnvID != "ENV1" || tx.mail.RET != smtpd.DSNReturn("HDRS") || tx.mail.Size != int64(len(body)) {
		t.Errorf("MAIL options = %+v, want ENVID=ENV1 RET=HDRS SIZE=%d", tx.mail, len(body))
	}
	if o := tx.ropts[0]; o.Notify != smtpd.NotifySuccess|smtpd.NotifyFailure || o.ORCPTType != "rfc822" || o.ORCPT != "bob@fabrikam.com" {
		t.Errorf("RCPT options of bob = %+v", o)
	}
}

// TestDeliverRefusedTransactions: a refused MAIL, or every recipient
// refused, gives every recipient a reply, sends no DATA and leaves the
// session usable.
func TestDeliverRefusedTransactions(t *testing.T) { bothWays(t, testDeliverRefusedTransactions) }

func testDeliverRefusedTransactions(t *testing.T, chunking bool) {
	l := newLab(t)
	ts := startServer(t, l, serverOptions{starttls: true, reject: map[string]*smtpd.Reply{
		"nobody@fabrikam.com": {Code: 550, Enhanced: "5.1.1", Text: "User unknown"},
		"full@fabrikam.com":   {Code: 452, Enhanced: "4.2.2", Text: "Mailbox full"},
	}})
	c := openWith(t, l, ts, Options{TLS: TLSRequired, Chunking: chunking})
	got, err := c.Deliver(&Envelope{From: "alice@contoso.com", To: []Rcpt{{Address: "nobody@fabrikam.com"}, {Address: "full@fabrikam.com"}}}, []byte("x\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got["nobody@fabrikam.com"].String() != "550 5.1.1 User unknown" || got["full@fabrikam.com"].String() != "452 4.2.2 Mailbox full" || got["full@fabrikam.com"].Permanent() {
		t.Errorf("Deliver = %v", got)
	}
	got, err = c.Deliver(&Envelope{From: "alice@contoso.com", To: []Rcpt{{Address: "bob@fabrikam.com"}}}, []byte("x\r\n"))
	if err != nil || !got["bob@fabrikam.com"].OK() {
		t.Fatalf("the next transaction: Deliver = %v, %v", got, err)
	}
	if n := len(ts.transactions()); n != 1 {
		t.Errorf("server got %d messages, want 1", n)
	}

	ts2 := startServer(t, l, serverOptions{mailErr: &smtpd.Reply{Code: 550, Enhanced: "5.7.1", Text: "Client does not have permissions to send as this sender"}})
	c2 := openWith(t, l, ts2, Options{TLS: TLSNone, Chunking: chunking})
	got, err = c2.Deliver(&Envelope{From: "eve@contoso.com", To: []Rcpt{{Address: "bob@fabrikam.com"}, {Address: "carol@fabrikam.com"}}}, []byte("x\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"bob@fabrikam.com", "carol@fabrikam.com"} {
		if got[a].String() != "550 5.7.1 Client does not have permissions to send as this sender" {
			t.Errorf("refused MAIL: %s = %v", a, got[a])
		}
	}
}

// TestDeliverConnectionLost: 421 is not a reply to the recipients but a
// closing server; the caller drops the session.
func TestDeliverConnectionLost(t *testing.T) { bothWays(t, testDeliverConnectionLost) }

func testDeliverConnectionLost(t *testing.T, chunking bool) {
	l := newLab(t)
	ts := startServer(t, l, serverOptions{mailErr: &smtpd.Reply{Code: 421, Enhanced: "4.3.2", Text: "Service not available"}})
	c := openWith(t, l, ts, Options{TLS: TLSNone, Chunking: chunking})
	got, err := c.Deliver(&Envelope{From: "alice@contoso.com", To: []Rcpt{{Address: "bob@fabrikam.com"}}}, []byte("x\r\n"))
	if err == nil || got != nil {
		t.Fatalf("Deliver after 421 = %v, %v; want a connection error", got, err)
	}
}

func TestAuth(t *testing.T) {
	l := newLab(t)
	ts := startServer(t, l, serverOptions{starttls: true, users: map[string]string{"alice@contoso.com": "Pa55word"}})
	for _, mech := range []string{"PLAIN", "LOGIN"} {
		c := open(t, l, ts, TLSRequired)
		if err := c.Auth(mech, "alice@contoso.com", "wrong"); ReplyText(err) != "535 5.7.3 Authentication unsuccessful" {
			t.Errorf("Auth(%s, wrong password) = %v, want 535 5.7.3", mech, err)
		}
		if err := c.Auth(mech, "alice@contoso.com", "Pa55word"); err != nil {
			t.Fatalf("Auth(%s) = %v", mech, err)
		}
		if _, err := c.Deliver(&Envelope{From: "alice@contoso.com", To: []Rcpt{{Address: "bob@fabrikam.com"}}}, []byte("x\r\n")); err != nil {
			t.Fatal(err)
		}
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if len(ts.auth) != 2 || ts.auth[0] != "alice@contoso.com" || ts.auth[1] != "alice@contoso.com" {
		t.Errorf("server saw identities %q, want alice twice", ts.auth)
	}
}

func TestReplyOf(t *testing.T) {
	tests := []struct {
		err     error
		want    Reply
		connErr bool
	}{
		{err: &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "User unknown"}, want: Reply{Code: 550, Text: "5.1.1 User unknown"}},
		{err: &smtp.SMTPError{Code: 452, EnhancedCode: smtp.NoEnhancedCode, Message: "Too many recipients"}, want: Reply{Code: 452, Text: "Too many recipients"}},
		{err: &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "Service not available"}, connErr: true},
		{err: io.ErrUnexpectedEOF, connErr: true},
	}
	for _, tt := range tests {
		got, err := ReplyOf(tt.err)
		if (err != nil) != tt.connErr || got != tt.want {
			t.Errorf("ReplyOf(%v) = %v, %v; want %v, connection error %v", tt.err, got, err, tt.want, tt.connErr)
		}
	}
	if got := ReplyText(&Error{Step: StepEHLO, Err: errors.New("EOF")}); got != "ehlo: EOF" {
		t.Errorf("ReplyText(ehlo error) = %q", got)
	}
}
