package dnsd

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"syscall"
	"time"
)

// Serve answers DNS queries arriving on pc until Shutdown or Close, then
// returns ErrServerClosed; pc is closed on return. Responses fit the
// client's EDNS buffer (512 bytes without EDNS) and set TC=1 otherwise.
func (s *Server) Serve(pc net.PacketConn) error {
	log := s.log.With("proto", "udp")
	return s.lc.ServePacket(pc, func() error {
		errc := make(chan error, udpReaders)
		for range udpReaders {
			go func() { errc <- s.readPackets(pc, log) }()
		}
		var first error
		for range udpReaders {
			if err := <-errc; first == nil {
				first = err
				_ = pc.SetReadDeadline(time.Unix(1, 0)) // stop the other readers
			}
		}
		return fmt.Errorf("dnsd: udp: %w", first)
	})
}

// readPackets reads and answers packets until the socket fails or the
// server shuts down.
func (s *Server) readPackets(pc net.PacketConn, log *slog.Logger) error {
	buf := make([]byte, 65535)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			if s.lc.Stopped() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return err
			}
			if isTemporary(err) {
				continue
			}
			return err
		}
		r := s.zones.Load().handle(buf[:n], false)
		logQuery(log, from, r)
		if r.wire == nil {
			continue
		}
		_ = pc.SetWriteDeadline(time.Now().Add(s.opts.WriteTimeout))
		// A lost UDP answer is the client's to retry (RFC 1035 section 4.2.1).
		_, _ = pc.WriteTo(r.wire, from)
	}
}

// isTemporary reports errors a UDP read loop survives: an ICMP error queued
// on the socket by an earlier send (ECONNREFUSED and friends) surfaces on
// the next read on Linux.
func isTemporary(err error) bool {
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) {
		return true
	}
	var ne interface{ Temporary() bool }
	return errors.As(err, &ne) && ne.Temporary()
}
