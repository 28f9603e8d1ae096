package proxyd

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// relayBufferSize is the copy buffer of one direction of a relay.
const relayBufferSize = 16 << 10

var relayBuffers = sync.Pool{New: func() any { b := make([]byte, relayBufferSize); return &b }}

// relay copies between the client (through its buffered reader, which may
// already hold bytes the client sent ahead) and the onward connection until
// both directions end, either side fails, or nothing moved in either
// direction for IdleTimeout. It clears the handshake deadline first.
func (s *Server) relay(ss *session, up net.Conn) error {
	ss.conn.SetDeadline(time.Time{})
	var last atomic.Int64
	last.Store(time.Now().UnixNano())

	errc := make(chan error, 2)
	go func() { errc <- s.pipe(up, ss.br, ss.conn, &last) }()
	go func() { errc <- s.pipe(ss.conn, up, up, &last) }()

	var first error
	for range 2 {
		if err := <-errc; err != nil && first == nil {
			first = err
			// One direction failed: end the other one too.
			ss.conn.Close()
			up.Close()
		}
	}
	return first
}

// pipe copies src (whose connection is srcConn) to dst. On a clean end of
// src it half-closes dst, so the peer sees the end of data while the other
// direction may still be running.
func (s *Server) pipe(dst net.Conn, src io.Reader, srcConn net.Conn, last *atomic.Int64) error {
	bp := relayBuffers.Get().(*[]byte)
	defer relayBuffers.Put(bp)
	buf := *bp
	idle := s.o.IdleTimeout
	for {
		srcConn.SetReadDeadline(time.Now().Add(idle))
		n, err := src.Read(buf)
		if n > 0 {
			last.Store(time.Now().UnixNano())
			dst.SetWriteDeadline(time.Now().Add(idle))
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		switch {
		case err == nil:
		case errors.Is(err, io.EOF):
			closeWrite(dst)
			return nil
		case errors.Is(err, os.ErrDeadlineExceeded):
			// Idle only when neither direction moved for IdleTimeout.
			if time.Since(time.Unix(0, last.Load())) < idle {
				continue
			}
			return err
		default:
			return err
		}
	}
}

// closeWrite half-closes c when it supports it, and closes it otherwise.
func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
		return
	}
	c.Close()
}
