// Session set-up: greeting, EHLO with the sending server's FQDN, STARTTLS
// or implicit TLS, before go-smtp takes the connection for the transaction.
//
// go-smtp's client sends EHLO "localhost" before STARTTLS and exports no
// way to start TLS after a custom EHLO, so the plain-text phase is done
// here; go-smtp then takes the (possibly encrypted) connection.

package smtpclient

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"strings"
	"time"

	"github.com/emersion/go-smtp"
)

// TLSMode is how a session uses TLS.
type TLSMode int

const (
	TLSOpportunistic TLSMode = iota // STARTTLS when offered
	TLSNone                         // never
	TLSRequired                     // STARTTLS or fail
	TLSImplicit                     // TLS from the first byte (465-style)
)

// defaultTimeout is Options.Timeout when none is given.
const defaultTimeout = 30 * time.Second

// Options for Dial.
type Options struct {
	Helo string
	TLS  TLSMode
	// TLSConfig is used for STARTTLS and implicit TLS.
	TLSConfig *tls.Config
	// Timeout bounds each step (default 30 s).
	Timeout time.Duration
	// DataTimeout bounds the wait for the reply to the end of DATA
	// (default go-smtp's, 12 minutes).
	DataTimeout time.Duration
	// Chunking lets Client.Deliver pipeline MAIL, RCPT and BDAT LAST
	// (RFC 2920, RFC 3030) when the server offers PIPELINING and CHUNKING;
	// without either it falls back to one command at a time and DATA.
	Chunking bool
	// Trace, when set, receives every line: ("<", line) from the server,
	// (">", line) from the client, ("*", note).
	Trace func(dir, line string)
}

// Session is what the server showed before the transaction.
type Session struct {
	Greeting string   // the 220 line(s), joined
	EHLO     []string // EHLO reply lines before TLS, without the code
	// EHLOTLS are the EHLO lines after STARTTLS (empty without TLS).
	EHLOTLS []string
	TLS     *tls.ConnectionState
	// OfferedSTARTTLS records that the plain EHLO listed STARTTLS.
	OfferedSTARTTLS bool
}

// Step names the part of session set-up that failed.
type Step string

const (
	StepGreeting Step = "greeting" // reading the 220 greeting
	StepEHLO     Step = "ehlo"     // EHLO, before or after TLS
	StepSTARTTLS Step = "starttls" // not offered when required, or refused
	StepTLS      Step = "tls"      // the handshake (STARTTLS or implicit)
	StepWrite    Step = "write"    // sending a command
)

// Error is a failure during set-up with the server's reply when there was one.
type Error struct {
	Step  Step
	Reply string // e.g. "421 4.3.2 Service not available"
	Err   error
}

