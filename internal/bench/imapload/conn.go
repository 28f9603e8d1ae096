package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"
)

// conn is a minimal IMAP4rev1 client: one command at a time, responses read
// line by line with literals counted and skipped, so that the generator
// spends as little of the shared CPU as it can (go-imap's client parses
// every response into values the load does not need).
type conn struct {
	nc  net.Conn
	r   *bufio.Reader
	w   *bufio.Writer
	tag int
}

// response is what one command brought back.
type response struct {
	untagged [][]byte // untagged lines (literals removed), when kept
	literals []int    // the sizes of the literals, in order
	status   string   // the tagged line, without the tag
}

// ok reports whether the tagged response is OK.
func (r *response) ok() bool { return len(r.status) >= 2 && r.status[:2] == "OK" }

// count is the number of untagged responses named word: "* SEARCH ...".
func (r *response) count(word string) int {
	n := 0
	for _, l := range r.untagged {
		if f := bytes.Fields(l); len(f) >= 2 && string(f[1]) == word {
			n++
		}
	}
	return n
}

// fetched is the number of distinct messages a..b that have a FETCH
// response naming item. Other sessions' changes may add unsolicited
// FETCH FLAGS responses anywhere (RFC 9051 section 7.5.2), so they are
// neither counted twice nor missed.
func (r *response) fetched(a, b int, item string) int {
	seen := make(map[int]bool, b-a+1)
	for _, l := range r.untagged {
		f := bytes.Fields(l)
		if len(f) < 3 || string(f[2]) != "FETCH" || !bytes.Contains(l, []byte(item)) {
			continue
		}
		if n, err := strconv.Atoi(string(f[1])); err == nil && n >= a && n <= b {
			seen[n] = true
		}
	}
	return len(seen)
}

const ioTimeout = 60 * time.Second

// dial connects, with TLS when tlsConf is set, and reads the greeting.
func dial(addr string, tlsConf *tls.Config) (*conn, error) {
	nc, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	if tlsConf != nil {
		tc := tls.Client(nc, tlsConf)
		tc.SetDeadline(time.Now().Add(ioTimeout))
		if err := tc.Handshake(); err != nil {
			nc.Close()
			return nil, fmt.Errorf("tls: %w", err)
		}
		nc = tc
	}
	c := &conn{nc: nc, r: bufio.NewReaderSize(nc, 32<<10), w: bufio.NewWriterSize(nc, 32<<10)}
	nc.SetDeadline(time.Now().Add(ioTimeout))
	line, _, err := c.line(nil)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("greeting: %w", err)
	}
	if !bytes.HasPrefix(line, []byte("* OK")) {
		nc.Close()
		return nil, fmt.Errorf("greeting %q", line)
	}
	return c, nil
}

func (c *conn) close() error { return c.nc.Close() }

// line reads one response line, skipping the literals inside it (their
// sizes are appended to lits), and returns it without CRLF and literal data.
func (c *conn) line(lits []int) ([]byte, []int, error) {
	var out []byte
	for {
		l, err := c.r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			out = append(out, l...)
			continue
		}
		if err != nil {
			return nil, lits, err
		}
		out = append(out, l...)
		out = bytes.TrimSuffix(bytes.TrimSuffix(out, []byte("\n")), []byte("\r"))
		n, ok := literal(out)
		if !ok {
			return out, lits, nil
		}
		if _, err := c.r.Discard(n); err != nil {
			return nil, lits, err
		}
		lits = append(lits, n)
	}
}

// literal is n when line ends with a literal announcement {n}.
func literal(line []byte) (int, bool) {
	if len(line) < 3 || line[len(line)-1] != '}' {
		return 0, false
	}
	i := bytes.LastIndexByte(line, '{')
	if i < 0 {
		return 0, false
	}
	n, err := strconv.Atoi(string(line[i+1 : len(line)-1]))
	return n, err == nil && n >= 0
}

// send writes one tagged command line and returns its tag.
func (c *conn) send(cmd string) (string, error) {
	c.tag++
	tag := "a" + strconv.Itoa(c.tag)
	c.nc.SetDeadline(time.Now().Add(ioTimeout))
	c.w.WriteString(tag)
	c.w.WriteByte(' ')
	c.w.WriteString(cmd)
	c.w.WriteString("\r\n")
	return tag, c.w.Flush()
}

// do sends cmd and reads its response; keep keeps the untagged lines.
func (c *conn) do(cmd string, keep bool) (*response, error) {
	tag, err := c.send(cmd)
	if err != nil {
		return nil, err
	}
	return c.until(tag, keep)
}

// until reads responses up to the tagged one of tag.
func (c *conn) until(tag string, keep bool) (*response, error) {
	resp := &response{}
	prefix := []byte(tag + " ")
	var bye []byte // LOGOUT's, or the server's before it hangs up
	for {
		l, lits, err := c.line(resp.literals)
		resp.literals = lits
		if err != nil {
			if bye != nil {
				return nil, fmt.Errorf("server said %q: %w", bye, err)
			}
			return nil, err
		}
		if bytes.HasPrefix(l, prefix) {
			resp.status = string(l[len(prefix):])
			return resp, nil
		}
		if bytes.HasPrefix(l, []byte("* BYE")) {
			bye = l
		}
		if keep {
			resp.untagged = append(resp.untagged, l)
		}
	}
}

// idle runs IDLE (RFC 2177): it waits for the continuation request, ends
// the command with DONE at once and returns the response with the updates
// that arrived meanwhile.
func (c *conn) idle() (*response, error) {
	tag, err := c.send("IDLE")
	if err != nil {
		return nil, err
	}
	for {
		l, _, err := c.line(nil)
		if err != nil {
			return nil, err
		}
		if bytes.HasPrefix(l, []byte("+")) {
			break
		}
		if bytes.HasPrefix(l, []byte(tag+" ")) {
			return &response{status: string(l[len(tag)+1:])}, nil // refused
		}
	}
	if _, err := c.w.WriteString("DONE\r\n"); err != nil {
		return nil, err
	}
	if err := c.w.Flush(); err != nil {
		return nil, err
	}
	return c.until(tag, true)
}

// appendMsg runs APPEND with a synchronizing literal (every server takes
// it; LITERAL+ is not assumed).
func (c *conn) appendMsg(mailbox, flags string, msg []byte) (*response, error) {
	tag, err := c.send(fmt.Sprintf("APPEND %s (%s) {%d}", mailbox, flags, len(msg)))
	if err != nil {
		return nil, err
	}
	l, _, err := c.line(nil)
	if err != nil {
		return nil, err
	}
	if !bytes.HasPrefix(l, []byte("+")) {
		return &response{status: string(bytes.TrimPrefix(l, []byte(tag+" ")))}, nil
	}
	c.w.Write(msg)
	c.w.WriteString("\r\n")
	if err := c.w.Flush(); err != nil {
		return nil, err
	}
	return c.until(tag, false)
}

// quote is s as an IMAP quoted string.
func quote(s string) string {
	var b bytes.Buffer
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}
