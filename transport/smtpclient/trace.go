package smtpclient

import (
	"bytes"
	"strings"
)

// traceWriter turns go-smtp's debug stream (both directions, unlabelled)
// into trace lines: a line that starts with a reply code is the server's
// ("<"), anything else the client's (">"). The message body, from a 354
// reply to the "." line, is not traced.
type traceWriter struct {
	trace    func(dir, line string)
	buf      []byte
	skipping bool
}

func (w *traceWriter) Write(b []byte) (int, error) {
	w.buf = append(w.buf, b...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			if len(w.buf) > 4096 {
				w.buf = w.buf[:0]
			}
			return len(b), nil
		}
		line := strings.TrimRight(string(w.buf[:i]), "\r")
		w.buf = w.buf[i+1:]
		if w.skipping {
			if line == "." {
				w.skipping = false
				w.trace(">", ".")
			}
			continue
		}
		if isReplyLine(line) {
			w.trace("<", line)
			w.skipping = strings.HasPrefix(line, "354")
		} else {
			w.trace(">", line)
		}
	}
}

func isReplyLine(l string) bool {
	return len(l) >= 3 && l[0] >= '2' && l[0] <= '5' && l[1] >= '0' && l[1] <= '9' && l[2] >= '0' && l[2] <= '9' && (len(l) == 3 || l[3] == ' ' || l[3] == '-')
}
