package rca

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// imapTest is RCA's IMAP Email test on 993 (implicit TLS): greeting,
// CAPABILITY, LOGIN, SELECT INBOX, LOGOUT, with go-imap/v2's client.
func imapTest(r *run) {
	host := r.host("mail." + domainOf(r.o.User))
	tc, _, ok := r.tlsTo(host, 993)
	if !ok {
		return
	}
	c := imapclient.New(tc, nil)
	defer c.Close()
	deadline(r, tc)
	ok = r.step("Read the IMAP greeting", func() (string, error) {
		return "", c.WaitGreeting()
	}) && r.step("CAPABILITY", func() (string, error) {
		caps, err := c.Capability().Wait()
		if err != nil {
			return "", err
		}
		var names []string
		for cp := range caps {
			names = append(names, string(cp))
		}
		slices.Sort(names)
		return strings.Join(names, " "), nil
	}) && r.step("LOGIN as "+r.o.User, func() (string, error) {
		return "logged on", c.Login(r.o.User, r.o.Password).Wait()
	}) && r.step("SELECT INBOX", func() (string, error) {
		sel, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait()
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%d messages", sel.NumMessages), nil
	})
	if ok {
		r.step("LOGOUT", func() (string, error) { return "", c.Logout().Wait() })
	}
}

// deadline closes conn when the test's time is up, so a silent server
// fails the step instead of hanging it.
func deadline(r *run, conn net.Conn) {
	if d, ok := r.ctx.Deadline(); ok {
		conn.SetDeadline(d)
	}
}

// popTest is RCA's POP Email test on 995 (implicit TLS): greeting, CAPA,
// USER/PASS, STAT, QUIT (RFC 1939, RFC 2449).
func popTest(r *run) {
	host := r.host("mail." + domainOf(r.o.User))
	tc, _, ok := r.tlsTo(host, 995)
	if !ok {
		return
	}
	defer tc.Close()
	deadline(r, tc)
	p := &pop{conn: tc, br: bufio.NewReader(tc)}
	ok = r.step("Read the POP3 greeting", func() (string, error) { return p.line() }) &&
		r.step("CAPA", func() (string, error) {
			if _, err := p.cmd("CAPA"); err != nil {
				return "", err
			}
			caps, err := p.multi()
			return strings.Join(caps, " "), err
		}) &&
		r.step("USER and PASS as "+r.o.User, func() (string, error) {
			if _, err := p.cmd("USER " + r.o.User); err != nil {
				return "", err
			}
			return p.cmd("PASS " + r.o.Password)
		}) &&
		r.step("STAT", func() (string, error) { return p.cmd("STAT") })
	if ok {
		r.step("QUIT", func() (string, error) { return p.cmd("QUIT") })
	}
}

// pop is a POP3 client's line handling.
type pop struct {
	conn *tls.Conn
	br   *bufio.Reader
}

func (p *pop) line() (string, error) {
	l, err := p.br.ReadString('\n')
	l = strings.TrimRight(l, "\r\n")
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(l, "+OK") {
		return "", errors.New(l)
	}
	return l, nil
}

func (p *pop) cmd(c string) (string, error) {
	if _, err := io.WriteString(p.conn, c+"\r\n"); err != nil {
		return "", err
	}
	return p.line()
}

// multi reads a multi-line answer up to its ".".
func (p *pop) multi() ([]string, error) {
	var out []string
	for {
		l, err := p.br.ReadString('\n')
		if err != nil {
			return out, err
		}
		l = strings.TrimRight(l, "\r\n")
		if l == "." {
			return out, nil
		}
		out = append(out, strings.TrimPrefix(l, "."))
	}
}
