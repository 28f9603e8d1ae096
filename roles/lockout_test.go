package roles

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exsim/exsim/internal/labtest"
	"github.com/exsim/exsim/internal/lockout"
)

// lineConn is a TLS connection to a line protocol (IMAP4, POP3, SMTP).
type lineConn struct {
	c net.Conn
	r *bufio.Reader
}

// dialLine connects over implicit TLS to port of server from source ip
// (nil: any) and reads the greeting.
func dialLine(rt *Runtime, server string, port int, from net.IP) (*lineConn, string, error) {
	s := rt.Server(server).Config
	d := &net.Dialer{Timeout: 5 * time.Second}
	if from != nil {
		d.LocalAddr = &net.TCPAddr{IP: from}
	}
	c, err := tls.DialWithDialer(d, "tcp", net.JoinHostPort(s.Address, fmt.Sprint(port+labtest.PortOffset)), &tls.Config{RootCAs: rt.ca.Pool(), ServerName: s.FQDN})
	if err != nil {
		return nil, "", err
	}
	lc := &lineConn{c: c, r: bufio.NewReader(c)}
	greeting, err := lc.read("")
	return lc, greeting, err
}

// cmd sends line and returns the reply line that starts with prefix (the
// IMAP tag; "" for the next line), skipping untagged ones.
func (l *lineConn) cmd(line, prefix string) (string, error) {
	l.c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := l.c.Write([]byte(line + "\r\n")); err != nil {
		return "", err
	}
	return l.read(prefix)
}

func (l *lineConn) read(prefix string) (string, error) {
	l.c.SetDeadline(time.Now().Add(30 * time.Second))
	for {
		s, err := l.r.ReadString('\n')
		if err != nil {
			return "", err
		}
		s = strings.TrimRight(s, "\r\n")
		if strings.HasPrefix(s, prefix) {
			return s, nil
		}
	}
}

// TestLockoutAcrossIMAPConnections is issue 17's attack: 60 password
// guesses over 20 parallel IMAP4 connections (three each, Exchange's
// MaxLogonFailures per connection) lock the account, so the 61st logon is
// refused although its password is right, over every protocol and from
// another source too, each in its own words for a failed logon; when the
// configured lockout ends, the right password works again.
func TestLockoutAcrossIMAPConnections(t *testing.T) {
	// Long enough to outlast the frontend's own delays (2, 4, 6 s on a
	// connection): the lockout starts at the 60th failure, before the
	// last replies arrive.
	const lockFor = 20 * time.Second
	top := labtest.Topology(t, "contoso-noedge", blocks.Next(t))
	enableMailAccess(top)
	rt, err := Start(context.Background(), Options{Topology: top, DataDir: t.TempDir(), Logger: testLogger(t),
		Lockout: lockout.Policy{MaxFailures: 60, Window: time.Minute, Lockout: lockFor, BaseDelay: -1}})
	if err != nil {
		t.Fatal(err)
	}
	labtest.CloseAtEnd(t, rt)

	var wg sync.WaitGroup
	errs := make(chan error, 60)
	for g := range 20 {
		wg.Go(func() {
			c, _, err := dialLine(rt, "EX01", 993, nil)
			if err != nil {
				errs <- err
				return
			}
			defer c.c.Close()
			for i := range 3 {
				tag := fmt.Sprintf("g%di%d", g, i)
				if got, err := c.cmd(tag+` LOGIN alice guess`+tag, tag+" "); err != nil || got != tag+" NO LOGIN failed." {
					errs <- fmt.Errorf("guess %s: %q, %v", tag, got, err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	locked := time.Now() // the lockout started before this

	// The 61st attempt, with the right password, in each protocol.
	other := net.ParseIP(rt.Server("EX02").Config.Address) // another source: the account is locked
	imap, _, err := dialLine(rt, "EX01", 993, other)
	if err != nil {
		t.Fatal(err)
	}
	defer imap.c.Close()
	if got, _ := imap.cmd(`a1 LOGIN CONTOSO\alice P@ssw0rd`, "a1 "); got != "a1 NO LOGIN failed." {
		t.Errorf("IMAP4 LOGIN with the right password while locked: %q, want a1 NO LOGIN failed.", got)
	}
	pop, _, err := dialLine(rt, "EX01", 995, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pop.c.Close()
	pop.cmd("USER alice@contoso.com", "")
	if got, _ := pop.cmd("PASS P@ssw0rd", ""); got != "-ERR Logon failure: unknown user name or bad password." {
		t.Errorf("POP3 PASS while locked: %q", got)
	}
	smtp := smtpSession(t, rt, "EX01", 587, netip.Addr{})
	smtp.cmd("EHLO client.contoso.com", "250 ")
	smtp.cmd("STARTTLS", "220 ")
	s := rt.Server("EX01").Config
	tc := tls.Client(smtp.c, &tls.Config{RootCAs: rt.ca.Pool(), ServerName: s.FQDN})
	smtp.c, smtp.r = tc, bufioReader(tc)
	smtp.cmd("EHLO client.contoso.com", "250 ")
	plain := base64.StdEncoding.EncodeToString([]byte("\x00alice@contoso.com\x00P@ssw0rd"))
	smtp.cmd("AUTH PLAIN "+plain, "535 5.7.3 Authentication unsuccessful")
	if got := basicAutodiscover(t, rt, "alice@contoso.com", "P@ssw0rd"); got != http.StatusUnauthorized {
		t.Errorf("Autodiscover Basic while locked: %d, want 401", got)
	}
	bob, _, err := dialLine(rt, "EX01", 993, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bob.c.Close()
	if got, _ := bob.cmd(`b1 LOGIN bob@contoso.com P@ssw0rd`, "b1 "); got != "b1 NO LOGIN failed." {
		t.Errorf("another account from the locked source: %q, want b1 NO LOGIN failed. (the source is locked too)", got)
	}

	// The lockout ends as configured.
	time.Sleep(time.Until(locked.Add(lockFor)))
	if got, _ := imap.cmd(`a2 LOGIN CONTOSO\alice P@ssw0rd`, "a2 "); !strings.HasPrefix(got, "a2 OK") {
		t.Errorf("IMAP4 LOGIN after the lockout: %q, want OK", got)
	}
	if got := basicAutodiscover(t, rt, "alice@contoso.com", "P@ssw0rd"); got != http.StatusOK {
		t.Errorf("Autodiscover Basic after the lockout: %d, want 200", got)
	}
}

// basicAutodiscover posts an Outlook Autodiscover request to EX01 with
// Basic credentials and returns the status.
func basicAutodiscover(t *testing.T, rt *Runtime, user, password string) int {
	t.Helper()
	s := rt.Server("EX01").Config
	req := `<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"><Request><EMailAddress>` + user +
		`</EMailAddress><AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema></Request></Autodiscover>`
	r, err := http.NewRequest("POST", fmt.Sprintf("https://%s:%d/Autodiscover/Autodiscover.xml", s.Address, 443+labtest.PortOffset), strings.NewReader(req))
	if err != nil {
		t.Fatal(err)
	}
	r.Host = s.FQDN
	r.Header.Set("Content-Type", "text/xml")
	r.SetBasicAuth(user, password)
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: rt.ca.Pool(), ServerName: s.FQDN}}}
	resp, err := c.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
