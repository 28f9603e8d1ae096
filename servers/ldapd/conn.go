package ldapd

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/exsim/exsim/internal/membudget"
	"github.com/exsim/exsim/store/directory"
)

// conn is one client connection. Its goroutine (started by Serve, ended by
// the client, an error, Shutdown or Close) reads one request at a time,
// answers it in full and reads the next: a client that sends several
// requests without waiting gets their answers in order.
type conn struct {
	s   *Server
	c   net.Conn
	log *slog.Logger
	bw  *bufio.Writer

	account  string    // DN of the last successful bind; "" is anonymous
	deadline time.Time // end of the OperationTimeout of the request being answered
}

func (c *conn) serve() {
	defer func() {
		if p := recover(); p != nil {
			c.log.Error("connection handler panicked", "err", fmt.Errorf("%v", p))
		}
	}()
	if tc, ok := c.c.(*tls.Conn); ok {
		tc.SetDeadline(time.Now().Add(c.s.opts.HandshakeTimeout))
		if err := tc.Handshake(); err != nil {
			c.log.Debug("tls handshake failed", "err", err)
			return
		}
		tc.SetDeadline(time.Time{})
		if p := peerName(tc); p != "" {
			c.log.Debug("client certificate " + p)
		}
	}
	c.log.Debug("connected")
	br := bufio.NewReader(c.c)
	c.bw = bufio.NewWriterSize(c.c, 16<<10)
	for {
		c.c.SetReadDeadline(time.Now().Add(c.s.opts.IdleTimeout))
		// Checked after setting the deadline: Shutdown marks the server
		// stopped before it wakes readers, so one of the two is always seen.
		if c.s.lc.Stopped() {
			c.notice(errUnavailable())
			return
		}
		raw, held, err := readMessage(br, c.s.opts.MaxMessageBytes)
		if err != nil {
			c.readFailed(err)
			return
		}
		m, err := parseMessage(raw)
		membudget.Memory.Release(held) // the decoded request is what stays
		if err != nil {
			c.log.Info("malformed request", "code", directory.ResultProtocolError, "err", err)
			c.notice(directory.DecodingError())
			return
		}
		if !c.handle(m) {
			return
		}
	}
}

// readFailed ends a connection whose next message could not be read.
func (c *conn) readFailed(err error) {
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF):
		c.log.Debug("client closed the connection")
	case errors.As(err, &ne) && ne.Timeout():
		if c.s.lc.Stopped() {
			c.notice(errUnavailable())
			return
		}
		c.log.Debug("idle timeout")
	case errors.Is(err, errTooLarge):
		c.log.Info("request too large", "code", directory.ResultProtocolError)
		c.notice(errRequestTooLarge())
	case errors.Is(err, errNoMemory):
		// How a DC starved of memory answers has no public source; exsim
		// disconnects with the BUSY notice it gives while stopping.
		c.log.Info("request refused: in-flight budget spent", "code", directory.ResultUnavailable)
		c.notice(errUnavailable())
	case errors.Is(err, errNotLDAP):
		c.log.Info("not an LDAP message", "code", directory.ResultProtocolError)
		c.notice(directory.DecodingError())
	default:
		c.log.Debug("read failed", "err", err)
	}
}

// handle answers one request; false ends the connection. A request whose
// handler panics is answered with AD's DIR_ERROR, and the connection goes
// on.
func (c *conn) handle(m *message) (keep bool) {
	c.deadline = time.Now().Add(c.s.opts.OperationTimeout)
	defer func() {
		if p := recover(); p != nil {
			c.log.Error("request handler panicked", "err", fmt.Errorf("%v", p))
			if resp, ok := responseTag[m.op]; ok {
				keep = c.reply(m, resp, directory.AsResult(errors.New("panic")))
				return
			}
			keep = false
		}
	}()
	switch m.op {
	case opUnbindRequest:
		c.log.Debug("unbind")
		return false
	case opAbandonRequest:
		// No response (RFC 4511 section 4.11); nothing is in flight, as
		// every request is answered before the next is read.
		return true
	case opBindRequest:
		return c.bind(m)
	case opSearchRequest:
		return c.search(m)
	case opAddRequest:
		return c.add(m)
	case opModifyRequest:
		return c.modify(m)
	case opDelRequest:
		return c.del(m)
	case opExtendedRequest:
		// No extended operation is offered (RFC 4511 section 4.12).
		return c.reply(m, opExtendedResponse, &directory.Error{Code: directory.ResultProtocolError, Diagnostic: textUnknownExtOp})
	case opCompareRequest, opModDNRequest:
		return c.reply(m, responseTag[m.op], directory.UnwillingToPerform())
	}
	c.log.Info("unknown operation", "code", directory.ResultProtocolError)
	c.notice(directory.DecodingError())
	return false
}

// responseTag is the application tag of the final response to each request
// that has one (RFC 4511 section 4.2 to 4.12).
var responseTag = map[int]int{
	opBindRequest:     opBindResponse,
	opSearchRequest:   opSearchDone,
	opModifyRequest:   opModifyResponse,
	opAddRequest:      opAddResponse,
	opDelRequest:      opDelResponse,
	opModDNRequest:    opModDNResponse,
	opCompareRequest:  opCompareResponse,
	opExtendedRequest: opExtendedResponse,
}

// reply answers m with an LDAPResult of application tag app for err
// (success when nil), and logs a directory failure once.
func (c *conn) reply(m *message, app int, err error) bool {
	code, matched, diag := directory.ResultSuccess, "", ""
	if err != nil {
		le := directory.AsResult(err)
		code, matched, diag = le.Code, le.MatchedDN, le.Diagnostic
		if code == directory.ResultOther {
			c.log.Error("directory error", "code", code, "err", err)
		}
	}
	return c.send(encodeResult(m.id, app, code, matched, diag), true)
}

// refuse ends the connection over a request it cannot decode, as AD does.
func (c *conn) refuse(what string, err error) bool {
	c.log.Info("undecodable "+what, "code", directory.ResultProtocolError, "err", err)
	c.notice(directory.DecodingError())
	return false
}

// send writes one response; flush ends the answer to a request.
func (c *conn) send(raw []byte, flush bool) bool {
	d := time.Now().Add(c.s.opts.WriteTimeout)
	if c.deadline.Before(d) {
		d = c.deadline
	}
	c.c.SetWriteDeadline(d)
	if _, err := c.bw.Write(raw); err != nil {
		c.log.Debug("write failed", "err", err)
		return false
	}
	if flush {
		if err := c.bw.Flush(); err != nil {
			c.log.Debug("write failed", "err", err)
			return false
		}
	}
	return true
}

// notice tells the client why the server ends the connection (RFC 4511
// section 4.4.1).
func (c *conn) notice(e *directory.Error) {
	c.c.SetWriteDeadline(time.Now().Add(c.s.opts.WriteTimeout))
	if c.bw != nil {
		c.bw.Flush()
	}
	c.c.Write(encodeNotice(e.Code, e.Diagnostic))
}
