package probe

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strings"
)

// Exchange's IMAP4 and POP3 greetings (EXCHANGE.md section 6). Exchange
// may append a bracketed server token, so they are matched as prefixes.
const (
	exchangeIMAPGreeting = "* OK The Microsoft Exchange IMAP4 service is ready."
	exchangePOP3Greeting = "+OK The Microsoft Exchange POP3 service is ready."
)

// maxLine bounds one line read from a peer; maxLines one multi-line reply.
const (
	maxLine  = 8192
	maxLines = 200
)

var errLineTooLong = errors.New("line too long")

// checkIMAP: for imaps the lab certificate, then Exchange's greeting; for
// imap (143) the greeting, STARTTLS in CAPABILITY (RFC 3501 section
// 6.2.1), the upgrade and the certificate.
func (s *session) checkIMAP(ctx context.Context, conn net.Conn) verdict {
	return s.checkMailbox(ctx, conn, mailProto{
		name: "IMAP", ok: "* OK", exchange: exchangeIMAPGreeting, implicit: s.f.Check == CheckIMAPS,
		capa: func(w io.Writer, r *bufio.Reader) ([]string, string, error) {
			return imapCommand(w, r, "p1", "CAPABILITY")
		},
		hasTLS: func(caps []string) bool {
			for _, l := range caps {
				if f := strings.Fields(strings.ToUpper(l)); len(f) > 2 && f[0] == "*" && f[1] == "CAPABILITY" {
					for _, c := range f[2:] {
						if c == "STARTTLS" {
							return true
						}
					}
				}
			}
			return false
		},
		startTLS: func(w io.Writer, r *bufio.Reader) (string, bool, error) {
			_, st, err := imapCommand(w, r, "p2", "STARTTLS")
			return st, strings.HasPrefix(strings.ToUpper(st), "P2 OK"), err
		},
		bye: "p3 LOGOUT\r\n",
	})
}

// checkPOP3: for pop3s the lab certificate, then Exchange's greeting; for
// pop3 (110) the greeting, STLS in CAPA (RFC 2595 section 4), the upgrade
// and the certificate.
func (s *session) checkPOP3(ctx context.Context, conn net.Conn) verdict {
	return s.checkMailbox(ctx, conn, mailProto{
		name: "POP3", ok: "+OK", exchange: exchangePOP3Greeting, implicit: s.f.Check == CheckPOP3S,
		capa: func(w io.Writer, r *bufio.Reader) ([]string, string, error) {
			if _, err := io.WriteString(w, "CAPA\r\n"); err != nil {
				return nil, "", err
			}
			st, err := readLine(r)
			if err != nil || !strings.HasPrefix(st, "+OK") {
				return nil, st, err
			}
			var caps []string
			for range maxLines {
				l, err := readLine(r)
				if err != nil {
					return caps, st, err
				}
				if l == "." {
					return caps, st, nil
				}
				caps = append(caps, l)
			}
			return caps, st, errors.New("CAPA reply too long")
		},
		hasTLS: func(caps []string) bool {
			for _, l := range caps {
				if f := strings.Fields(l); len(f) > 0 && strings.EqualFold(f[0], "STLS") {
					return true
				}
			}
			return false
		},
		startTLS: func(w io.Writer, r *bufio.Reader) (string, bool, error) {
			if _, err := io.WriteString(w, "STLS\r\n"); err != nil {
				return "", false, err
			}
			st, err := readLine(r)
			return st, strings.HasPrefix(st, "+OK"), err
		},
		bye: "QUIT\r\n",
	})
}

// mailProto is what differs between the IMAP and POP3 checks.
type mailProto struct {
	name     string // IMAP, POP3
	ok       string // greeting prefix of any server
	exchange string // Exchange's greeting
	implicit bool   // TLS from the first byte (993, 995, 1993, 1995)
	// capa sends CAPABILITY/CAPA and returns the capability lines and the
	// status line.
	capa   func(io.Writer, *bufio.Reader) (caps []string, status string, err error)
	hasTLS func(caps []string) bool
	// startTLS sends STARTTLS/STLS; ok reports a positive answer.
	startTLS func(io.Writer, *bufio.Reader) (status string, ok bool, err error)
	bye      string
}

func (s *session) checkMailbox(ctx context.Context, conn net.Conn, p mailProto) verdict {
	rw, certDesc := net.Conn(conn), ""
	if p.implicit {
		tc, desc, v, ok := s.handshake(ctx, conn)
		if !ok {
			return v
		}
		defer tc.Close()
		rw, certDesc = tc, desc
	}
	br := bufio.NewReader(rw)
	greet, err := readLine(br)
	if err != nil {
		return s.broken(err, p.name+" greeting")
	}
	if !strings.HasPrefix(greet, p.ok) {
		return verdict{outcome: OutcomeWrongPeer, detail: "not " + p.name + ": " + clip(greet)}
	}
	if s.exchange() && !strings.HasPrefix(greet, p.exchange) {
		return verdict{outcome: OutcomeWrongPeer, detail: clip(greet) + ": not Exchange's " + p.name + " greeting"}
	}
	if p.implicit {
		io.WriteString(rw, p.bye)
		return verdict{outcome: OutcomeOpen, detail: clip(greet) + "; " + certDesc}
	}
	caps, status, err := p.capa(rw, br)
	if err != nil {
		return s.broken(err, p.name+" capability reply")
	}
	if !p.hasTLS(caps) {
		return verdict{outcome: OutcomeStartTLSStripped, detail: clip(greet) + "; capabilities lack STARTTLS: " + clip(strings.Join(caps, " ")+" "+status)}
	}
	status, ok, err := p.startTLS(rw, br)
	if err != nil {
		return s.broken(err, p.name+" STARTTLS reply")
	}
	if !ok {
		return verdict{outcome: OutcomeStartTLSStripped, detail: clip(greet) + "; STARTTLS refused: " + clip(status)}
	}
	tc, desc, v, ok := s.handshake(ctx, conn)
	if !ok {
		return v
	}
	defer tc.Close()
	io.WriteString(tc, p.bye)
	return verdict{outcome: OutcomeOpen, detail: clip(greet) + "; STARTTLS " + desc}
}

// imapCommand sends a tagged command and reads untagged lines up to the
// tagged status line.
func imapCommand(w io.Writer, r *bufio.Reader, tag, cmd string) ([]string, string, error) {
	if _, err := io.WriteString(w, tag+" "+cmd+"\r\n"); err != nil {
		return nil, "", err
	}
	var untagged []string
	for range maxLines {
		l, err := readLine(r)
		if err != nil {
			return untagged, "", err
		}
		if strings.HasPrefix(strings.ToUpper(l), strings.ToUpper(tag)+" ") {
			return untagged, l, nil
		}
		untagged = append(untagged, l)
	}
	return untagged, "", errors.New("reply too long")
}

// readLine reads one CRLF- or LF-terminated line of at most maxLine bytes.
func readLine(r *bufio.Reader) (string, error) {
	var b []byte
	for {
		chunk, more, err := r.ReadLine()
		if err != nil {
			return "", err
		}
		if len(b)+len(chunk) > maxLine {
			return "", errLineTooLong
		}
		b = append(b, chunk...)
		if !more {
			return string(b), nil
		}
	}
}
