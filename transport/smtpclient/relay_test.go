package smtpclient

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/exsim/exsim/servers/smtpd"
)

// relayClient sets up a pipelining session to ts that counts its writes,
// with the default Timeout (as Front End Transport's proxy sets it up).
func relayClient(t *testing.T, ts *testServer, tr *transcript) (*Client, *countConn) {
	t.Helper()
	cc := &countConn{Conn: dial(t, ts)}
	o := Options{Helo: "ex01.contoso.com", TLS: TLSNone, Chunking: true}
	if tr != nil {
		o.Trace = tr.trace
	}
	c, err := NewClient(context.Background(), cc, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, cc
}

// TestRelayTranscript: a proxy's transaction on a server that offers
// PIPELINING and CHUNKING. MAIL waits for the first RCPT and goes in its
// write, a refused recipient gets the server's own reply, the message is
// one BDAT LAST chunk (a leading dot as it is), and the next transaction
// starts without RSET: three writes for two recipients, two for one.
func TestRelayTranscript(t *testing.T) {
	l := newLab(t)
	ts := startServer(t, l, serverOptions{reject: map[string]*smtpd.Reply{
		"nobody@fabrikam.com": {Code: 550, Enhanced: "5.1.1", Text: "User unknown"},
	}})
	tr := &transcript{}
	c, cc := relayClient(t, ts, tr)
	_, mark := tr.since(0)

	before := cc.count()
	c.Mail(&Envelope{From: "alice@contoso.com", EnvID: "id1", Ret: "HDRS"}, 0)
	if c.InTransaction() || cc.count() != before {
		t.Fatal("Mail sent something or opened a transaction on the server")
	}
	r, err := c.Rcpt(Rcpt{Address: "bob@fabrikam.com", Notify: []string{"FAILURE"}})
	if err != nil || r.String() != "250 2.1.5 Recipient OK" || !c.InTransaction() {
		t.Fatalf("first Rcpt = %v, %v (in transaction %v)", r, err, c.InTransaction())
	}
	r, err = c.Rcpt(Rcpt{Address: "nobody@fabrikam.com"})
	if err != nil || r.String() != "550 5.1.1 User unknown" {
		t.Fatalf("refused Rcpt = %v, %v", r, err)
	}
	body := ".dot\r\nSubject: one\r\n\r\nx\r\n"
	r, err = c.Data([]byte(body[:6]), []byte(body[6:]))
	if err != nil || r.String() != "250 2.6.0 <test@ex02.contoso.com> Queued mail for delivery" || c.InTransaction() {
		t.Fatalf("Data = %v, %v (in transaction %v)", r, err, c.InTransaction())
	}
	if n := cc.count() - before; n != 3 {
		t.Errorf("%d writes for MAIL, two RCPTs and the message, want 3", n)
	}
	if err := c.Reset(); err != nil {
		t.Fatal(err)
	}
	var lines []string
	lines, mark = tr.since(mark)
	want := []string{
		"> MAIL FROM:<alice@contoso.com> BODY=8BITMIME RET=HDRS ENVID=id1",
		"> RCPT TO:<bob@fabrikam.com> NOTIFY=FAILURE",
		"< 250 2.1.0 Sender OK",
		"< 250 2.1.5 Recipient OK",
		"> RCPT TO:<nobody@fabrikam.com>",
		"< 550 5.1.1 User unknown",
		"> BDAT " + strconv.Itoa(len(body)) + " LAST",
		"< 250 2.6.0 <test@ex02.contoso.com> Queued mail for delivery",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("transcript:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}

	// The next transaction: no RSET before it, two writes.
	before = cc.count()
	c.Mail(&Envelope{From: "alice@contoso.com"}, 4096)
	if r, err := c.Rcpt(Rcpt{Address: "carol@fabrikam.com"}); err != nil || !r.OK() {
		t.Fatalf("Rcpt = %v, %v", r, err)
	}
	if r, err := c.Data([]byte("Subject: two\r\n\r\n")); err != nil || !r.OK() {
		t.Fatalf("Data = %v, %v", r, err)
	}
	if n := cc.count() - before; n != 2 {
		t.Errorf("%d writes for the second message, want 2", n)
	}
	lines, mark = tr.since(mark)
	if lines[0] != "> MAIL FROM:<alice@contoso.com> BODY=8BITMIME SIZE=4096" {
		t.Errorf("second MAIL = %q, want the declared SIZE", lines[0])
	}

	// A transaction the client abandons after a RCPT costs an RSET; one
	// that never reached the server costs nothing.
	c.Mail(&Envelope{From: "alice@contoso.com"}, 0)
	if _, err := c.Rcpt(Rcpt{Address: "dave@fabrikam.com"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Reset(); err != nil || c.InTransaction() {
		t.Fatalf("Reset = %v (in transaction %v)", err, c.InTransaction())
	}
	c.Mail(&Envelope{From: "alice@contoso.com"}, 0)
	before = cc.count()
	if err := c.Reset(); err != nil || cc.count() != before {
		t.Fatalf("Reset of an unsent transaction = %v after %d writes", err, cc.count()-before)
	}
	lines, _ = tr.since(mark)
	if got := strings.Join(lines, "\n"); !strings.HasSuffix(got, "> RSET\n< 250 2.0.0 Resetting") {
		t.Errorf("abandoned transaction transcript:\n%s\nwant it to end with RSET", got)
	}
	txns := ts.transactions()
	if len(txns) != 2 || txns[0].body != body || strings.Join(txns[0].rcpts, ",") != "bob@fabrikam.com" ||
		txns[0].mail.EnvID != "id1" || txns[0].ropts[0].Notify.String() != "FAILURE" || txns[1].body != "Subject: two\r\n\r\n" {
		t.Errorf("server got %+v", txns)
	}
	if _, err := c.Data([]byte("x")); err == nil {
		t.Error("Data without a transaction: no error")
	}
}

// TestRelayRefusedMail: a refused MAIL is the first Rcpt's reply, and the
// next Rcpt sends MAIL again.
func TestRelayRefusedMail(t *testing.T) {
	l := newLab(t)
	ts := startServer(t, l, serverOptions{mailErr: &smtpd.Reply{Code: 452, Enhanced: "4.3.1", Text: "Insufficient system resources"}})
	tr := &transcript{}
	c, _ := relayClient(t, ts, tr)
	_, mark := tr.since(0)
	c.Mail(&Envelope{From: "alice@contoso.com"}, 0)
	for i := range 2 {
		r, err := c.Rcpt(Rcpt{Address: "bob@fabrikam.com"})
		if err != nil || r.String() != "452 4.3.1 Insufficient system resources" || c.InTransaction() {
			t.Fatalf("Rcpt %d = %v, %v (in transaction %v)", i, r, err, c.InTransaction())
		}
	}
	lines, _ := tr.since(mark)
	if n := strings.Count(strings.Join(lines, "\n"), "> MAIL FROM:"); n != 2 {
		t.Errorf("MAIL sent %d times, want 2:\n%s", n, strings.Join(lines, "\n"))
	}
	if _, err := c.Data([]byte("x")); err == nil {
		t.Error("Data after a refused MAIL: no error")
	}
}

// TestRelayWithoutChunking: a server without CHUNKING gets one command at
// a time and DATA with dot-stuffing.
func TestRelayWithoutChunking(t *testing.T) {
	c, seen := dialScripted(t)
	c.Mail(&Envelope{From: "a@contoso.com"}, 0)
	if r, err := c.Rcpt(Rcpt{Address: "b@fabrikam.com"}); err != nil || !r.OK() {
		t.Fatalf("Rcpt = %v, %v", r, err)
	}
	if r, err := c.Data([]byte("Subject: x\r\n\r\n.dot\r\n")); err != nil || r.String() != "250 2.6.0 Queued" {
		t.Fatalf("Data = %v, %v", r, err)
	}
	c.Close()
	if got := seen(); got != wantScripted {
		t.Errorf("server saw %q, want %q", got, wantScripted)
	}
}
