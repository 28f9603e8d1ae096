package smtpd

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"
)

const (
	// maxCommandLine bounds a command line. RFC 5321 4.5.3.1.4 allows 512
	// octets plus 2000 for extension parameters (RFC 1869 section 4.1.2);
	// longer lines are read to their end and discarded, never buffered.
	maxCommandLine = 2512
	// maxAuthLine bounds an AUTH response line (RFC 4954 section 4).
	maxAuthLine = 12288
)

var (
	errLineTooLong  = errors.New("smtpd: line too long")
	errShuttingDown = errors.New("smtpd: shutting down")
)

// Conn is one SMTP connection, as the Backend sees it.
type Conn struct {
	srv *Server
	raw net.Conn // as accepted: deadlines and Close
	nc  net.Conn // raw, or the *tls.Conn over it
	// src and counted: the connection holds a slot of the connection limits.
	src     netip.Addr
	counted bool
	br      *bufio.Reader
	bw      *bufio.Writer

	sessionID string
	remoteIP  string
	localStr  string // protocol log endpoints, set only with a ProtocolLog
	remoteStr string
	deadline  time.Time // start + ConnectionTimeout
	seq       int       // protocol-log sequence number

	mu   sync.Mutex // guards idle against Shutdown
	idle bool       // waiting for a command

	tlsState *tls.ConnectionState
	session  Session
	helo     string
	ehlo     bool
	authed   bool
	authID   string

	// The mail transaction.
	inTx     bool
	mailOpts *MailOptions
	rcpts    int
	bdat     *bdatTx
	dr       dotReader

	protoErrors   int
	logonFailures int
	closedBy      string // protocol-log context of the '-' event

	logOnce sync.Once
	logger  *slog.Logger
	verb    [16]byte

	ctx    context.Context // ends when the connection does
	cancel context.CancelFunc
}

