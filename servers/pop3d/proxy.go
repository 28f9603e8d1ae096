package pop3d

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// proxyLogon is the frontend's second half of a logon (EXCHANGE.md section
// 1: the POP3 service proxies to the POP3 Backend service of the Mailbox
// server hosting the mailbox). The credentials passed the Authenticator;
// now the frontend logs in to the backend with them, and on success the
// session becomes a relay.
func (ss *session) proxyLogon(account, user, password string) error {
	ctx, cancel := context.WithTimeout(ss.ctx, ss.srv.opts.BackendTimeout)
	defer cancel()
	conn, err := ss.srv.opts.Upstream.DialBackend(ctx, account)
	if err != nil {
		if ss.ctx.Err() != nil {
			return errClose
		}
		ss.log.Warn("pop3 backend unavailable", "err", err)
		return ss.reply(ss.p.ServerUnavailable)
	}
	// Close the backend connection if the server closes or the timeout
	// passes while the login conversation is blocked.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	br := bufio.NewReaderSize(conn, 1024)
	err = backendLogin(conn, br, user, password)
	if !stop() || err != nil {
		conn.Close()
		if ss.ctx.Err() != nil {
			return errClose
		}
		if err == nil {
			err = ctx.Err()
		}
		ss.log.Warn("pop3 backend logon failed", "hop", conn.RemoteAddr().String(), "err", err)
		return ss.reply(ss.p.ServerUnavailable)
	}
	ss.upstream, ss.upstreamRead = conn, br
	ss.state = stateTransaction
	ss.log.Info("logged on, relaying", "hop", conn.RemoteAddr().String())
	return ss.reply(ss.p.LogonOK)
}

// maxResponseLine: Exchange's POP3 responses are at most 512 octets,
// CRLF included ([MS-STANXPOP3] C0001); other servers may be a little
// longer, so allow twice that.
const maxResponseLine = 1024

var errBackendRefused = errors.New("backend refused")

// backendLogin is the client side of the logon on the backend: greeting,
// CAPA, then AUTH PLAIN (RFC 5034, initial response when it fits the
// 255-octet line) or USER/PASS when the backend offers no SASL PLAIN.
func backendLogin(w io.Writer, r *bufio.Reader, user, password string) error {
	if _, err := readResponse(r); err != nil {
		return fmt.Errorf("greeting: %w", err)
	}
	plain, userPass := false, true
	if _, err := roundTrip(w, r, "CAPA"); err == nil {
		userPass = false
		for {
			line, err := readLimited(r)
			if err != nil {
				return fmt.Errorf("capa: %w", err)
			}
			if line == "." {
				break
			}
			f := strings.Fields(strings.ToUpper(line))
			switch {
			case len(f) == 1 && f[0] == "USER":
				userPass = true
			case len(f) > 1 && f[0] == "SASL":
				for _, m := range f[1:] {
					plain = plain || m == "PLAIN"
				}
			}
		}
	} else if !errors.Is(err, errBackendRefused) {
		return fmt.Errorf("capa: %w", err)
	}
	switch {
	case plain:
		ir := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + password))
		if len("AUTH PLAIN ")+len(ir)+2 <= DefaultMaxCommandSize {
			_, err := roundTrip(w, r, "AUTH PLAIN "+ir)
			return wrap("auth plain", err)
		}
		if _, err := fmt.Fprintf(w, "AUTH PLAIN\r\n"); err != nil {
			return err
		}
		line, err := readLimited(r)
		if err != nil {
			return wrap("auth plain", err)
		}
		if !strings.HasPrefix(line, "+ ") && line != "+" {
			return fmt.Errorf("auth plain: %w: %q", errBackendRefused, line)
		}
		_, err = roundTrip(w, r, ir)
		return wrap("auth plain", err)
	case userPass:
		if _, err := roundTrip(w, r, "USER "+user); err != nil {
			return wrap("user", err)
		}
		_, err := roundTrip(w, r, "PASS "+password)
		return wrap("pass", err)
	}
	return errors.New("backend offers neither SASL PLAIN nor USER")
}

func wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}

// roundTrip sends one line and reads a single-line response.
func roundTrip(w io.Writer, r *bufio.Reader, line string) (string, error) {
	if _, err := io.WriteString(w, line+"\r\n"); err != nil {
		return "", err
	}
	return readResponse(r)
}

// readResponse reads a status line: errBackendRefused for "-ERR".
func readResponse(r *bufio.Reader) (string, error) {
	line, err := readLimited(r)
	switch {
	case err != nil:
		return "", err
	case strings.HasPrefix(line, "+OK"):
		return line, nil
	}
	return "", fmt.Errorf("%w: %q", errBackendRefused, line)
}

// readLimited reads one line of at most maxResponseLine octets.
func readLimited(r *bufio.Reader) (string, error) {
	var buf []byte
	for {
		chunk, err := r.ReadSlice('\n')
		buf = append(buf, chunk...)
		if len(buf) > maxResponseLine {
			return "", errors.New("response line too long")
		}
		if err == nil {
			return strings.TrimRight(string(buf), "\r\n"), nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return "", err
		}
	}
}

// relay copies bytes both ways between the client and the backend until
// either side closes, then closes both. It owns one goroutine and waits
// for it. The backend's own timers (autologout) govern the session now.
func (ss *session) relay() {
	up := ss.upstream
	stop := context.AfterFunc(ss.ctx, func() { up.Close() }) // Close of the server
	defer stop()
	ss.raw.SetReadDeadline(time.Time{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		// ss.r first returns what the client pipelined behind its logon.
		_, err := io.Copy(&deadlineWriter{up, up, ss.srv.opts.WriteTimeout}, ss.r)
		if cw, ok := up.(interface{ CloseWrite() error }); ok && err == nil {
			cw.CloseWrite() // let the backend answer a final QUIT
			return
		}
		up.Close()
	}()
	_, err := io.Copy(&deadlineWriter{ss.conn, ss.raw, ss.srv.opts.WriteTimeout}, ss.upstreamRead)
	if err != nil && !errors.Is(err, net.ErrClosed) {
		ss.log.Debug("relay ended", "err", err)
	}
	ss.conn.Close()
	up.Close()
	<-done
}
