package senderrep

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"
)

// Dialing the sender through the organization's outbound proxy
// (Set-SenderReputationConfig -ProxyServerName/-Port/-Type): the tests then
// run inside a tunnel the outbound proxy opens to the sender.

// outboundError is a failure of the outbound proxy to reach the sender, with
// the outcome it means for the probe.
type outboundError struct {
	outcome Outcome
	msg     string
}

func (e *outboundError) Error() string { return e.msg }

// bufConn reads through the reader that parsed the outbound proxy's reply,
// so bytes the sender sent right behind it are not lost.
type bufConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufConn) Read(p []byte) (int, error) { return c.r.Read(p) }

var _ net.Conn = (*bufConn)(nil)

// dialOutbound connects to dst through proxy. The handshake runs under ctx's
// deadline.
func dialOutbound(ctx context.Context, dial DialFunc, proxy *ProxyConfig, dst netip.AddrPort) (net.Conn, error) {
	c, err := dial(ctx, "tcp", proxy.Address())
	if err != nil {
		return nil, &outboundError{outcome: Error, msg: fmt.Sprintf("outbound proxy %s: %v", proxy.Address(), err)}
	}
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	br := bufio.NewReaderSize(c, maxLine)
	if err := outboundHandshake(c, br, proxy.Type, dst); err != nil {
		c.Close()
		var oe *outboundError
		if errors.As(err, &oe) {
			return nil, err
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &outboundError{outcome: Error, msg: fmt.Sprintf("outbound proxy %s: %v", proxy.Address(), err)}
	}
	c.SetDeadline(time.Time{})
	return &bufConn{Conn: c, r: br}, nil
}

func outboundHandshake(w io.Writer, br *bufio.Reader, typ ProxyType, dst netip.AddrPort) error {
	t, err := ParseProxyType(string(typ))
	if err != nil {
		return err
	}
	switch t {
	case ProxySOCKS4:
		req, err := socks4Request(dst)
		if err != nil {
			return &outboundError{outcome: Error, msg: "outbound proxy: " + err.Error()}
		}
		if _, err := w.Write(req); err != nil {
			return err
		}
		if err := readSOCKS4Reply(br); err != nil {
			var r *refusal
			if errors.As(err, &r) {
				return &outboundError{outcome: Error, msg: "outbound proxy: " + err.Error()}
			}
			return err
		}
		return nil

	case ProxySOCKS5:
		if _, err := w.Write(socks5Greeting()); err != nil {
			return err
		}
		if err := readSOCKS5Method(br); err != nil {
			return outboundRefusal(err)
		}
		if _, err := w.Write(socks5Request(dst)); err != nil {
			return err
		}
		err := readSOCKS5Reply(br)
		var re *socks5ReplyError
		if errors.As(err, &re) {
			// The outbound proxy's view of the sender's port.
			return outboundStatus(err, re.rep == 5, re.rep == 6)
		}
		return outboundRefusal(err)

	default: // ProxyHTTPConnect
		if _, err := fmt.Fprintf(w, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", dst, dst); err != nil {
			return err
		}
		s := &scanner{br: br, expect: func(string) bool { return false }}
		_, err := readHTTPConnectReply(s)
		var se *httpStatusError
		if errors.As(err, &se) {
			// Squid's statuses: 503 when the origin refuses, 504 on timeout.
			return outboundStatus(err, se.code == 503, se.code == 504)
		}
		return outboundRefusal(err)
	}
}

// outboundStatus is the outcome of a probe the outbound proxy answered
// with an error status: closed or filtered when the status says the
// sender's port refused or did not answer, else an outbound proxy error.
func outboundStatus(err error, closed, filtered bool) error {
	switch {
	case closed:
		return &outboundError{outcome: Closed, msg: "via outbound proxy: " + err.Error()}
	case filtered:
		return &outboundError{outcome: Filtered, msg: "via outbound proxy: " + err.Error()}
	}
	return &outboundError{outcome: Error, msg: "outbound proxy: " + err.Error()}
}

func outboundRefusal(err error) error {
	var r *refusal
	if errors.As(err, &r) {
		return &outboundError{outcome: Error, msg: "outbound proxy: " + err.Error()}
	}
	return err
}