func (s *Server) newConn(nc net.Conn) *Conn {
	c := &Conn{
		srv:       s,
		raw:       nc,
		nc:        nc,
		sessionID: formatSessionID(s.sessionBase + s.sessionSeq.Add(1)),
		remoteIP:  hostOf(nc.RemoteAddr()),
		deadline:  time.Now().Add(s.lim.ConnectionTimeout),
		closedBy:  "Local",
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	if s.opts.ProtocolLog != nil {
		c.localStr = nc.LocalAddr().String()
		c.remoteStr = nc.RemoteAddr().String()
	}
	return c
}

func formatSessionID(n uint64) string {
	var b [16]byte
	const hex = "0123456789ABCDEF"
	for i := 15; i >= 0; i-- {
		b[i] = hex[n&15]
		n >>= 4
	}
	return string(b[:])
}

func hostOf(a net.Addr) string {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// LocalAddr is the connector's address of this connection.
func (c *Conn) LocalAddr() net.Addr { return c.raw.LocalAddr() }

// RemoteAddr is the client's address.
func (c *Conn) RemoteAddr() net.Addr { return c.raw.RemoteAddr() }

// TLS is the TLS state, nil before STARTTLS (or on a plain connection).
func (c *Conn) TLS() *tls.ConnectionState { return c.tlsState }

// HeloName is the argument of the last EHLO or HELO, "" before one.
func (c *Conn) HeloName() string { return c.helo }

// IsEHLO reports whether the client greeted with EHLO.
func (c *Conn) IsEHLO() bool { return c.ehlo }

// AuthIdentity is the identity the Backend set with SetAuthIdentity during
// AUTH or TLSEstablished, "" while anonymous.
func (c *Conn) AuthIdentity() string { return c.authID }

// SetAuthIdentity marks the session authenticated as id (no tarpit, no
// second AUTH). Call it from a sasl.Server's authenticator or from
// TLSSession.TLSEstablished, on the connection's goroutine.
func (c *Conn) SetAuthIdentity(id string) {
	c.authID = id
	c.authed = true
}

// SessionID is the Exchange protocol-log session id: 16 upper-case hex digits.
func (c *Conn) SessionID() string { return c.sessionID }

// Context is the connection's context: it is cancelled when the
// connection ends (QUIT, a dropped client, a timeout or Close), so work a
// Session starts for the connection stops with it.
func (c *Conn) Context() context.Context { return c.ctx }

// Server is the server that accepted the connection.
func (c *Conn) Server() *Server { return c.srv }

// Logger is the connection's child logger (keys cid and remote).
func (c *Conn) Logger() *slog.Logger {
	c.logOnce.Do(func() {
		c.logger = c.srv.logger.With("cid", c.sessionID, "remote", c.raw.RemoteAddr().String())
	})
	return c.logger
}

// connReader feeds the bufio.Reader. Before the connection blocks for
// input it flushes the replies buffered so far: the replies to a pipelined
// group leave in one write once its commands are consumed (RFC 2920
// section 3.1). It also renews the deadlines.
type connReader struct{ c *Conn }

func (r connReader) Read(p []byte) (int, error) {
	c := r.c
	d := time.Now().Add(c.srv.lim.ConnectionInactivityTimeout)
	if d.After(c.deadline) {
		d = c.deadline
	}
	c.mu.Lock()
	if c.idle && c.srv.lc.Stopped() {
		c.mu.Unlock()
		return 0, errShuttingDown
	}
	c.raw.SetDeadline(d)
	c.mu.Unlock()
	if c.bw.Buffered() > 0 {
		if err := c.bw.Flush(); err != nil {
			return 0, err
		}
	}
	return c.nc.Read(p)
}

type connWriter struct{ c *Conn }

func (w connWriter) Write(p []byte) (int, error) { return w.c.nc.Write(p) }

func (c *Conn) setIdle(idle bool) {
	c.mu.Lock()
	c.idle = idle
	c.mu.Unlock()
}

// interruptIfIdle makes a connection waiting for a command return at once;
// Shutdown calls it.
func (c *Conn) interruptIfIdle() {
	c.mu.Lock()
	if c.idle {
		c.raw.SetReadDeadline(time.Unix(1, 0))
	}
	c.mu.Unlock()
}

// serve runs the session until QUIT, an error or a fatal reply.
func (c *Conn) serve() {
	s := c.srv
	c.br = s.getReader(connReader{c})
	c.bw = s.getWriter(connWriter{c})
	c.plog(EventConnect, "", "")
	defer c.finish()

	if tc, ok := c.raw.(*tls.Conn); ok { // implicit TLS
		if !c.handshake(tc) {
			return
		}
	}
	sess, err := s.be.NewSession(c)
	if err != nil {
		c.farewell(c.backendReply(err, ReplyServiceNotAvailable))
		return
	}
	c.session = sess
	if c.tlsState != nil && !c.tlsEstablished() {
		return
	}
	c.writeBanner()
	for {
		c.setIdle(true)
		line, err := c.readLine(maxCommandLine)
		c.setIdle(false)
		if errors.Is(err, errLineTooLong) {
			if !c.protocolError(ReplyUnrecognizedCommand) {
				return
			}
			continue
		}
		if err != nil {
			c.readFailed(err)
			return
		}
		if !c.handle(line) {
			return
		}
		if s.lc.Stopped() && c.bdat == nil {
			c.farewell(ReplyServiceNotAvailable)
			return
		}
	}
}

// refuse answers a connection over a connection limit and closes it.
func (c *Conn) refuse(r *Reply) {
	c.bw = c.srv.getWriter(connWriter{c})
	c.br = c.srv.getReader(connReader{c})
	c.plog(EventConnect, "", "")
	// A short deadline: the refused client is not counted, so Close does
	// not close it, and must not wait long for it.
	c.raw.SetDeadline(time.Now().Add(refuseTimeout))
	c.writeReply(r)
	c.bw.Flush()
	c.finish()
	c.done()
}

// refuseTimeout bounds writing the refusal of a connection over a limit
// (and, on a TLS listener, the handshake that write needs).
const refuseTimeout = 10 * time.Second

func (c *Conn) finish() {
	if c.bdat != nil {
		c.abortBDAT(io.ErrUnexpectedEOF)
	}
	c.srv.release(c, c.src)
	if c.bw.Buffered() > 0 {
		c.raw.SetWriteDeadline(time.Now().Add(time.Second))
		c.bw.Flush()
	}
	// The client has its last reply; what the backend does to end the
	// session (a proxy's upstream QUIT) no longer delays it.
	if c.session != nil {
		c.session.Logout()
	}
	c.raw.SetDeadline(time.Now().Add(time.Second)) // bounds a TLS close_notify
	c.nc.Close()
	c.cancel()
}

// done logs the disconnect and recycles the buffers; it runs after the
// connection left the server's counts, so a client told of the disconnect
// can connect again at once.
func (c *Conn) done() {
	c.plog(EventDisconnect, "", c.closedBy)
	c.srv.putBuffers(c.br, c.bw)
	c.br, c.bw = nil, nil
}

// readFailed answers a failed read: shutdown, ConnectionTimeout and
// ConnectionInactivityTimeout each have their reply; a vanished client has
// none.
func (c *Conn) readFailed(err error) {
	var ne net.Error
	timeout := errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded)
	switch {
	case errors.Is(err, errShuttingDown), timeout && c.srv.lc.Stopped():
		c.farewell(ReplyServiceNotAvailable)
	case timeout && !time.Now().Before(c.deadline):
		c.farewell(ReplyConnectionTimedOut)
	case timeout:
		c.farewell(ReplyInactivityTimeout)
	default:
		c.closedBy = "Remote"
		if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, net.ErrClosed) {
			c.Logger().Debug("smtpd: read", "err", err)
		}
	}
}

