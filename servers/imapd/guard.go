package imapd

import (
	"bytes"
	"strings"
)

// maxNesting is the deepest parenthesized list a command may hold. go-imap's
// decoder stops at 1000 with an internal error (which it answers
// NO [SERVERBUG] and then loses the rest of the line); commands that deep
// are a client's error, so they are answered BAD here before go-imap sees
// them. Exchange's own limit has no public source; real clients nest a few
// levels (SEARCH with OR, FETCH BODY[...]).
const maxNesting = 256

// tooDeep reports whether a command line nests lists deeper than
// maxNesting (parentheses inside quoted strings do not count).
func tooDeep(line string) bool {
	depth, quoted, escaped := 0, false, false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case escaped:
			escaped = false
		case quoted && c == '\\':
			escaped = true
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '(':
			if depth++; depth > maxNesting {
				return true
			}
		case c == ')':
			depth--
		}
	}
	return false
}

// refuse answers a complete command line BAD here instead of passing it
// to go-imap. A literal announced at its end is not the client's to send
// any more: its bytes will arrive as the next command and be refused too.
func (e *exchangeConn) refuse(line string) {
	tag, _, _ := strings.Cut(strings.TrimSpace(line), " ")
	e.queue = append(e.queue, queuedCmd{tag: tag, ours: true, reply: []string{replyArgError.line(tag)}})
}

// overlong reports (and starts dropping) a command line that has grown
// past MaxCommandSize (Set-ImapSettings, 10240 bytes, the limit the front
// end applies before logon): it is answered BAD, as Exchange does.
func (e *exchangeConn) overlong() bool {
	if e.inCont || e.swallow || len(e.inLine) <= defaultMaxCommandSize {
		return false
	}
	e.refuse(string(e.inLine[:min(len(e.inLine), 64)]))
	e.inLine, e.dropping = e.inLine[:0], true
	return true
}

// drop discards bytes of an overlong command up to its line's end and
// returns the rest.
func (e *exchangeConn) drop(b []byte) []byte {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return nil
	}
	e.dropping = false
	return b[i+1:]
}
