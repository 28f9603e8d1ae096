package smtpclient

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"
)

// TestBuildEncodesUTF8: a non-ASCII subject and display name go out as
// RFC 2047 encoded words and parse back to the same text.
func TestBuildEncodesUTF8(t *testing.T) {
	subject := "Réunion à Zürich — ☃ " + strings.Repeat("long ", 20)
	m := &Message{From: "zoe@contoso.com", FromName: "Zoë Ångström", To: []string{"bob@fabrikam.com", "carol@fabrikam.com"},
		Subject: subject, Body: "Grüße\nline two", Headers: []string{"X-MS-Exchange-Organization-SCL: -1"}}
	now := time.Date(2026, 12, 5, 6, 0, 0, 0, time.UTC)
	b, err := Build(m, now, "ex01.contoso.com")
	if err != nil {
		t.Fatalf("Build = %v", err)
	}
	i := bytes.Index(b, []byte("\r\n\r\n"))
	if i < 0 {
		t.Fatalf("no end of header:\n%s", b)
	}
	head, body := b[:i+2], b[i+4:]
	for i, c := range head {
		if c >= 0x80 {
			t.Fatalf("header byte %d is not ASCII:\n%s", i, head)
		}
	}
	for _, want := range []string{"=?utf-8?", "X-MS-Exchange-Organization-SCL: -1\r\n", "Message-ID: " + m.MessageID + "\r\n", "MIME-Version: 1.0\r\n", "Date: Sat, 5 Dec 2026 06:00:00 +0000\r\n"} {
		if !bytes.Contains(head, []byte(want)) {
			t.Errorf("header lacks %q:\n%s", want, head)
		}
	}
	if string(body) != "Grüße\r\nline two\r\n" {
		t.Errorf("body = %q", body)
	}
	r, err := mail.CreateReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("mail.CreateReader = %v", err)
	}
	if got, err := r.Header.Subject(); err != nil || got != subject {
		t.Errorf("Subject = %q, %v; want %q", got, err, subject)
	}
	from, err := r.Header.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Name != "Zoë Ångström" || from[0].Address != "zoe@contoso.com" {
		t.Errorf("From = %v, %v", from, err)
	}
	to, err := r.Header.AddressList("To")
	if err != nil || len(to) != 2 || to[1].Address != "carol@fabrikam.com" {
		t.Errorf("To = %v, %v", to, err)
	}
	if id, err := r.Header.MessageID(); err != nil || "<"+id+">" != m.MessageID {
		t.Errorf("Message-ID = %q, %v; want %s", id, err, m.MessageID)
	}
	p, err := r.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	if text, _ := io.ReadAll(p.Body); string(text) != "Grüße\r\nline two\r\n" {
		t.Errorf("text = %q", text)
	}
}

func TestBuildASCIIAndSize(t *testing.T) {
	m := &Message{From: "alice@contoso.com", To: []string{"bob@fabrikam.com"}, Subject: "hello", Body: "hi", Size: 10000}
	b, err := Build(m, time.Now(), "ex01.contoso.com")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"From: <alice@contoso.com>\r\n", "To: <bob@fabrikam.com>\r\n", "Subject: hello\r\n"} {
		if !bytes.HasPrefix(b, []byte("From: ")) || !bytes.Contains(b, []byte(want)) {
			t.Errorf("message lacks %q:\n%s", want, b)
		}
	}
	if len(b) < 10000 || len(b) > 10200 {
		t.Errorf("len = %d, want about Size (10000)", len(b))
	}
	if _, err := Build(&Message{From: "a@b.c", Headers: []string{"no colon here"}}, time.Now(), "x"); err == nil {
		t.Error("Build with a header without a colon succeeded")
	}
}
