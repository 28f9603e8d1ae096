package imapd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// maxSASLLine bounds the client's AUTHENTICATE response line.
const maxSASLLine = 8192

// authenticate handles AUTHENTICATE (RFC 9051 section 6.2.2): PLAIN, and
// the mechanisms of a MechanismAuthenticator (NTLM), each with an initial
// response (SASL-IR, RFC 4959) or after an empty "+ " challenge. GSSAPI is
// announced, as by Exchange, and fails as Exchange's does without Kerberos.
func (c *fconn) authenticate(cmd *command) bool {
	if len(cmd.args) < 1 || len(cmd.args) > 2 {
		return c.bad(cmd, replyArgError)
	}
	mech, ok := cmd.args[0].str()
	if !ok {
		return c.bad(cmd, replyArgError)
	}
	var ir *string // the initial response, if any
	if len(cmd.args) == 2 {
		s, ok := cmd.args[1].str()
		if !ok {
			return c.bad(cmd, replyArgError)
		}
		ir = &s
	}
	mech = strings.ToUpper(mech)
	switch mech {
	case "PLAIN":
	case "GSSAPI":
		return c.authenticateGSSAPI(cmd, ir)
	default:
		return c.authenticateMechanism(cmd, mech, ir)
	}
	var resp string
	if ir != nil {
		resp = *ir
	} else {
		line, ok, goOn := c.saslResponse(cmd, "")
		if !ok {
			return goOn
		}
		resp = line
	}
	user, pass, err := decodePlain(resp)
	if err != nil {
		c.log.Info("imapd: malformed AUTHENTICATE PLAIN", "err", err)
		return c.logonFailed(cmd.tag, replyAuthFailed)
	}
	return c.logon(cmd.tag, user, pass, replyAuthOK, replyAuthFailed)
}

// decodePlain decodes a SASL PLAIN message: [authzid] NUL authcid NUL passwd.
func decodePlain(s string) (user, pass string, err error) {
	if s == "=" { // empty initial response
		s = ""
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return "", "", fmt.Errorf("imapd: sasl plain: %w", err)
	}
	parts := bytes.Split(b, []byte{0})
	if len(parts) != 3 || len(parts[1]) == 0 {
		return "", "", errors.New("imapd: sasl plain: want authzid NUL authcid NUL password")
	}
	if len(parts[0]) > 0 && !bytes.Equal(parts[0], parts[1]) {
		return "", "", errors.New("imapd: sasl plain: acting as another user is not allowed")
	}
	return string(parts[1]), string(parts[2]), nil
}

// logon checks the credentials, connects to the mailbox's backend, logs on
// there and relays the connection. It reports whether the connection goes
// on (it does not after a relay).
func (c *fconn) logon(tag, user, pass string, ok, failed reply) bool {
	ctx, cancel := context.WithTimeout(c.ctx, c.f.opts.BackendTimeout)
	defer cancel()
	account, err := c.f.opts.Auth.Authenticate(ctx, user, pass)
	if err != nil {
		if !errors.Is(err, ErrAuthFailed) {
			c.log.Warn("imapd: authenticator failed", "err", err)
		}
		c.log.Info("imapd: logon failed", "err", err)
		return c.logonFailed(tag, failed)
	}
	return c.proxy(ctx, tag, account, pass, ok)
}

// proxy logs account on at its mailbox's backend with pass and relays the
// connection; the client's logon has succeeded.
func (c *fconn) proxy(ctx context.Context, tag, account, pass string, ok reply) bool {
	log := c.log.With("rcpt", account)
	backend, br, err := c.openBackend(ctx, account, pass)
	if err != nil {
		log.Warn("imapd: IMAP4 backend unavailable", "err", err)
		return c.send(replyUnavailable.line(tag)) == nil
	}
	if !c.attach(backend) {
		backend.Close()
		return false
	}
	if err := c.send(ok.line(tag)); err != nil {
		return false
	}
	log.Info("imapd: logon, relaying to backend", "hop", backend.RemoteAddr().String())
	c.relay(backend, br)
	return false
}

