// Pipelined transactions: MAIL, RCPT... and BDAT n LAST in one write
// (PIPELINING, RFC 2920; CHUNKING, RFC 3030), the replies read in order
// afterwards. Exchange's internal connectors advertise both and Exchange
// servers send mail to each other with BDAT; go-smtp's client has neither,
// so these transactions write to the connection go-smtp's client runs on
// between its own commands (EHLO before, RSET and QUIT after). Both read
// complete replies only and the server sends nothing unasked, so neither
// reader holds the other's bytes.

package smtpclient

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// pipeline runs Client.Deliver's transactions on a server that offers
// PIPELINING and CHUNKING.
type pipeline struct {
	c    *smtp.Client
	conn net.Conn
	r    *bufio.Reader
	o    Options
	// What the server offered, for MAIL and RCPT parameters.
	size, eightBit, utf8, dsn bool
}

// newPipeline returns nil unless o.Chunking is set and the server offered
// both extensions: Deliver then uses go-smtp's client and DATA.
func newPipeline(c *smtp.Client, conn net.Conn, o Options) *pipeline {
	if !o.Chunking || conn == nil {
		return nil
	}
	has := func(ext string) bool { ok, _ := c.Extension(ext); return ok }
	if !has("PIPELINING") || !has("CHUNKING") {
		return nil
	}
	if o.Timeout <= 0 {
		o.Timeout = defaultTimeout
	}
	if o.DataTimeout <= 0 {
		o.DataTimeout = 12 * time.Minute // go-smtp's SubmissionTimeout, as on the DATA path
	}
	return &pipeline{c: c, conn: conn, r: bufio.NewReaderSize(conn, 512), o: o,
		size: has("SIZE"), eightBit: has("8BITMIME"), utf8: has("SMTPUTF8"), dsn: has("DSN")}
}

// writeBufs pools the buffers one transaction is written from.
var writeBufs = sync.Pool{New: func() any { b := make([]byte, 0, 8<<10); return &b }}

func (p *pipeline) trace(dir, line string) {
	if p.o.Trace != nil {
		p.o.Trace(dir, line)
	}
}

// deliver is Client.Deliver in one write and one round trip.
func (p *pipeline) deliver(env *Envelope, body [][]byte) (map[string]Reply, error) {
	size := 0
	for _, b := range body {
		size += len(b)
	}
	cmds := make([]string, 0, len(env.To)+2)
	mail, err := p.mailCommand(env, size)
	if err != nil {
		return nil, err
	}
	cmds = append(cmds, mail)
	for _, rc := range env.To {
		line, err := p.rcptCommand(rc)
		if err != nil {
			return nil, err
		}
		cmds = append(cmds, line)
	}
	cmds = append(cmds, "BDAT "+strconv.Itoa(size)+" LAST")
	if err := p.send(cmds, body, p.o.Timeout+p.o.DataTimeout); err != nil {
		return nil, err
	}
	defer p.conn.SetDeadline(time.Time{})

	out := make(map[string]Reply, len(env.To))
	mailR, err := p.read(p.o.Timeout)
	if err != nil {
		return nil, err
	}
	accepted := make([]Rcpt, 0, len(env.To))
	for _, rc := range env.To {
		r, err := p.read(p.o.Timeout)
		if err != nil {
			return nil, err
		}
		switch {
		case !mailR.OK():
			out[rc.Address] = mailR
		case r.Code == 250 || r.Code == 251:
			accepted = append(accepted, rc)
		default:
			out[rc.Address] = r
		}
	}
	bdatR, err := p.read(p.o.DataTimeout)
	if err != nil {
		return nil, err
	}
	if len(accepted) == 0 || !bdatR.OK() {
		// The server refused the chunk (and skipped it): start clean.
		p.c.Reset()
	}
	bdatR = withEnhanced(bdatR)
	for _, rc := range accepted {
		out[rc.Address] = bdatR
	}
	return out, nil
}

// bigWrite is the size above which send writes the body from the
// caller's buffers instead of copying it behind the commands.
const bigWrite = 64 << 10