// farewell sends a last reply; the caller then closes.
// farewell queues the last reply; finish flushes it after the connection
// has left the limits' counts, so a client that reconnects on reading it
// is not refused.
func (c *Conn) farewell(r *Reply) {
	c.writeReply(r)
}

func (c *Conn) flush() error {
	c.raw.SetWriteDeadline(time.Now().Add(c.srv.lim.ConnectionInactivityTimeout))
	return c.bw.Flush()
}

// readLine reads one line of at most limit octets and returns it without
// its line ending. A bare LF ends a command line as CRLF does (RFC 5321
// 2.3.8 asks for CRLF; a lone LF is taken as a lenient line end, and a lone
// CR stays part of the line and fails the command's syntax). A longer line
// is consumed to its end without being buffered and errLineTooLong returned.
// The slice is valid until the next read.
func (c *Conn) readLine(limit int) ([]byte, error) {
	line, err := c.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull || err == nil && len(line) > limit {
		for err == bufio.ErrBufferFull {
			_, err = c.br.ReadSlice('\n')
		}
		if err != nil {
			return nil, err
		}
		return nil, errLineTooLong
	}
	if err != nil {
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// writeReply buffers r; connReader sends it when the client's input is
// consumed.
func (c *Conn) writeReply(r *Reply) {
	text := r.Text
	for {
		line, rest, more := strings.Cut(text, "\n")
		c.bw.WriteByte(byte('0' + r.Code/100%10))
		c.bw.WriteByte(byte('0' + r.Code/10%10))
		c.bw.WriteByte(byte('0' + r.Code%10))
		if more {
			c.bw.WriteByte('-')
		} else {
			c.bw.WriteByte(' ')
		}
		if r.Enhanced != "" {
			c.bw.WriteString(r.Enhanced)
			c.bw.WriteByte(' ')
		}
		c.bw.WriteString(line)
		c.bw.WriteString("\r\n")
		if !more {
			break
		}
		text = rest
	}
	if c.srv.opts.ProtocolLog != nil {
		c.plog(EventSend, replyLogData(r), "")
	}
}

// writeBanner sends "220 <fqdn> Microsoft ESMTP MAIL Service ready at <date>"
// (EXCHANGE.md section 2; RFC 5322 date, numeric zone, day without padding).
func (c *Conn) writeBanner() {
	var buf [128]byte
	b := append(buf[:0], "Microsoft ESMTP MAIL Service ready at "...)
	b = c.srv.now().AppendFormat(b, "Mon, 2 Jan 2006 15:04:05 -0700")
	c.writeReply(&Reply{Code: 220, Text: c.srv.hostname + " " + string(b)})
}

// protocolError sends a syntax or sequence error and counts it toward
// MaxProtocolErrors; at the limit it sends 421 4.7.0 and reports false
// (close).
func (c *Conn) protocolError(r *Reply) bool {
	return c.countedError(r, &c.protoErrors, c.srv.lim.MaxProtocolErrors)
}

// countedError sends r and counts it in *n; at limit it sends 421 4.7.0
// and reports false (close).
func (c *Conn) countedError(r *Reply, n *int, limit int) bool {
	c.writeReply(r)
	*n++
	if *n >= limit {
		c.farewell(ReplyTooManyErrors)
		return false
	}
	return true
}

// backendReply turns a Backend error into the reply to send.
func (c *Conn) backendReply(err error, fallback *Reply) *Reply {
	var r *Reply
	if errors.As(err, &r) && r != nil {
		return r
	}
	c.Logger().Warn("smtpd: backend", "err", err)
	return fallback
}

// tarpit delays a 5xx reply to RCPT for anonymous sessions, as Exchange
// does against directory harvesting (Set-ReceiveConnector -TarpitInterval;
// authenticated sessions are never delayed).
func (c *Conn) tarpit(r *Reply) {
	d := c.srv.lim.TarpitInterval
	if d <= 0 || c.authed || r.Code < 500 {
		return
	}
	if c.srv.opts.ProtocolLog != nil {
		c.plog(EventInfo, "Tarpit for '"+timeSpan(d)+"' due to '"+r.Error()+"'", "")
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-c.srv.lc.Stopping():
	}
}
