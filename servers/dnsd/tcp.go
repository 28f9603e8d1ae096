package dnsd

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"time"
)

// ServeTCP answers DNS queries over TCP connections accepted from l (two-byte
// length framing, RFC 1035 section 4.2.2) until Shutdown or Close, then
// returns ErrServerClosed; l is closed on return. Queries on one connection
// are answered in order; answers are never truncated below 64 KiB.
func (s *Server) ServeTCP(l net.Listener) error { return s.lc.Serve(l, s.serveConn) }

// serveConn answers the queries of one TCP connection. Every read and
// write has a deadline, so a silent or slow client costs at most
// ReadTimeout (or IdleTimeout) plus WriteTimeout.
func (s *Server) serveConn(c net.Conn) {
	log := s.log.With("proto", "tcp", "remote", c.RemoteAddr().String()) // a child logger per connection
	timeout := s.opts.ReadTimeout
	var lenBuf [2]byte
	for !s.lc.Stopped() {
		if !s.setReadDeadline(c, timeout) {
			return
		}
		if _, err := io.ReadFull(c, lenBuf[:]); err != nil {
			return // EOF, timeout, reset or shutdown
		}
		// The rest of the message must follow within ReadTimeout.
		if !s.setReadDeadline(c, s.opts.ReadTimeout) {
			return
		}
		msg := make([]byte, binary.BigEndian.Uint16(lenBuf[:]))
		if _, err := io.ReadFull(c, msg); err != nil {
			return
		}
		r := s.zones.Load().handle(msg, true)
		logQuery(log, nil, r)
		if r.wire == nil {
			// Garbage on a stream: the framing cannot be trusted either.
			return
		}
		out := make([]byte, 2+len(r.wire))
		binary.BigEndian.PutUint16(out, uint16(len(r.wire)))
		copy(out[2:], r.wire)
		_ = c.SetWriteDeadline(time.Now().Add(s.opts.WriteTimeout))
		if _, err := c.Write(out); err != nil {
			return
		}
		timeout = s.opts.IdleTimeout
	}
}

// setReadDeadline sets a read deadline unless the server is shutting down
// (Shutdown sets one in the past; do not undo it). It reports
// whether the connection should go on.
func (s *Server) setReadDeadline(c net.Conn, d time.Duration) bool {
	if s.lc.Stopped() {
		return false
	}
	if err := c.SetReadDeadline(time.Now().Add(d)); err != nil {
		return !errors.Is(err, net.ErrClosed)
	}
	return true
}
