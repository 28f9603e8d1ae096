package imapd

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
)

// The Frontend's command reader: strict, bounded, and only as much IMAP
// syntax as the not-authenticated state needs (RFC 9051 section 9: tag,
// command name, atoms, quoted strings, literals {n} and LITERAL+ {n+},
// parenthesized lists).

type tokenKind int

const (
	tokAtom tokenKind = iota
	tokQuoted
	tokLiteral
	tokOpen  // (
	tokClose // )
)

type token struct {
	kind tokenKind
	val  string
}

// str reports whether the token is an astring (atom, quoted or literal)
// and returns its value.
func (t token) str() (string, bool) {
	switch t.kind {
	case tokAtom, tokQuoted, tokLiteral:
		return t.val, true
	}
	return "", false
}

type command struct {
	tag  string
	name string // upper case
	args []token
}

// cmdReader reads commands. A command (line plus literals) is bounded by
// maxSize bytes; each literal by maxLiteral.
type cmdReader struct {
	r          *bufio.Reader
	w          *bufio.Writer // for literal continuation requests
	maxSize    int
	maxLiteral int
}

var errLineTooLong = errors.New("line too long")

// readLine returns one line without its CRLF (a bare LF is accepted too),
// reading at most max bytes. A longer line returns errLineTooLong with the
// bytes read so far.
func readLine(r *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		if len(line)+len(chunk) > max+2 {
			return append(line, chunk[:min(len(chunk), max+2-len(line))]...), errLineTooLong
		}
		line = append(line, chunk...)
		if err == nil {
			break
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// read returns the next command. Errors are either *protoError (answer and
// maybe go on) or I/O errors (the connection is done).
func (cr *cmdReader) read() (*command, error) {
	var toks []token
	total, depth := 0, 0
	tag := "*"
	for {
		line, err := readLine(cr.r, cr.maxSize-total)
		if errors.Is(err, errLineTooLong) {
			if total == 0 {
				if t, _, _ := bytes.Cut(line, []byte(" ")); validTag(string(t)) && len(t) < len(line) {
					tag = string(t)
				}
			}
			return nil, &protoError{tag: tag, reply: replyArgError, fatal: true, why: "command too long"}
		}
		if err != nil {
			return nil, err
		}
		total += len(line) + 2
		n, nonSync, hasLit := literalSuffix(line)
		if hasLit {
			line = line[:bytes.LastIndexByte(line, '{')]
		}
		more, err := tokenize(line, &depth)
		toks = append(toks, more...)
		if len(toks) > 0 && toks[0].kind == tokAtom && validTag(toks[0].val) {
			tag = toks[0].val
		}
		if err != nil {
			// Without a literal pending the stream is still in sync.
			return nil, &protoError{tag: tag, reply: replyArgError, fatal: hasLit && nonSync, why: err.Error()}
		}
		if !hasLit {
			break
		}
		if n > int64(cr.maxLiteral) || n > int64(cr.maxSize-total) {
			// A synchronizing literal was not sent yet: refuse it and go on.
			// A non-synchronizing one is on its way and cannot be skipped
			// cheaply: refuse and close (RFC 7888 section 4).
			return nil, &protoError{tag: tag, reply: replyArgError, fatal: nonSync, why: "literal too large"}
		}
		if !nonSync {
			if _, err := cr.w.WriteString(textLiteralGo + "\r\n"); err != nil {
				return nil, err
			}
			if err := cr.w.Flush(); err != nil {
				return nil, err
			}
		}
		lit := make([]byte, n)
		if _, err := io.ReadFull(cr.r, lit); err != nil {
			return nil, err
		}
		total += int(n)
		toks = append(toks, token{kind: tokLiteral, val: string(lit)})
	}
	if depth != 0 {
		return nil, &protoError{tag: tag, reply: replyArgError, why: errParenthesis.Error()}
	}
	if len(toks) < 2 || toks[0].kind != tokAtom || toks[1].kind != tokAtom || !validTag(toks[0].val) {
		return nil, &protoError{tag: tag, reply: replyArgError, why: "no tag or command"}
	}
	return &command{tag: toks[0].val, name: strings.ToUpper(toks[1].val), args: toks[2:]}, nil
}

// literalSuffix recognizes a line ending in "{n}" or "{n+}".
func literalSuffix(line []byte) (n int64, nonSync, ok bool) {
	if len(line) < 3 || line[len(line)-1] != '}' {
		return 0, false, false
	}
	open := bytes.LastIndexByte(line, '{')
	if open < 0 {
		return 0, false, false
	}
	num := line[open+1 : len(line)-1]
	if len(num) > 0 && num[len(num)-1] == '+' {
		nonSync = true
		num = num[:len(num)-1]
	}
	if len(num) == 0 || len(num) > 10 {
		return 0, false, false
	}
	for _, c := range num {
		if c < '0' || c > '9' {
			return 0, false, false
		}
	}
	n, err := strconv.ParseInt(string(num), 10, 64)
	if err != nil {
		return 0, false, false
	}
	return n, nonSync, true
}

var (
	errBadChar     = errors.New("invalid character")
	errUnterm      = errors.New("unterminated quoted string")
	errParenthesis = errors.New("unbalanced parenthesis")
)

// tokenize splits one line segment (literals already cut off).
func tokenize(s []byte, depth *int) ([]token, error) {
	var toks []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ':
			i++
		case c == '(':
			*depth++
			toks = append(toks, token{kind: tokOpen})
			i++
		case c == ')':
			if *depth--; *depth < 0 {
				return toks, errParenthesis
			}
			toks = append(toks, token{kind: tokClose})
			i++
		case c == '"':
			var b strings.Builder
			i++
			for {
				if i >= len(s) {
					return toks, errUnterm
				}
				c := s[i]
				if c == '"' {
					i++
					break
				}
				if c == '\\' {
					if i+1 >= len(s) || (s[i+1] != '\\' && s[i+1] != '"') {
						return toks, errBadChar
					}
					c = s[i+1]
					i++
				}
				if c == 0 || c == '\r' || c == '\n' {
					return toks, errBadChar
				}
				b.WriteByte(c)
				i++
			}
			toks = append(toks, token{kind: tokQuoted, val: b.String()})
		default:
			start := i
			for i < len(s) && s[i] != ' ' && s[i] != '(' && s[i] != ')' {
				if s[i] < 0x20 || s[i] == 0x7f || s[i] == '"' || s[i] == '{' {
					return toks, errBadChar
				}
				i++
			}
			toks = append(toks, token{kind: tokAtom, val: string(s[start:i])})
		}
	}
	return toks, nil
}

// validTag: 1*<any ASTRING-CHAR except "+"> (RFC 9051 section 9).
func validTag(t string) bool {
	if t == "" {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`(){%*"\+`, c) >= 0 {
			return false
		}
	}
	return true
}
