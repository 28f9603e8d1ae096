package smtpd

import (
	"bufio"
	"bytes"
	"io"
)

// cmdData handles DATA (RFC 5321 4.1.1.4): 354, then the message streamed
// to Session.Data through a dotReader, then the Session's reply.
func (c *Conn) cmdData(arg []byte) bool {
	switch {
	case c.bdat != nil: // RFC 3030 section 3: no DATA after BDAT
		return c.protocolError(ReplyBadSequence)
	case !c.inTx || c.rcpts == 0:
		return c.protocolError(ReplyBadSequence)
	case len(arg) > 0:
		return c.protocolError(ReplyInvalidArguments)
	case c.mailOpts.Body == BodyBinaryMIME: // RFC 3030 section 3: BINARYMIME needs BDAT
		return c.protocolError(ReplyBinaryMIMEWithDATA)
	}
	c.writeReply(ReplyStartMailInput)
	c.dr.reset(c.br, c.srv.lim)
	reply, err := c.session.Data(&c.dr)
	if derr := c.dr.drain(); derr != nil {
		c.resetTx()
		c.readFailed(derr)
		return false
	}
	var r *Reply
	switch {
	case c.dr.lim.err != nil:
		r = c.dr.lim.err
	case err != nil:
		r = c.backendReply(err, ReplyTemporaryServerError)
	case reply == nil:
		r = ReplyQueuedNoID
	default:
		r = reply
	}
	c.writeReply(r)
	c.resetTx()
	return true
}

// bodyLimiter counts a message against MaxMessageSize and its header
// section (up to and including the first empty line) against MaxHeaderSize.
type bodyLimiter struct {
	max, maxHeader int64
	n, header      int64
	inHeader       bool
	state          uint8 // header scan: 0 at line start, 1 CR at line start, 2 in a line
	err            *Reply
}

func (l *bodyLimiter) reset(lim Limits) {
	*l = bodyLimiter{max: lim.MaxMessageSize, maxHeader: lim.MaxHeaderSize, inHeader: true}
}

// account adds p; it returns (and keeps returning) the 552 reply once a
// limit is crossed.
func (l *bodyLimiter) account(p []byte) *Reply {
	if l.err != nil {
		return l.err
	}
	l.n += int64(len(p))
	if l.inHeader {
		l.header += int64(l.scanHeader(p))
		if l.header > l.maxHeader {
			l.err = ReplyHeaderTooLarge
			return l.err
		}
	}
	if l.n > l.max {
		l.err = ReplyMessageTooLarge
	}
	return l.err
}

// scanHeader returns how many bytes of p belong to the header section and
// notes its end (an empty line, CRLF or a bare LF).
func (l *bodyLimiter) scanHeader(p []byte) int {
	for i := 0; i < len(p); i++ {
		switch l.state {
		case 2:
			j := bytes.IndexByte(p[i:], '\n')
			if j < 0 {
				return len(p)
			}
			i += j
			l.state = 0
		case 0:
			switch p[i] {
			case '\n':
				l.inHeader = false
				return i + 1
			case '\r':
				l.state = 1
			default:
				l.state = 2
			}
		case 1:
			if p[i] == '\n' {
				l.inHeader = false
				return i + 1
			}
			l.state = 2
			i-- // rescan this byte as part of the line
		}
	}
	return len(p)
}

// dotReader streams a DATA message: it removes the transparency dot
// (RFC 5321 4.5.2) and ends at <CRLF>.<CRLF>. Only a line that follows a
// CRLF counts as a line start, so neither a bare LF nor a bare CR can end
// the message early or hide a second one (the "SMTP smuggling" family);
// bare LFs and NULs are passed through to the Session unchanged. Lines of
// any length stream through the bufio.Reader without being buffered whole.
type dotReader struct {
	br        *bufio.Reader
	lim       bodyLimiter
	pending   []byte // rest of the current line, inside br's buffer
	lineStart bool
	done      bool  // terminator seen
	err       error // read error: the client vanished or timed out
}

func (d *dotReader) reset(br *bufio.Reader, lim Limits) {
	*d = dotReader{br: br, lineStart: true}
	d.lim.reset(lim)
}

func (d *dotReader) Read(p []byte) (int, error) {
	if d.lim.err != nil {
		return 0, d.lim.err
	}
	n := 0
	for n < len(p) {
		if len(d.pending) == 0 {
			if d.done || d.err != nil || n > 0 && d.br.Buffered() == 0 {
				break
			}
			d.next()
			continue
		}
		k := copy(p[n:], d.pending)
		d.pending = d.pending[k:]
		n += k
	}
	if n > 0 {
		if r := d.lim.account(p[:n]); r != nil {
			return 0, r
		}
		return n, nil
	}
	if d.err != nil {
		return 0, d.err
	}
	return 0, io.EOF
}

// next reads the next line (or a buffer-full piece of a long one).
func (d *dotReader) next() {
	line, err := d.br.ReadSlice('\n')
	if err != nil && err != bufio.ErrBufferFull {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		d.err = err
		return
	}
	if d.lineStart && len(line) > 0 && line[0] == '.' {
		if err == nil && len(line) == 3 && line[1] == '\r' {
			d.done = true
			return
		}
		line = line[1:]
	}
	d.lineStart = err == nil && len(line) >= 2 && line[len(line)-2] == '\r'
	d.pending = line
}

// drain reads to the terminator what the Session left unread.
func (d *dotReader) drain() error {
	for !d.done && d.err == nil {
		d.pending = nil
		d.next()
	}
	d.pending = nil
	return d.err
}
