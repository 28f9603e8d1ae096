package imapd

import (
	"bytes"
	"net"
	"strconv"
	"strings"
	"sync"
)

// exchangeConn makes go-imap's imapserver speak Exchange's words. go-imap
// hard-codes its texts ("FETCH completed", "+ idling", "* BYE Logging
// out", "* OK [CLOSED]") and has no ID command; its parser, encoder and
// command handlers are what exsim needs, so instead of a second IMAP server
// this connection sits between go-imap and the client:
//
//   - Read watches the client's commands (tags and names, literals skipped)
//     and answers ID itself; everything else goes to go-imap unchanged.
//   - Write rewrites go-imap's status lines, continuation requests,
//     CAPABILITY and SELECT's untagged OKs into Exchange's texts (texts.go),
//     passing literals (message bodies) through untouched.
//
// Only whole response lines are rewritten, and only the first line of a
// response (never the part after a literal), so message data cannot be
// mistaken for a response.
type exchangeConn struct {
	net.Conn

	mu sync.Mutex // guards everything below: Read and Write run on different goroutines during IDLE

	// Server to client.
	greeted  bool
	loggedOn bool     // a LOGIN or AUTHENTICATE succeeded: CAPABILITY is textCapsSession
	line     []byte   // a response line not yet complete
	lit      int      // bytes of a literal still to pass through
	cont     bool     // the next line continues a response after a literal
	held     []string // SELECT's UNSEEN, UIDVALIDITY, UIDNEXT, sent after PERMANENTFLAGS
	werr     error    // the first write error; later writes fail with it

	// Client to server.
	rtmp    []byte // Read's buffer; go-imap reads from one goroutine at a time
	rbuf    []byte // read from the client, for go-imap
	inLine  []byte
	inLit   int
	inCont  bool
	swallow bool   // the command being read is answered here (ID)
	idArgs  []byte // its arguments
	// idTooLong: the ID command is longer than Exchange's MaxCommandSize
	// and is refused.
	idTooLong bool
	// dropping: the command line being read is over MaxCommandSize; its
	// bytes are dropped up to its end and it is answered BAD here.
	dropping bool
	queue    []queuedCmd // commands in the client's order, until answered
}

// queuedCmd is a command the client sent: go-imap answers it (reply nil) or
// exchangeConn does, once go-imap has answered every earlier command.
type queuedCmd struct {
	tag, name string
	ours      bool     // answered here
	reply     []string // our answer, once the command is read
}

// maxWatchedLine bounds a line that is parsed; longer lines (never a status
// line nor a command Exchange accepts) pass through as they are.
const maxWatchedLine = 64 << 10

func newExchangeConn(c net.Conn) *exchangeConn { return &exchangeConn{Conn: c} }

// Write rewrites go-imap's output. It reports len(p) once p is consumed:
// parts of a line wait for the rest of it.
func (e *exchangeConn) Write(p []byte) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.werr != nil {
		return 0, e.werr
	}
	n := len(p)
	var out []byte
	for len(p) > 0 {
		if e.lit > 0 {
			n := min(e.lit, len(p))
			out = append(out, p[:n]...)
			p, e.lit = p[n:], e.lit-n
			if e.lit == 0 {
				e.cont = true
			}
			continue
		}
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			e.line = append(e.line, p...)
			if len(e.line) > maxWatchedLine {
				out, e.line, e.cont = append(out, e.line...), nil, true
			}
			break
		}
		e.line = append(e.line, p[:i+1]...)
		p = p[i+1:]
		line := string(e.line)
		e.line = e.line[:0]
		e.lit = literalSize(line)
		if e.cont || len(line) > maxWatchedLine {
			out = append(out, line...)
		} else {
			out = e.response(out, strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r"))
		}
		e.cont = e.lit > 0
		if !e.cont {
			out = e.answerQueued(out)
		}
	}
	if len(out) > 0 {
		if _, err := e.Conn.Write(out); err != nil {
			e.werr = err
			return 0, err
		}
	}
	return n, nil
}

