package ldapd

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
)

// maxResponseBytes bounds one response read back from gldap; responses are
// built by this package, so this only guards against a broken backend.
const maxResponseBytes = 256 << 20

// front is one client connection: it frames the client's messages, answers
// what the front end answers itself and relays the rest, one request at a
// time, to its private gldap connection.
type front struct {
	s    *Server
	b    *backend
	c    net.Conn
	log  *slog.Logger
	sess *session

	mu     sync.Mutex
	be     net.Conn // private connection to gldap
	closed bool
}

func (f *front) serve() {
	defer func() {
		if p := recover(); p != nil {
			f.log.Error("connection handler panicked", "err", fmt.Errorf("%v", p))
		}
	}()
	if tc, ok := f.c.(*tls.Conn); ok {
		tc.SetDeadline(time.Now().Add(f.s.opts.HandshakeTimeout))
		if err := tc.Handshake(); err != nil {
			f.log.Debug("tls handshake failed", "err", err)
			return
		}
		tc.SetDeadline(time.Time{})
		if p := peerName(tc); p != "" {
			f.log.Debug("client certificate " + p)
		}
	}
	be, bbr, err := f.b.dial(f.sess, 5*time.Second)
	if err != nil {
		f.log.Error("private gldap connection failed", "err", err)
		f.notice(ResultUnavailable, textUnavailable)
		return
	}
	if !f.setBackend(be) {
		be.Close()
		return
	}
	f.log.Debug("connected")

	br := bufio.NewReader(f.c)
	bw := bufio.NewWriterSize(f.c, 16<<10)
	for {
		f.c.SetReadDeadline(time.Now().Add(f.s.opts.IdleTimeout))
		// Checked after setting the deadline: Shutdown sets the flag before
		// it interrupts reads, so one of the two is always seen.
		if f.s.shutdown.Load() {
			f.notice(ResultUnavailable, textUnavailable)
			return
		}
		raw, err := readMessage(br, f.s.opts.MaxMessageBytes)
		if err != nil {
			f.readFailed(err)
			return
		}
		m, err := parseMessage(raw)
		if err != nil {
			f.log.Info("malformed request", "code", ResultProtocolError, "err", err)
			f.notice(ResultProtocolError, textDecoding)
			return
		}
		if !f.handle(m, bw, be, bbr) {
			return
		}
	}
}

// readFailed ends a connection whose next message could not be read.
func (f *front) readFailed(err error) {
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF):
		f.log.Debug("client closed the connection")
	case errors.As(err, &ne) && ne.Timeout():
		if f.s.shutdown.Load() {
			f.notice(ResultUnavailable, textUnavailable)
			return
		}
		f.log.Debug("idle timeout")
	case errors.Is(err, errTooLarge):
		f.log.Info("request too large", "code", ResultProtocolError)
		f.notice(ResultProtocolError, textTooLarge)
	case errors.Is(err, errNotLDAP):
		f.log.Info("not an LDAP message", "code", ResultProtocolError)
		f.notice(ResultProtocolError, textDecoding)
	default:
		f.log.Debug("read failed", "err", err)
	}
}

// handle answers or relays one request; false ends the connection.
func (f *front) handle(m *message, bw *bufio.Writer, be net.Conn, bbr *bufio.Reader) bool {
	switch m.op {
	case opUnbindRequest:
		f.log.Debug("unbind")
		return false
	case opAbandonRequest:
		// No response (RFC 4511 section 4.11); nothing is in flight.
		return true
	case opExtendedRequest:
		// No extended operation is offered (RFC 4511 section 4.12).
		return f.send(bw, encodeResult(m.id, opExtendedResponse, ResultProtocolError, "", textUnknownExtOp))
	case opCompareRequest, opModDNRequest:
		return f.send(bw, encodeResult(m.id, m.op+1, ResultUnwillingToPerform, "", textWillNotPerf))
	case opBindRequest:
		if code, diag := checkBind(m.request()); code != ResultSuccess {
			f.sess.setBound("")
			return f.send(bw, encodeResult(m.id, opBindResponse, code, "", diag))
		}
		return f.relay(m, bw, be, bbr)
	case opSearchRequest, opModifyRequest, opAddRequest, opDelRequest:
		return f.relay(m, bw, be, bbr)
	}
	f.log.Info("unknown operation", "code", ResultProtocolError)
	f.notice(ResultProtocolError, textDecoding)
	return false
}

// checkBind refuses what gldap cannot take: another LDAP version (RFC 4511
// section 4.2.1) and SASL.
func checkBind(req *ber.Packet) (int, string) {
	if len(req.Children) < 3 {
		return ResultProtocolError, textDecoding
	}
	if v, ok := req.Children[0].Value.(int64); !ok || v != 3 {
		return ResultProtocolError, textVersion
	}
	auth := req.Children[2]
	switch {
	case auth.ClassType == ber.ClassContext && auth.Tag == 0 && auth.TagType == ber.TypePrimitive:
		return ResultSuccess, ""
	case auth.ClassType == ber.ClassContext && auth.Tag == 3:
		return ResultAuthMethodNotSupported, textSASL
	}
	return ResultProtocolError, textDecoding
}

// relay sends a request to gldap and copies its responses to the client
// until the final one.
func (f *front) relay(m *message, bw *bufio.Writer, be net.Conn, bbr *bufio.Reader) bool {
	be.SetWriteDeadline(time.Now().Add(f.s.opts.WriteTimeout))
	if _, err := be.Write(m.raw); err != nil {
		f.log.Error("relay to gldap failed", "err", err)
		f.notice(ResultUnavailable, textUnavailable)
		return false
	}
	be.SetReadDeadline(time.Now().Add(f.s.opts.OperationTimeout))
	for {
		raw, err := readMessage(bbr, maxResponseBytes)
		if err != nil {
			// gldap drops a connection whose request it cannot decode.
			f.log.Info("request refused by the decoder", "code", ResultProtocolError, "err", err)
			f.notice(ResultProtocolError, textDecoding)
			return false
		}
		id, op, err := peekResponse(raw)
		if err != nil || id != m.id {
			f.log.Error("unexpected response from gldap", "err", err)
			f.notice(ResultOther, textDirError)
			return false
		}
		final := finalResponse(op)
		if !f.write(bw, raw, final) {
			return false
		}
		if final {
			return true
		}
	}
}

// send writes a response the front end built.
func (f *front) send(bw *bufio.Writer, raw []byte) bool { return f.write(bw, raw, true) }

func (f *front) write(bw *bufio.Writer, raw []byte, flush bool) bool {
	f.c.SetWriteDeadline(time.Now().Add(f.s.opts.WriteTimeout))
	if _, err := bw.Write(raw); err != nil {
		f.log.Debug("write failed", "err", err)
		return false
	}
	if flush {
		if err := bw.Flush(); err != nil {
			f.log.Debug("write failed", "err", err)
			return false
		}
	}
	return true
}

// notice tells the client why the server ends the connection (RFC 4511
// section 4.4.1).
func (f *front) notice(code int, diag string) {
	f.c.SetWriteDeadline(time.Now().Add(f.s.opts.WriteTimeout))
	f.c.Write(encodeNotice(code, diag))
}

func (f *front) setBackend(be net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false
	}
	f.be = be
	return true
}

// interrupt wakes a connection blocked reading the client (Shutdown).
func (f *front) interrupt() {
	f.c.SetReadDeadline(time.Now())
}

// close closes both connections; safe to call more than once.
func (f *front) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	f.closed = true
	f.c.Close()
	if f.be != nil {
		f.be.Close()
	}
}
