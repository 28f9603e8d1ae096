package roles

import (
	"net/mail"
	"strings"
	"testing"

	"github.com/exsim/exsim/servers/httpd"
	"github.com/exsim/exsim/transport"
)

func TestSuppressesReplies(t *testing.T) {
	for _, tc := range []struct {
		headers string
		want    bool
	}{
		{"From: carol@fabrikam.com", false},
		{"From: carol@fabrikam.com\r\nAuto-Submitted: no", false},
		{"From: carol@fabrikam.com\r\nAuto-Submitted: auto-replied", true},
		{"From: carol@fabrikam.com\r\nPrecedence: bulk", true},
		{"From: carol@fabrikam.com\r\nX-Auto-Response-Suppress: DR, OOF", true},
		{"From: carol@fabrikam.com\r\nX-Auto-Response-Suppress: RN", false},
		{"From: carol@fabrikam.com\r\nList-Id: <lab.fabrikam.com>", true},
		{"From: MAILER-DAEMON@fabrikam.com", true},
		{"Return-Path: <>\r\nFrom: carol@fabrikam.com", false},
	} {
		m, err := mail.ReadMessage(strings.NewReader(tc.headers + "\r\n\r\nbody"))
		if err != nil {
			t.Fatal(err)
		}
		if got := suppressesReplies(m.Header); got != tc.want {
			t.Errorf("suppressesReplies(%q) = %v, want %v", tc.headers, got, tc.want)
		}
	}
	m, _ := mail.ReadMessage(strings.NewReader("Return-Path: <>\r\nFrom: carol@fabrikam.com\r\n\r\n"))
	if got := replyAddress(m.Header); got != "" {
		t.Errorf("replyAddress of a null sender = %q, want none", got)
	}
}

// TestAutomaticReplyExternal: bob's OOF answers a sender on the Internet
// with the external text, through the organization's Send connector,
// once, and never a message that asks for no automatic reply.
func TestAutomaticReplyExternal(t *testing.T) {
	rt := startLab(t, "contoso-noedge", nil)
	be := webBackend{r: rt.Server("EX02").role.(*mailboxRole)}
	if err := be.SetOOF(t.Context(), "bob@contoso.com", httpd.OOFSettings{State: "Enabled", ExternalAudience: "All",
		InternalReply: "internal text", ExternalReply: "Bob is away until Monday."}); err != nil {
		t.Fatal(err)
	}
	if s, err := be.OOF(t.Context(), "bob@contoso.com"); err != nil || s.State != "Enabled" {
		t.Fatalf("OOF = %+v, %v", s, err)
	}
	for _, subject := range []string{"question 1", "question 2"} {
		if res := sendFrom(t, rt, "INET01", "carol@fabrikam.com", subject, "bob@contoso.com"); res.Err != nil {
			t.Fatal(res.Err)
		}
		waitMail(t, rt, "EX02", "bob@contoso.com", subject)
	}
	reply := waitMail(t, rt, "INET01", "carol@fabrikam.com", "Automatic reply: question 1")
	for _, want := range []string{"Bob is away until Monday.", "Auto-Submitted: auto-replied", "X-Auto-Response-Suppress: All", "In-Reply-To: <"} {
		if !strings.Contains(reply, want) {
			t.Errorf("automatic reply lacks %q:\n%s", want, reply)
		}
	}
	// Replies are submitted during delivery: with both messages in bob's
	// mailbox, EX02's tracking log holds every reply there will be.
	evs, _, err := transport.SearchTracking(rt.Server("EX02").transport.Tracking().Dir(), "EX02",
		transport.TrackingQuery{EventID: "SUBMIT", Subject: "Automatic reply: question"})
	if err != nil || len(evs) != 1 {
		t.Errorf("EX02 submitted %d automatic replies to carol's two messages (%v), want one", len(evs), err)
	}
}