// response rewrites the first line of one response and appends the result
// to out.
func (e *exchangeConn) response(out []byte, line string) []byte {
	emit := func(out []byte, lines ...string) []byte {
		for _, l := range lines {
			out = append(append(out, l...), "\r\n"...)
		}
		return out
	}
	if !e.greeted {
		e.greeted = true
		if strings.HasPrefix(line, "* OK") {
			return emit(out, textGreeting)
		}
		return emit(out, line) // PREAUTH or BYE: leave it alone
	}
	// SELECT's untagged OKs come in Exchange's order: FLAGS and
	// PERMANENTFLAGS first.
	if code, ok := selectCode(line); ok {
		e.held = append(e.held, code)
		return out
	}
	if strings.HasPrefix(line, "* FLAGS ") {
		return emit(out, line)
	}
	if rest, ok := strings.CutPrefix(line, "* OK [PERMANENTFLAGS "); ok {
		if i := strings.LastIndex(rest, "] "); i >= 0 {
			line = "* OK [PERMANENTFLAGS " + rest[:i] + "] " + textPermanentFlags
		}
		out = emit(out, line)
		out = emit(out, e.held...)
		e.held = nil
		return out
	}
	out = emit(out, e.held...) // not a SELECT after all
	e.held = nil
	switch {
	case strings.HasPrefix(line, "* OK [CLOSED]"):
		return out // Exchange 2016 has no CONDSTORE/QRESYNC and says nothing here
	case line == "* BYE Logging out":
		return emit(out, textBye)
	case line == "+ idling":
		return emit(out, textIdleGo)
	case line == "+ Ready for literal data":
		return emit(out, textLiteralGo)
	case strings.HasPrefix(line, "* CAPABILITY ") && e.loggedOn:
		return emit(out, textCapsSession)
	case strings.HasPrefix(line, "* CAPABILITY "):
		return emit(out, textCapsTLS) // the Exchange backend is TLS only
	}
	if tag, rest, ok := strings.Cut(line, " "); ok && tag != "*" && tag != "+" {
		return emit(out, e.tagged(tag, rest))
	}
	return emit(out, line)
}

// selectCode turns go-imap's UNSEEN, UIDVALIDITY and UIDNEXT lines into
// Exchange's.
func selectCode(line string) (string, bool) {
	for _, c := range [...]struct{ code, text string }{
		{"UNSEEN", textUnseen},
		{"UIDVALIDITY", textUIDValidity},
		{"UIDNEXT", textUIDNext},
	} {
		if rest, ok := strings.CutPrefix(line, "* OK ["+c.code+" "); ok {
			if n, _, ok := strings.Cut(rest, "]"); ok {
				return "* OK [" + c.code + " " + n + "] " + c.text, true
			}
		}
	}
	return "", false
}

// tagged rewrites a tagged status response: OK gets Exchange's text for the
// command (keeping the response codes Exchange sends), go-imap's BAD
// replies become Exchange's two, an internal error Exchange's.
func (e *exchangeConn) tagged(tag, rest string) string {
	name := e.done(tag)
	typ, text, _ := strings.Cut(rest, " ")
	code := ""
	if strings.HasPrefix(text, "[") {
		if i := strings.Index(text, "] "); i > 0 {
			code, text = text[1:i], text[i+2:]
		}
	}
	switch typ {
	case "OK":
		if name == "" {
			// Not seen on the way in (after a literal the client did not
			// send, say): go-imap's text names the command.
			name, _ = strings.CutSuffix(text, " completed")
		}
		if name == "" || name == text {
			return tag + " " + rest
		}
		if name == "LOGIN" || name == "AUTHENTICATE" {
			e.loggedOn = true
		}
		switch strings.SplitN(code, " ", 2)[0] {
		case "READ-WRITE", "READ-ONLY", "APPENDUID", "COPYUID":
			return tag + " OK [" + code + "] " + completed(name)
		}
		return tag + " OK " + completed(name)
	case "BAD":
		if strings.HasPrefix(text, "This command is only valid in the") {
			return replyInvalidState.line(tag)
		}
		return replyArgError.line(tag)
	case "NO":
		switch {
		case code == "SERVERBUG":
			return replyUnavailable.line(tag)
		case name == "LOGIN":
			return replyLoginFailed.line(tag)
		case name == "AUTHENTICATE":
			return replyAuthFailed.line(tag)
		}
	}
	return tag + " " + rest
}

// done removes the oldest command with this tag from the queue and returns
// its name.
func (e *exchangeConn) done(tag string) string {
	for i, q := range e.queue {
		if q.tag == tag && !q.ours {
			e.queue = append(e.queue[:i], e.queue[i+1:]...)
			return q.name
		}
	}
	return ""
}

// answerQueued sends the answers of commands answered here whose turn has
// come: every command the client sent before them is answered. It is called
// between responses only.
func (e *exchangeConn) answerQueued(out []byte) []byte {
	if len(e.held) > 0 || len(e.line) > 0 || e.cont {
		return out
	}
	for len(e.queue) > 0 && e.queue[0].ours && e.queue[0].reply != nil {
		for _, l := range e.queue[0].reply {
			out = append(append(out, l...), "\r\n"...)
		}
		e.queue = e.queue[1:]
	}
	return out
}