// send writes cmds (each ended by CRLF) and then body in one write, with a
// deadline d for the whole exchange (the caller clears it). A body over
// bigWrite goes from its own buffers after the commands, uncopied.
func (p *pipeline) send(cmds []string, body [][]byte, d time.Duration) error {
	size := 0
	for _, b := range body {
		size += len(b)
	}
	bp := writeBufs.Get().(*[]byte)
	buf := (*bp)[:0]
	defer func() {
		*bp = buf[:0]
		writeBufs.Put(bp)
	}()
	for _, l := range cmds {
		p.trace(">", l)
		buf = append(append(buf, l...), '\r', '\n')
	}
	big := size > bigWrite
	if !big {
		for _, b := range body {
			buf = append(buf, b...)
		}
	}
	p.conn.SetDeadline(time.Now().Add(d))
	if _, err := p.conn.Write(buf); err != nil || !big {
		return err
	}
	for _, b := range body {
		if _, err := p.conn.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// withEnhanced gives a 250 reply without an enhanced status code the
// generic 2.0.0 (RFC 3463), as callers compare and log replies with one.
func withEnhanced(r Reply) Reply {
	if r.Code == 250 && !strings.HasPrefix(r.Text, "2.") {
		r.Text = strings.TrimSpace("2.0.0 " + r.Text)
	}
	return r
}

// read reads one reply within d. 421 and anything that is not a reply are
// connection failures (see ReplyOf).
func (p *pipeline) read(d time.Duration) (Reply, error) {
	p.conn.SetReadDeadline(time.Now().Add(d))
	lines, code, err := readReply(p.r)
	for _, l := range lines {
		p.trace("<", l)
	}
	if err != nil {
		return Reply{}, err
	}
	text := strings.Join(stripCodes(lines), "\n")
	if code == 421 {
		return Reply{}, &smtp.SMTPError{Code: code, Message: text}
	}
	return Reply{Code: code, Text: text}, nil
}

// mailCommand is MAIL FROM with the parameters go-smtp's client would send.
func (p *pipeline) mailCommand(env *Envelope, size int) (string, error) {
	if err := checkLine(env.From); err != nil {
		return "", err
	}
	var sb strings.Builder
	sb.WriteString("MAIL FROM:<" + env.From + ">")
	if p.eightBit {
		sb.WriteString(" BODY=8BITMIME")
	}
	if p.size && size != 0 {
		sb.WriteString(" SIZE=" + strconv.Itoa(size))
	}
	if env.UTF8 {
		if !p.utf8 {
			return "", errors.New("smtp: server does not support SMTPUTF8")
		}
		sb.WriteString(" SMTPUTF8")
	}
	if p.dsn {
		switch env.Ret {
		case "FULL", "HDRS":
			sb.WriteString(" RET=" + env.Ret)
		}
		if env.EnvID != "" {
			sb.WriteString(" ENVID=" + xtext(env.EnvID))
		}
	}
	return sb.String(), nil
}

// rcptCommand is RCPT TO with the DSN parameters when the server offers DSN.
func (p *pipeline) rcptCommand(rc Rcpt) (string, error) {
	if err := checkLine(rc.Address + rc.ORCPT); err != nil {
		return "", err
	}
	line := "RCPT TO:<" + rc.Address + ">"
	if !p.dsn {
		return line, nil
	}
	if len(rc.Notify) > 0 {
		line += " NOTIFY=" + strings.ToUpper(strings.Join(rc.Notify, ","))
	}
	if t, addr, ok := strings.Cut(rc.ORCPT, ";"); ok {
		t = strings.ToUpper(t)
		if t == "UTF-8" {
			line += " ORCPT=UTF-8;" + unitext(addr)
		} else {
			line += " ORCPT=" + t + ";" + xtext(addr)
		}
	}
	return line, nil
}

func checkLine(s string) error {
	if strings.ContainsAny(s, "\r\n") {
		return errors.New("smtp: a line must not contain CR or LF")
	}
	return nil
}

// xtext encodes s as RFC 3461 section 4 xtext: "+", "=" and bytes outside
// "!".."~" become +XX.
func xtext(s string) string {
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch < '!' || ch > '~' || ch == '+' || ch == '=' {
			fmt.Fprintf(&sb, "+%02X", ch)
			continue
		}
		sb.WriteByte(ch)
	}
	return sb.String()
}

// unitext encodes a UTF-8 ORCPT address (RFC 6533 section 3): "+", "=",
// "\" and controls become \x{XX}.
func unitext(s string) string {
	var sb strings.Builder
	for _, r := range s {
		if r <= ' ' || r == 0x7f || r == '+' || r == '=' || r == '\\' {
			fmt.Fprintf(&sb, `\x{%X}`, r)
			continue
		}
		sb.WriteRune(r)
	}
	return sb.String()
}