func (e *Error) Error() string {
	if e.Reply != "" {
		return fmt.Sprintf("%s: %s", e.Step, e.Reply)
	}
	return fmt.Sprintf("%s: %v", e.Step, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Dial sets up a session on conn (already connected) and returns a go-smtp
// client ready for MAIL FROM: for a proxy that relays a session command by
// command. Senders use NewClient and Client.Deliver. On error conn is
// closed.
func Dial(ctx context.Context, conn net.Conn, o Options) (*smtp.Client, *Session, error) {
	c, _, s, err := setUp(ctx, conn, o)
	return c, s, err
}

// setUp is Dial that also returns the connection go-smtp's client runs on,
// for the pipelined transactions of Client.Deliver.
func setUp(ctx context.Context, conn net.Conn, o Options) (*smtp.Client, net.Conn, *Session, error) {
	if o.Timeout <= 0 {
		o.Timeout = defaultTimeout
	}
	if o.Helo == "" {
		o.Helo = "localhost"
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	s := &Session{}
	if o.TLS == TLSImplicit {
		tc := tls.Client(conn, o.TLSConfig)
		conn.SetDeadline(time.Now().Add(o.Timeout))
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, nil, s, &Error{Step: StepTLS, Err: err}
		}
		cs := tc.ConnectionState()
		s.TLS = &cs
		conn = tc
	}
	conn.SetDeadline(time.Now().Add(o.Timeout))
	tp := textproto.NewConn(conn)
	trace := func(dir, line string) {
		if o.Trace != nil {
			o.Trace(dir, line)
		}
	}
	read := func(step Step, want int) ([]string, error) {
		lines, code, err := readReply(tp.Reader.R)
		for _, l := range lines {
			trace("<", l)
		}
		if err != nil {
			return nil, &Error{Step: step, Err: err}
		}
		if code != want {
			return lines, &Error{Step: step, Reply: strings.Join(lines, " / ")}
		}
		return lines, nil
	}
	send := func(line string) error {
		trace(">", line)
		if err := tp.PrintfLine("%s", line); err != nil {
			return &Error{Step: StepWrite, Err: err}
		}
		return nil
	}
	fail := func(err error) (*smtp.Client, net.Conn, *Session, error) {
		conn.Close()
		return nil, nil, s, err
	}
	greet, err := read(StepGreeting, 220)
	if err != nil {
		return fail(err)
	}
	s.Greeting = strings.Join(greet, "\n")
	if o.TLS == TLSImplicit {
		return handOver(conn, s, o)
	}
	if err := send("EHLO " + o.Helo); err != nil {
		return fail(err)
	}
	ehlo, err := read(StepEHLO, 250)
	if err != nil {
		return fail(err)
	}
	s.EHLO = stripCodes(ehlo)
	for _, l := range s.EHLO[1:] {
		if strings.EqualFold(strings.Fields(l + " x")[0], "STARTTLS") {
			s.OfferedSTARTTLS = true
		}
	}
	if o.TLS == TLSNone || !s.OfferedSTARTTLS {
		if o.TLS == TLSRequired {
			return fail(&Error{Step: StepSTARTTLS, Reply: "the server did not offer STARTTLS"})
		}
		return handOver(conn, s, o)
	}
	if err := send("STARTTLS"); err != nil {
		return fail(err)
	}
	if _, err := read(StepSTARTTLS, 220); err != nil {
		return fail(err)
	}
	tc := tls.Client(conn, o.TLSConfig)
	if err := tc.HandshakeContext(ctx); err != nil {
		return fail(&Error{Step: StepTLS, Err: err})
	}
	cs := tc.ConnectionState()
	s.TLS = &cs
	trace("*", "TLS negotiation succeeded: "+tls.VersionName(cs.Version)+" "+tls.CipherSuiteName(cs.CipherSuite))
	return handOver(tc, s, o)
}

// handOver gives the connection to go-smtp, replaying a greeting it can
// read (after STARTTLS there is none on the wire), and sends EHLO through it.
func handOver(conn net.Conn, s *Session, o Options) (*smtp.Client, net.Conn, *Session, error) {
	conn.SetDeadline(time.Time{})
	gc := &greetConn{Conn: conn, pending: []byte("220 " + firstText(s.Greeting) + "\r\n")}
	c := smtp.NewClient(gc)
	c.CommandTimeout = o.Timeout
	if o.DataTimeout > 0 {
		c.SubmissionTimeout = o.DataTimeout
	}
	if o.Trace != nil {
		c.DebugWriter = &traceWriter{trace: o.Trace}
	}
	if err := c.Hello(o.Helo); err != nil {
		c.Close()
		return nil, nil, s, &Error{Step: StepEHLO, Err: err}
	}
	if s.TLS != nil {
		// The EHLO after TLS is go-smtp's; ask it for the extension list.
		for _, ext := range []string{"SIZE", "PIPELINING", "DSN", "ENHANCEDSTATUSCODES", "AUTH", "8BITMIME", "BINARYMIME", "CHUNKING", "SMTPUTF8", "XRDST", "XEXCH50", "XSHADOWREQUEST", "X-EXPS", "X-ANONYMOUSTLS", "STARTTLS"} {
			if ok, p := c.Extension(ext); ok {
				s.EHLOTLS = append(s.EHLOTLS, strings.TrimSpace(ext+" "+p))
			}
		}
	}
	return c, gc, s, nil
}

func firstText(greeting string) string {
	line, _, _ := strings.Cut(greeting, "\n")
	if len(line) > 4 {
		return line[4:]
	}
	return "ready"
}

// greetConn returns pending bytes before reading from the connection.
type greetConn struct {
	net.Conn
	pending []byte
}

func (g *greetConn) Read(b []byte) (int, error) {
	if len(g.pending) > 0 {
		n := copy(b, g.pending)
		g.pending = g.pending[n:]
		return n, nil
	}
	return g.Conn.Read(b)
}

// readReply reads one (multi-line) reply and returns its lines and code.
func readReply(r *bufio.Reader) ([]string, int, error) {
	var lines []string
	code := 0
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return lines, 0, err
		}
		line = strings.TrimRight(line, "\r\n")
		lines = append(lines, line)
		if len(line) < 3 || len(lines) > 100 {
			return lines, 0, errors.New("malformed reply")
		}
		c := 0
		for _, ch := range line[:3] {
			if ch < '0' || ch > '9' {
				return lines, 0, fmt.Errorf("malformed reply %q", line)
			}
			c = c*10 + int(ch-'0')
		}
		if code != 0 && c != code {
			return lines, 0, fmt.Errorf("inconsistent reply codes %q", line)
		}
		code = c
		if len(line) == 3 || line[3] == ' ' {
			return lines, code, nil
		}
		if line[3] != '-' {
			return lines, 0, fmt.Errorf("malformed reply %q", line)
		}
	}
}

func stripCodes(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		if len(l) > 4 {
			out[i] = l[4:]
		}
	}
	return out
}