// literalSize is n for a line that ends with a literal announcement {n},
// {n+} or ~{n} (RFC 9051 section 4.3, RFC 7888), else 0.
func literalSize(line string) int {
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if !strings.HasSuffix(line, "}") {
		return 0
	}
	i := strings.LastIndexByte(line, '{')
	if i < 0 {
		return 0
	}
	n, err := strconv.Atoi(strings.TrimSuffix(line[i+1:len(line)-1], "+"))
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// Read hands go-imap the client's bytes minus the commands answered here.
func (e *exchangeConn) Read(p []byte) (int, error) {
	for {
		e.mu.Lock()
		if len(e.rbuf) > 0 {
			n := copy(p, e.rbuf)
			e.rbuf = e.rbuf[n:]
			e.mu.Unlock()
			return n, nil
		}
		e.mu.Unlock()
		if e.rtmp == nil {
			e.rtmp = make([]byte, 4096)
		}
		n, err := e.Conn.Read(e.rtmp)
		if n > 0 {
			if werr := e.watch(e.rtmp[:n]); werr != nil {
				return 0, werr
			}
		}
		if err != nil {
			e.mu.Lock()
			pending := len(e.rbuf) > 0
			e.mu.Unlock()
			if pending {
				continue // hand over what was read first
			}
			return 0, err
		}
	}
}

// watch follows the client's commands through b, keeping what goes to
// go-imap in rbuf.
func (e *exchangeConn) watch(b []byte) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []byte // answers written here
	for len(b) > 0 {
		if e.dropping {
			if b = e.drop(b); e.dropping {
				break
			}
			continue
		}
		if e.inLit > 0 {
			n := min(e.inLit, len(b))
			if e.swallow {
				e.keepID(b[:n])
			} else {
				e.rbuf = append(e.rbuf, b[:n]...)
			}
			b, e.inLit = b[n:], e.inLit-n
			continue
		}
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			e.inLine = append(e.inLine, b...)
			if e.overlong() {
				break
			}
			if len(e.inLine) > maxWatchedLine {
				if e.swallow {
					e.keepID(e.inLine)
				} else {
					e.rbuf = append(e.rbuf, e.inLine...)
				}
				e.inLine, e.inCont = e.inLine[:0], true
			}
			break
		}
		e.inLine = append(e.inLine, b[:i+1]...)
		b = b[i+1:]
		if e.overlong() {
			e.dropping = false // its end is in: nothing more to drop
			continue
		}
		line := string(e.inLine)
		e.inLine = e.inLine[:0]
		if !e.inCont && !e.swallow && tooDeep(line) {
			e.refuse(line)
			continue
		}
		if !e.inCont {
			e.command(line)
		}
		e.inLit = literalSize(line)
		e.inCont = e.inLit > 0
		if e.swallow {
			e.keepID([]byte(line))
			if e.inLit > 0 && !strings.HasSuffix(strings.TrimRight(line, "\r\n"), "+}") {
				out = append(out, textLiteralGo+"\r\n"...)
			}
			if !e.inCont {
				e.swallow = false
				q := &e.queue[len(e.queue)-1]
				if e.idTooLong {
					q.reply = []string{replyArgError.line(q.tag)}
				} else {
					q.reply = idReply(q.tag, e.idArgs)
				}
				e.idArgs, e.idTooLong = nil, false
			}
		} else {
			e.rbuf = append(e.rbuf, line...)
		}
	}
	out = e.answerQueued(out)
	if len(out) == 0 || e.werr != nil {
		return e.werr
	}
	if _, err := e.Conn.Write(out); err != nil {
		e.werr = err
	}
	return e.werr
}

// keepID keeps the bytes of an ID command up to MaxCommandSize.
func (e *exchangeConn) keepID(b []byte) {
	if len(e.idArgs)+len(b) > defaultMaxCommandSize {
		e.idTooLong = true
		return
	}
	e.idArgs = append(e.idArgs, b...)
}

// command notes the first line of a client command. Lines that are not
// commands (DONE, an AUTHENTICATE response) have no second word.
func (e *exchangeConn) command(line string) {
	f := strings.Fields(line)
	if len(f) < 2 {
		return
	}
	tag, name := f[0], strings.ToUpper(f[1])
	if name == "UID" && len(f) > 2 {
		name += " " + strings.ToUpper(f[2])
	}
	if name == "ID" {
		e.swallow = true
		e.queue = append(e.queue, queuedCmd{tag: tag, name: name, ours: true})
		return
	}
	e.queue = append(e.queue, queuedCmd{tag: tag, name: name})
}

// idReply answers ID (RFC 2971): the arguments are NIL or a parenthesized
// list of field-value pairs, which Exchange does not need; "()" is refused
// by Exchange (modern-email/defects issue 13, no reply text public).
func idReply(tag string, cmd []byte) []string {
	_, args, _ := strings.Cut(strings.TrimSpace(string(cmd)), " ")
	_, args, _ = strings.Cut(strings.TrimSpace(args), " ")
	args = strings.TrimSpace(args)
	if !strings.EqualFold(args, "NIL") && (!strings.HasPrefix(args, "(") || strings.ReplaceAll(args, " ", "") == "()") {
		return []string{replyArgError.line(tag)}
	}
	return []string{textID, replyID.line(tag)}
}
