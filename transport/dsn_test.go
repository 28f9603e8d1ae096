package transport

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
)

// reportType parses a report's Content-Type.
func reportType(t *testing.T, report string) (string, map[string]string) {
	t.Helper()
	e, err := message.Read(strings.NewReader(report))
	if err != nil {
		t.Fatalf("message.Read(report) = %v", err)
	}
	mt, params, err := e.Header.ContentType()
	if err != nil {
		t.Fatalf("report Content-Type: %v", err)
	}
	return mt, params
}

// TestBuildDSNStructure parses an NDR back with go-message: the parts of a
// multipart/report (RFC 6522) in order, Exchange's texts, an encoded
// UTF-8 subject, and the original message for RET=FULL.
func TestBuildDSNStructure(t *testing.T) {
	tr := &Transport{o: Options{FQDN: "ex01.contoso.com", Postmaster: "postmaster@contoso.com"}}
	orig := "From: alice@contoso.com\r\nTo: nobody@fabrikam.com\r\nSubject: =?utf-8?q?R=C3=A9union?=\r\n\r\nbody line\r\n"
	m := &Message{From: "alice@contoso.com", Subject: "=?utf-8?q?R=C3=A9union?= à Zürich", Arrived: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	m.DSN.Ret, m.DSN.EnvID = "FULL", "ENV42"
	rcpts := []Recipient{{Address: "nobody@fabrikam.com", ORCPT: "rfc822;nobody@fabrikam.com", LastError: "550 5.1.1 User unknown"}}
	report, subject, err := tr.buildDSN(m, rcpts, []byte(orig), dsnFailed, time.Date(2026, 1, 2, 4, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatalf("buildDSN = %v", err)
	}
	if want := "Undeliverable: Réunion à Zürich"; subject != want {
		t.Errorf("subject = %q, want %q", subject, want)
	}
	if !isASCII(string(report)) {
		t.Errorf("the report is not ASCII:\n%s", report)
	}
	e, err := message.Read(strings.NewReader(string(report)))
	if err != nil {
		t.Fatalf("message.Read = %v", err)
	}
	h := mail.Header{Header: e.Header}
	if got, err := h.Subject(); err != nil || got != "Undeliverable: Réunion à Zürich" {
		t.Errorf("Subject = %q, %v; want the UTF-8 subject back", got, err)
	}
	if from, err := h.AddressList("From"); err != nil || len(from) != 1 || from[0].Name != "Microsoft Outlook" || from[0].Address != "postmaster@contoso.com" {
		t.Errorf("From = %v, %v", from, err)
	}
	if got := e.Header.Get("X-MS-Exchange-Message-Is-Ndr"); got != "" || !e.Header.Has("X-MS-Exchange-Message-Is-Ndr") {
		t.Errorf("X-MS-Exchange-Message-Is-Ndr missing")
	}
	mt, params, _ := e.Header.ContentType()
	if mt != "multipart/report" || params["report-type"] != "delivery-status" {
		t.Errorf("Content-Type = %s %v", mt, params)
	}
	mr := e.MultipartReader()
	if mr == nil {
		t.Fatal("the report is not multipart")
	}
	var types, bodies []string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("NextPart = %v", err)
		}
		pt, _, _ := p.Header.ContentType()
		b, _ := io.ReadAll(p.Body)
		types, bodies = append(types, pt), append(bodies, string(b))
	}
	if want := []string{"text/plain", "message/delivery-status", "message/rfc822"}; strings.Join(types, ",") != strings.Join(want, ",") {
		t.Fatalf("parts = %v, want %v", types, want)
	}
	for _, want := range []string{"Delivery has failed to these recipients or groups:\r\n\r\nnobody@fabrikam.com\r\n", "Generating server: ex01.contoso.com", "Remote Server returned '550 5.1.1 User unknown'"} {
		if !strings.Contains(bodies[0], want) {
			t.Errorf("human-readable part lacks %q:\n%s", want, bodies[0])
		}
	}
	for _, want := range []string{"Reporting-MTA: dns;ex01.contoso.com\r\n", "Original-Envelope-Id: ENV42\r\n", "Arrival-Date: Fri, 02 Jan 2026 03:04:05 +0000\r\n\r\n",
		"Original-Recipient: rfc822;nobody@fabrikam.com\r\nFinal-Recipient: rfc822;nobody@fabrikam.com\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp;550 5.1.1 User unknown\r\n"} {
		if !strings.Contains(bodies[1], want) {
			t.Errorf("delivery-status part lacks %q:\n%s", want, bodies[1])
		}
	}
	if bodies[2] != orig {
		t.Errorf("message/rfc822 part = %q, want the original %q", bodies[2], orig)
	}
	// RET=HDRS (and the default): only the original header.
	m.DSN.Ret = "HDRS"
	report, _, err = tr.buildDSN(m, rcpts, []byte(orig), dsnFailed, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(report), "Content-Type: text/rfc822-headers\r\n\r\n"+orig[:strings.Index(orig, "\r\n\r\n")+2]) || strings.Contains(string(report), "body line") {
		t.Errorf("RET=HDRS report does not carry exactly the original header:\n%s", report)
	}
}

// TestBuildDSNHeaderFirewall: the header firewall page's rule for DSN
// messages: organization, forest and routing headers are removed from the
// original message (RET=FULL) and from the original header (RET=HDRS).
func TestBuildDSNHeaderFirewall(t *testing.T) {
	tr := &Transport{o: Options{FQDN: "ex01.contoso.com", Postmaster: "postmaster@contoso.com"}}
	orig := "Received: from ex01.contoso.com (192.0.2.31) by ex01.contoso.com; Fri, 2 Jan 2026 03:04:05 +0000\r\n" +
		HeaderAuthAs + ": Internal\r\n" + ForestPrefix + "RulesExecuted: EX01\r\nResent-From: bob@contoso.com\r\n" +
		"From: alice@contoso.com\r\nSubject: hi\r\n\r\nbody line\r\n"
	kept := "From: alice@contoso.com\r\nSubject: hi\r\n\r\n"
	rcpts := []Recipient{{Address: "nobody@fabrikam.com", LastError: "550 5.1.1 User unknown"}}
	for _, ret := range []string{"FULL", "HDRS"} {
		m := &Message{From: "alice@contoso.com", Subject: "hi", Arrived: time.Now()}
		m.DSN.Ret = ret
		report, _, err := tr.buildDSN(m, rcpts, []byte(orig), dsnFailed, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		for _, gone := range []string{"192.0.2.31", HeaderAuthAs, ForestPrefix, "Resent-From"} {
			if strings.Contains(string(report), gone) {
				t.Errorf("RET=%s: the report carries %q:\n%s", ret, gone, report)
			}
		}
		if !strings.Contains(string(report), kept) {
			t.Errorf("RET=%s: the report lacks the original's other fields %q:\n%s", ret, kept, report)
		}
	}
}
