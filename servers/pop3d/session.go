package pop3d

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/exsim/exsim/internal/lockout"
)

// state is the RFC 1939 session state.
type state int

const (
	stateAuthorization state = iota // RFC 1939 section 4
	stateTransaction                // RFC 1939 section 5
	stateDone                       // QUIT answered, or the connection is to be closed
)

// session is one client connection.
type session struct {
	srv *Server
	p   *Persona
	log *slog.Logger
	ctx context.Context

	raw  net.Conn // the TCP connection: deadlines
	conn net.Conn // raw, or the TLS connection over it
	r    *bufio.Reader
	w    *bufio.Writer
	tls  bool

	state          state
	user           string // USER given, waiting for PASS
	protocolErrors int
	logonFailures  int

	// TRANSACTION state (backend mode).
	drop     Maildrop
	msgs     []MessageInfo
	deleted  []bool
	liveSize int64 // octets of the messages not marked deleted
	live     int

	// Frontend mode: set when the backend accepted the logon; the session
	// then relays bytes until either side closes.
	upstream     net.Conn
	upstreamRead *bufio.Reader

	peerGone bool // the client closed or reset the connection
}

// Lingering close: how long and how much unread input is drained.
const (
	lingerTimeout = 500 * time.Millisecond
	lingerMax     = 256 << 10
)

// errClose ends a session after a reply that closes the connection.
var errClose = errors.New("pop3d: closing connection")

func (s *Server) serveConn(c net.Conn, log *slog.Logger) {
	// The client's address rides in the context for the Authenticator's
	// lockout (internal/lockout), which counts per source.
	ctx, cancel := context.WithCancel(lockout.WithSource(s.lc.Context(), hostOnly(c.RemoteAddr())))
	defer cancel()
	ss := &session{
		srv:  s,
		p:    &s.opts.Persona,
		log:  log,
		ctx:  ctx,
		raw:  rawConn(c),
		conn: c,
	}
	defer ss.end()
	if tc, ok := c.(*tls.Conn); ok {
		// Implicit TLS (995, 1995): the session starts encrypted.
		ss.raw.SetDeadline(time.Now().Add(s.opts.PreAuthenticatedConnectionTimeout))
		if err := tc.HandshakeContext(ctx); err != nil {
			log.Debug("tls handshake failed", "err", err)
			return
		}
		ss.tls = true
	}
	ss.r = bufio.NewReaderSize(ss.conn, 1024)
	ss.w = bufio.NewWriterSize(&deadlineWriter{ss.conn, ss.raw, s.opts.WriteTimeout}, 4096)
	log.Debug("connection opened")
	if err := ss.reply(ss.p.Greeting); err != nil {
		return
	}
	ss.loop()
}

// end releases what the session holds; no deletion is committed here
// (RFC 1939 section 6: only QUIT enters the UPDATE state).
func (ss *session) end() {
	if ss.drop != nil {
		if err := ss.drop.Close(); err != nil {
			ss.log.Error("closing maildrop", "err", err)
		}
		ss.drop = nil
	}
	if ss.upstream != nil {
		ss.upstream.Close()
	} else if !ss.peerGone {
		ss.linger()
	}
	ss.conn.Close()
	ss.log.Debug("connection closed")
}

func (ss *session) loop() {
	for ss.state != stateDone {
		line, err := ss.readLine(ss.srv.opts.MaxCommandSize)
		switch {
		case errors.Is(err, errLineTooLong):
			if ss.protocolError(ss.p.LineTooLong) != nil {
				return
			}
			continue
		case err != nil:
			ss.readFailed(err)
			return
		}
		if err := ss.dispatch(line); err != nil {
			if !errors.Is(err, errClose) {
				ss.log.Debug("session ended", "err", err)
			}
			return
		}
		if ss.upstream != nil {
			ss.relay()
			return
		}
	}
}

// linger half-closes the connection and drains what the client still
// sends, so that the last reply is not destroyed by a TCP reset when the
// server closes with unread input (after QUIT with pipelined commands, too
// many errors or failures).
func (ss *session) linger() {
	cw, ok := ss.conn.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		return // not TCP: no reset to avoid
	}
	ss.raw.SetReadDeadline(time.Now().Add(lingerTimeout))
	io.CopyN(io.Discard, ss.raw, lingerMax)
}

// readFailed handles a read that ended the session: a timeout gets the
// persona's autologout text, a shutdown its text, a dropped connection
// nothing.
func (ss *session) readFailed(err error) {
	switch {
	case ss.srv.lc.Stopped():
		ss.reply(ss.p.ShuttingDown)
	case errors.Is(err, os.ErrDeadlineExceeded):
		ss.log.Debug("idle timeout")
		if ss.p.Timeout != "" {
			ss.reply(ss.p.Timeout)
		}
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed), errors.Is(err, syscall.ECONNRESET):
		ss.peerGone = true
	default:
		ss.log.Debug("read failed", "err", err)
	}
}

// idleTimeout is the autologout timer of the current state (RFC 1939
// section 3; Exchange's PreAuthenticated/AuthenticatedConnectionTimeout).
func (ss *session) idleTimeout() time.Duration {
	if ss.state == stateTransaction {
		return ss.srv.opts.AuthenticatedConnectionTimeout
	}
	return ss.srv.opts.PreAuthenticatedConnectionTimeout
}

var errLineTooLong = errors.New("pop3d: line too long")

// readLine reads one line of at most limit octets including its line end,
// which is CRLF or a bare LF. The whole line must arrive within the idle
// timeout. A longer line is discarded up to its end and reported as
// errLineTooLong, so memory stays bounded whatever the client sends.
func (ss *session) readLine(limit int) (string, error) {
	if ss.srv.lc.Stopped() {
		return "", net.ErrClosed
	}
	ss.raw.SetReadDeadline(time.Now().Add(ss.idleTimeout()))
	var buf []byte
	tooLong := false
	for {
		chunk, err := ss.r.ReadSlice('\n')
		if !tooLong {
			if len(buf)+len(chunk) > limit {
				tooLong = true
				buf = nil
			} else {
				buf = append(buf, chunk...)
			}
		}
		switch {
		case err == nil:
			if tooLong {
				return "", errLineTooLong
			}
			buf = buf[:len(buf)-1]
			if n := len(buf); n > 0 && buf[n-1] == '\r' {
				buf = buf[:n-1]
			}
			return string(buf), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		default:
			return "", err
		}
	}
}

// reply writes one line and flushes it.
func (ss *session) reply(line string) error {
	ss.w.WriteString(line)
	ss.w.WriteString("\r\n")
	return ss.w.Flush()
}

// protocolError answers a bad command and counts it; past
// MaxProtocolErrors the connection is closed (errClose).
func (ss *session) protocolError(text string) error {
	ss.protocolErrors++
	if ss.protocolErrors >= ss.srv.opts.MaxProtocolErrors {
		ss.log.Info("too many protocol errors, closing")
		ss.reply(ss.p.TooManyErrors)
		ss.state = stateDone
		return errClose
	}
	return ss.reply(text)
}

// deadlineWriter sets a write deadline before every write, so a client
// that stops reading is dropped after WriteTimeout without a reply.
type deadlineWriter struct {
	w       io.Writer
	raw     net.Conn
	timeout time.Duration
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	d.raw.SetWriteDeadline(time.Now().Add(d.timeout))
	return d.w.Write(p)
}

// hostOnly is the IP of a connection endpoint, without the port.
func hostOnly(a net.Addr) string {
	h, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return h
}
