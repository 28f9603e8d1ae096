package dnsd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	accept "github.com/exsim/exsim/servers/internal/serve"
)

// ServeTCP answers DNS queries over TCP connections accepted from l (two-byte
// length framing, RFC 1035 section 4.2.2) until Shutdown or Close, then
// returns ErrServerClosed; l is closed on return. Queries on one connection
// are answered in order; answers are never truncated below 64 KiB.
func (s *Server) ServeTCP(l net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = l.Close()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
		_ = l.Close()
	}()

	var backoff accept.Backoff
	for {
		c, err := l.Accept()
		if err != nil {
			if s.shuttingDown() {
				return ErrServerClosed
			}
			if accept.Transient(err) {
				backoff.Wait(s.done)
				continue // the next Accept sees the shutdown
			}
			return fmt.Errorf("dnsd: tcp: %w", err)
		}
		backoff.Reset()
		if !s.track(c) {
			_ = c.Close() // over MaxTCPConns, or shutting down
			continue
		}
		go s.serveConn(c)
	}
}

// track registers a connection and counts its goroutine; false means the
// connection must be refused.
func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || len(s.conns) >= s.opts.MaxTCPConns {
		return false
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return true
}

// serveConn answers the queries of one TCP connection. Every read and
// write has a deadline, so a silent or slow client costs at most
// ReadTimeout (or IdleTimeout) plus WriteTimeout.
func (s *Server) serveConn(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		_ = c.Close()
	}()
	log := s.log.With("proto", "tcp", "remote", c.RemoteAddr().String()) // a child logger per connection
	timeout := s.opts.ReadTimeout
	var lenBuf [2]byte
	for !s.shuttingDown() {
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
// (Shutdown already set one in the past; do not undo it). It reports
// whether the connection should go on.
func (s *Server) setReadDeadline(c net.Conn, d time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if err := c.SetReadDeadline(time.Now().Add(d)); err != nil {
		return !errors.Is(err, net.ErrClosed)
	}
	return true
}
