package pop3d

import (
	"bytes"
	"errors"
	"io"
)

// messageWriter writes a stored message as POP3 sends it: every line ends in
// CRLF (a bare LF becomes CRLF), and with stuff set a line beginning with
// '.' gets another '.' (RFC 1939 section 3). With bodyLines >= 0 it stops
// after the header, the blank line and that many body lines (TOP, RFC 1939
// section 7). It works on chunks of any size and keeps only a few bits of
// state, so a message of any length streams in constant memory.
type messageWriter struct {
	w         io.Writer
	stuff     bool
	bodyLines int // < 0: everything

	lineStart  bool // the next byte begins a line
	pendingCR  bool // a CR ended the last chunk; it may be half of CRLF
	hasContent bool // the current line has content (for the blank separator)
	inBody     bool
	sentBody   int
	done       bool // TOP has sent all it should
	n          int64
}

// errTopDone stops the copy once TOP has sent what it should.
var errTopDone = errors.New("pop3d: top done")

func newMessageWriter(w io.Writer, stuff bool, bodyLines int) *messageWriter {
	return &messageWriter{w: w, stuff: stuff, bodyLines: bodyLines, lineStart: true}
}

func (m *messageWriter) out(p []byte) error {
	n, err := m.w.Write(p)
	m.n += int64(n)
	return err
}

// Write transforms p. It reports len(p) consumed, or errTopDone.
func (m *messageWriter) Write(p []byte) (int, error) {
	total := len(p)
	for len(p) > 0 {
		if m.lineStart {
			if m.bodyLines >= 0 && m.inBody {
				if m.sentBody >= m.bodyLines {
					m.done = true
					return total - len(p), errTopDone
				}
				m.sentBody++
			}
			m.lineStart, m.hasContent = false, false
			if m.stuff && p[0] == '.' {
				if err := m.out(dot); err != nil {
					return 0, err
				}
			}
		}
		seg := p
		nl := bytes.IndexByte(p, '\n')
		if nl >= 0 {
			seg, p = p[:nl], p[nl+1:]
		} else {
			p = nil
		}
		if m.pendingCR {
			m.pendingCR = false
			if nl < 0 || len(seg) > 0 {
				// Not CR LF across chunks: the CR is content.
				if err := m.out(cr); err != nil {
					return 0, err
				}
				m.hasContent = true
			}
		}
		if k := len(seg); k > 0 && seg[k-1] == '\r' {
			seg = seg[:k-1]
			if nl < 0 {
				m.pendingCR = true
			}
		}
		if len(seg) > 0 {
			if err := m.out(seg); err != nil {
				return 0, err
			}
			m.hasContent = true
		}
		if nl >= 0 {
			if err := m.out(crlf); err != nil {
				return 0, err
			}
			m.lineStart = true
			if !m.inBody && !m.hasContent {
				m.inBody = true // RFC 5322 section 2.1: the blank line ends the header
			}
		}
	}
	return total, nil
}

var (
	crlf = []byte("\r\n")
	cr   = crlf[:1]
	dot  = []byte(".")
)

// finish ends the last line with CRLF if the message did not.
func (m *messageWriter) finish() error {
	if m.done {
		return nil
	}
	if m.pendingCR {
		m.pendingCR = false
		if err := m.out(cr); err != nil {
			return err
		}
		m.lineStart = false
	}
	if !m.lineStart {
		m.lineStart = true
		return m.out(crlf)
	}
	return nil
}

// copyFrom writes all of r (or what TOP wants of it) and finishes the last
// line; the caller writes the terminating ".".
func (m *messageWriter) copyFrom(r io.Reader) error {
	if _, err := io.Copy(m, r); err != nil && !errors.Is(err, errTopDone) {
		return err
	}
	return m.finish()
}

// WireSize is the size of a stored message as RETR sends it, CRLF line
// endings and all, before byte-stuffing: the MessageInfo.Size a Maildrop
// reports (RFC 1939 section 5 LIST).
func WireSize(r io.Reader) (int64, error) {
	m := newMessageWriter(io.Discard, false, -1)
	err := m.copyFrom(r)
	return m.n, err
}
