package smtpclient

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestDialTLSModes(t *testing.T) {
	l := newLab(t)
	tests := []struct {
		name        string
		srv         serverOptions
		mode        TLSMode
		wantTLS     bool
		wantOffered bool
		wantStep    Step // a set-up failure
	}{
		{name: "required, offered", srv: serverOptions{starttls: true}, mode: TLSRequired, wantTLS: true, wantOffered: true},
		{name: "required, not offered", srv: serverOptions{}, mode: TLSRequired, wantStep: StepSTARTTLS},
		{name: "opportunistic, offered", srv: serverOptions{starttls: true}, mode: TLSOpportunistic, wantTLS: true, wantOffered: true},
		{name: "opportunistic, not offered", srv: serverOptions{}, mode: TLSOpportunistic},
		{name: "off, offered", srv: serverOptions{starttls: true}, mode: TLSNone, wantOffered: true},
		{name: "implicit", srv: serverOptions{implicit: true}, mode: TLSImplicit, wantTLS: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, l, tt.srv)
			c, err := NewClient(context.Background(), dial(t, ts), Options{Helo: "ex01.contoso.com", TLS: tt.mode, TLSConfig: l.clientTLS(), Timeout: 5 * time.Second})
			if tt.wantStep != "" {
				var e *Error
				if !errors.As(err, &e) || e.Step != tt.wantStep {
					t.Fatalf("NewClient(%v) = %v, want a %s error", tt.mode, err, tt.wantStep)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewClient(%v) = %v", tt.mode, err)
			}
			defer c.Close()
			s := c.Session
			if !strings.HasPrefix(s.Greeting, "220 ex02.contoso.com Microsoft ESMTP MAIL Service ready") {
				t.Errorf("Greeting = %q", s.Greeting)
			}
			if (s.TLS != nil) != tt.wantTLS {
				t.Errorf("TLS = %v, want TLS %v", s.TLS != nil, tt.wantTLS)
			}
			if s.OfferedSTARTTLS != tt.wantOffered {
				t.Errorf("OfferedSTARTTLS = %v, want %v", s.OfferedSTARTTLS, tt.wantOffered)
			}
			if tt.mode != TLSImplicit && (len(s.EHLO) == 0 || !strings.HasPrefix(s.EHLO[0], "ex02.contoso.com Hello")) {
				t.Errorf("EHLO = %q, want the server's EHLO lines", s.EHLO)
			}
			if tt.wantTLS && tt.mode != TLSImplicit && (!slices.Contains(s.EHLOTLS, "PIPELINING") || slices.Contains(s.EHLOTLS, "STARTTLS")) {
				t.Errorf("EHLOTLS = %q, want the EHLO after TLS (PIPELINING, no STARTTLS)", s.EHLOTLS)
			}
			rep, err := c.Deliver(&Envelope{From: "alice@contoso.com", To: []Rcpt{{Address: "bob@fabrikam.com"}}}, []byte("Subject: x\r\n\r\nhi\r\n"))
			if err != nil || !rep["bob@fabrikam.com"].OK() {
				t.Fatalf("Deliver = %v, %v", rep, err)
			}
			ts.mu.Lock()
			defer ts.mu.Unlock()
			if ts.helo[0] != "ex01.contoso.com" || ts.tls[0] != tt.wantTLS {
				t.Errorf("server saw EHLO %q, TLS %v; want ex01.contoso.com, %v", ts.helo[0], ts.tls[0], tt.wantTLS)
			}
		})
	}
}

func TestDialTLSVerifies(t *testing.T) {
	l := newLab(t)
	ts := startServer(t, l, serverOptions{starttls: true})
	cfg := l.ca.ClientTLS("ex03.contoso.com", nil) // not the server's name
	_, err := NewClient(context.Background(), dial(t, ts), Options{Helo: "ex01.contoso.com", TLS: TLSRequired, TLSConfig: cfg, Timeout: 5 * time.Second})
	var e *Error
	if !errors.As(err, &e) || e.Step != StepTLS {
		t.Fatalf("NewClient with the wrong server name = %v, want a tls error", err)
	}
}

// TestDialGreetingRefused: a 554 greeting is an *Error carrying the reply.
func TestDialGreetingRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.Write([]byte("554 5.7.1 Client host rejected\r\n"))
		c.Close()
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_, err = NewClient(context.Background(), conn, Options{Helo: "ex01.contoso.com", Timeout: 5 * time.Second})
	var e *Error
	if !errors.As(err, &e) || e.Step != StepGreeting || e.Reply != "554 5.7.1 Client host rejected" {
		t.Fatalf("NewClient = %#v, want the greeting's reply", err)
	}
	if got := ReplyText(err); got != "554 5.7.1 Client host rejected" {
		t.Errorf("ReplyText = %q", got)
	}
}

// TestTrace checks the record of a session: every line in both directions
// in order, the TLS note, and no body line.
func TestTrace(t *testing.T) {
	l := newLab(t)
	ts := startServer(t, l, serverOptions{starttls: true})
	var lines []string
	c, err := NewClient(context.Background(), dial(t, ts), Options{Helo: "ex01.contoso.com", TLS: TLSOpportunistic, TLSConfig: l.clientTLS(), Timeout: 5 * time.Second,
		Trace: func(dir, line string) { lines = append(lines, dir+" "+line) }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Deliver(&Envelope{From: "alice@contoso.com", To: []Rcpt{{Address: "bob@fabrikam.com"}}}, []byte("Subject: secret\r\n\r\nbody line\r\n")); err != nil {
		t.Fatal(err)
	}
	c.Close()
	want := []string{
		"< 220 ex02.contoso.com Microsoft ESMTP MAIL Service ready",
		"> EHLO ex01.contoso.com",
		"< 250-ex02.contoso.com Hello",
		"> STARTTLS",
		"< 220 2.0.0 SMTP server ready",
		"* TLS negotiation succeeded: TLS 1.2 TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
		"> EHLO ex01.contoso.com",
		"> MAIL FROM:<alice@contoso.com>",
		"< 250 2.1.0 Sender OK",
		"> RCPT TO:<bob@fabrikam.com>",
		"< 250 2.1.5 Recipient OK",
		"> DATA",
		"< 354",
		"> .",
		"< 250 2.6.0 <test@ex02.contoso.com> Queued mail for delivery",
		"> QUIT",
	}
	i := 0
	for _, l := range lines {
		if i < len(want) && strings.HasPrefix(l, want[i]) {
			i++
		}
		if strings.Contains(l, "secret") || strings.Contains(l, "body line") {
			t.Errorf("the trace has a body line: %q", l)
		}
	}
	if i < len(want) {
		t.Errorf("trace lacks %q (in order); got:\n%s", want[i], strings.Join(lines, "\n"))
	}
}
