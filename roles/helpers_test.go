package roles

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"
)

// smtpConn is a raw SMTP client for wire-level assertions.
type smtpConn struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func bufioReader(c net.Conn) *bufio.Reader { return bufio.NewReader(c) }

func (s *smtpConn) send(line string) {
	s.t.Helper()
	s.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := s.c.Write([]byte(line + "\r\n")); err != nil {
		s.t.Fatal(err)
	}
}

// expect reads one (multi-line) reply and checks its last line's prefix.
func (s *smtpConn) expect(prefix string) string {
	s.t.Helper()
	s.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var last string
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			s.t.Fatalf("reading reply (want %q): %v", prefix, err)
		}
		last = strings.TrimRight(line, "\r\n")
		if len(last) < 4 || last[3] != '-' {
			break
		}
	}
	if !strings.HasPrefix(last, prefix) {
		s.t.Fatalf("reply %q, want %q", last, prefix)
	}
	return last
}

func (s *smtpConn) cmd(line, want string) string {
	s.t.Helper()
	s.send(line)
	return s.expect(want)
}
