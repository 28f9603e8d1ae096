package smtpd

import (
	"bytes"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"

	"github.com/exsim/exsim/internal/fuzzseed"
)

// FuzzSMTPCommand attacks the command and parameter parsers.
func FuzzSMTPCommand(f *testing.F) {
	for _, s := range []string{
		"MAIL FROM:<a@b.example> SIZE=100 BODY=8BITMIME RET=HDRS ENVID=QQ+2B1 AUTH=<>",
		"MAIL FROM:<> SMTPUTF8",
		"RCPT TO:<b@contoso.com> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;b+2Bx@contoso.com",
		"RCPT TO:<@a.example,@b.example:c@[IPv6:2001:db8::1]>",
		"RCPT TO:<\"quoted\\\" local\"@[192.0.2.1]>",
		"EHLO [IPv6:::1]", "HELO x-y.example", "BDAT 100 LAST", "BDAT 18446744073709551616",
		"MAIL FROM:<jürgen@fabrikam.com> SMTPUTF8", "RCPT TO:<Postmaster>", "AUTH PLAIN =",
	} {
		fuzzseed.Add(f, s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		var buf [16]byte
		verb, arg := splitCommand([]byte(line), &buf)
		if len(verb) > len(buf) {
			t.Fatalf("verb %q longer than its buffer", verb)
		}
		validHelloArg(arg)
		parseBDAT(arg)
		for _, prefix := range []string{"FROM:", "TO:"} {
			path, rest, ok := splitPath(arg, prefix)
			if !ok {
				continue
			}
			params, ok := parseParams(rest)
			if !ok {
				continue
			}
			utf8ok := false
			if prefix == "FROM:" {
				o, r := mailOptions(params)
				if r == nil {
					utf8ok = o.SMTPUTF8
				}
			} else {
				rcptOptions(params, true)
			}
			if p, ok := stripSourceRoute(path, utf8ok); ok && validMailbox(p, utf8ok) {
				if bytes.ContainsAny(p, "\r\n\x00") || !utf8ok && !isASCII(p) {
					t.Fatalf("validMailbox(%q) accepted a control or non-ASCII byte", p)
				}
			}
		}
		if v, ok := decodeXtext(line); ok && len(v) > len(line) {
			t.Fatalf("decodeXtext(%q) grew to %q", line, v)
		}
	})
}

// fuzzBackend discards messages and counts Data calls in progress.
type fuzzBackend struct{ active atomic.Int32 }

func (b *fuzzBackend) NewSession(c *Conn) (Session, error) { return &fuzzSession{b: b, c: c}, nil }

type fuzzSession struct {
	b *fuzzBackend
	c *Conn
}

func (s *fuzzSession) Mail(string, *MailOptions) error { return nil }
func (s *fuzzSession) Rcpt(to string, _ *RcptOptions) error {
	if len(to) > 0 && to[0] == 'x' {
		return ReplyUserUnknown
	}
	return nil
}
func (s *fuzzSession) Data(r io.Reader) (*Reply, error) {
	s.b.active.Add(1)
	defer s.b.active.Add(-1)
	var first [1]byte
	if n, _ := r.Read(first[:]); n == 1 && first[0] == 'Q' {
		return ReplyHopCount, nil // returns early; the server drains
	}
	_, err := io.Copy(io.Discard, r)
	return nil, err
}
func (s *fuzzSession) Reset()                   {}
func (s *fuzzSession) Logout()                  {}
func (s *fuzzSession) AuthMechanisms() []string { return []string{"NTLM", "LOGIN", "PLAIN"} }
func (s *fuzzSession) Auth(mech string) (sasl.Server, error) {
	check := func(u, p string) error {
		if p != "pw" {
			return io.ErrUnexpectedEOF
		}
		s.c.SetAuthIdentity(u)
		return nil
	}
	if mech == "LOGIN" {
		return NewLoginServer(check), nil
	}
	return sasl.NewPlainServer(func(_, u, p string) error { return check(u, p) }), nil
}

// FuzzSession feeds arbitrary client bytes to a session over net.Pipe: the
// session must end without a panic, a hang or a goroutine left running.
func FuzzSession(f *testing.F) {
	fuzzseed.AddBytes(f,
		"EHLO a.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@contoso.com>\r\nDATA\r\nSubject: x\r\n\r\n..dot\r\n.\r\nQUIT\r\n",
		"EHLO a\r\nMAIL FROM:<> BODY=BINARYMIME\r\nRCPT TO:<c@d.example>\r\nBDAT 5\r\nhelloBDAT 3 LAST\r\nabcQUIT\r\n",
		"EHLO a\r\nMAIL FROM:<>\r\nRCPT TO:<c@d.example>\r\nBDAT 100\r\nshort",
		"EHLO a\r\nMAIL FROM:<>\r\nRCPT TO:<c@d.example>\r\nDATA\r\nQuick\r\n.\r\nRSET\r\n",
		"EHLO a\r\nAUTH LOGIN\r\ndXNlcg==\r\ncHc=\r\nMAIL FROM:<>\r\nRCPT TO:<x@y.example>\r\n",
		"EHLO a\r\nAUTH PLAIN\r\n*\r\nAUTH PLAIN AHUAcHc=\r\nAUTH PLAIN AHUAcHc=\r\n",
		"HELO a\r\nMAIL FROM:<a@b> SIZE=1\r\nSTARTTLS\r\n\x00\r\n\n\n\r\r\n",
		"EHLO a\r\nMAIL FROM:<>\r\nRCPT TO:<c@d.example>\r\nDATA\r\nbare\nlf\n.\nstill data\r\n.\r\n",
	)
	f.Fuzz(func(t *testing.T, data []byte) {
		be := &fuzzBackend{}
		lim := DefaultLimits()
		lim.TarpitInterval = -1
		lim.ConnectionInactivityTimeout = 2 * time.Second
		lim.MaxMessageSize = 4096
		lim.MaxHeaderSize = 512
		lim.MaxProtocolErrors = 20
		s := NewServer(be, Options{Hostname: testHost, Limits: lim})
		cli, srv := net.Pipe()
		finished := make(chan struct{})
		go func() {
			s.admit(srv) // runs the session to its end
			close(finished)
		}()
		drained := make(chan struct{})
		go func() {
			io.Copy(io.Discard, cli)
			close(drained)
		}()
		cli.SetWriteDeadline(time.Now().Add(5 * time.Second))
		cli.Write(data)
		cli.Close()

		select {
		case <-finished:
		case <-time.After(10 * time.Second):
			t.Fatalf("session hung on input %q", data)
		}
		<-drained
		if n := be.active.Load(); n != 0 {
			t.Fatalf("%d Session.Data calls still running after the connection ended", n)
		}
		s.Close()
	})
}