// logonFailed answers a failed logon after a delay that grows with every
// failure and drops the client after MaxLogonFailures.
func (c *fconn) logonFailed(tag string, failed reply) bool {
	c.failures++
	delay := time.Duration(c.failures) * c.f.opts.LogonFailureDelay
	t := time.NewTimer(delay)
	select {
	case <-t.C:
	case <-c.f.lc.Context().Done():
		t.Stop()
		return false
	}
	if err := c.send(failed.line(tag)); err != nil {
		return false
	}
	if c.failures >= c.f.opts.MaxLogonFailures {
		c.log.Info("imapd: too many logon failures, closing", "attempt", c.failures)
		c.send(textTimeoutBye)
		return false
	}
	return true
}

// backendTag tags the frontend's own command to the backend.
const backendTag = "exfe1"

// openBackend dials the backend, reads its greeting and logs on with
// AUTHENTICATE PLAIN and the same credentials; the backend's replies are
// not shown to the client.
func (c *fconn) openBackend(ctx context.Context, account, pass string) (net.Conn, *bufio.Reader, error) {
	conn, err := c.f.opts.Upstream.DialBackend(ctx, account)
	if err != nil {
		return nil, nil, fmt.Errorf("imapd: dial backend: %w", err)
	}
	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	br := bufio.NewReaderSize(conn, 4096)
	fail := func(err error) (net.Conn, *bufio.Reader, error) {
		conn.Close()
		return nil, nil, err
	}
	greeting, err := readLine(br, 8192)
	if err != nil {
		return fail(fmt.Errorf("imapd: backend greeting: %w", err))
	}
	if !bytes.HasPrefix(greeting, []byte("* OK")) {
		return fail(fmt.Errorf("imapd: backend greeting %q", greeting))
	}
	ir := base64.StdEncoding.EncodeToString([]byte("\x00" + account + "\x00" + pass))
	if _, err := io.WriteString(conn, backendTag+" AUTHENTICATE PLAIN "+ir+"\r\n"); err != nil {
		return fail(fmt.Errorf("imapd: backend logon: %w", err))
	}
	for range 64 {
		line, err := readLine(br, 8192)
		if err != nil {
			return fail(fmt.Errorf("imapd: backend logon: %w", err))
		}
		if bytes.HasPrefix(line, []byte("* ")) {
			continue // untagged data, e.g. CAPABILITY
		}
		if bytes.HasPrefix(line, []byte(backendTag+" OK")) {
			conn.SetDeadline(time.Time{})
			return conn, br, nil
		}
		return fail(fmt.Errorf("imapd: backend refused logon: %q", line))
	}
	return fail(errors.New("imapd: backend logon: too many untagged responses"))
}

// attach records the backend connection so Close can reach it.
func (c *fconn) attach(backend net.Conn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.aborted {
		return false
	}
	c.backend = backend
	return true
}

// relay copies bytes both ways until either side closes, then closes both.
// Bytes the client pipelined after its logon are in c.br and go first.
func (c *fconn) relay(backend net.Conn, br *bufio.Reader) {
	c.nc.SetDeadline(time.Time{})
	done := make(chan struct{}, 2)
	go func() {
		io.Copy(backend, idleReader{c.br, c.nc, c.f.opts.AuthenticatedTimeout})
		done <- struct{}{}
	}()
	go func() {
		io.Copy(c.nc, br)
		done <- struct{}{}
	}()
	<-done
	c.nc.Close()
	backend.Close()
	<-done
}

// idleReader reads the client's side of a relay, each read bounded by the
// authenticated idle timeout: a client silent that long is disconnected.
type idleReader struct {
	r       io.Reader
	nc      net.Conn
	timeout time.Duration
}

func (r idleReader) Read(p []byte) (int, error) {
	r.nc.SetReadDeadline(time.Now().Add(r.timeout))
	return r.r.Read(p)
}
