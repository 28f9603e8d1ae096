package imapd

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/exsim/exsim/internal/fuzzseed"
)

// FuzzCommandParser feeds arbitrary bytes to the frontend's command reader:
// it must never panic, never return more than its limits allow, and always
// make progress.
func FuzzCommandParser(f *testing.F) {
	fuzzseed.AddBytes(f,
		"a1 CAPABILITY\r\n",
		"a2 LOGIN alice P@ssw0rd\r\n",
		"a3 LOGIN \"CONTOSO\\\\alice\" \"p\\\"w\"\r\n",
		"a4 LOGIN {5}\r\nalice {8}\r\nP@ssw0rd\r\n",
		"a5 LOGIN {5+}\r\nalice {8+}\r\nP@ssw0rd\r\n",
		"a6 ID (\"name\" \"x\" \"version\" NIL)\r\n",
		"a7 AUTHENTICATE PLAIN AGFsaWNlAHB3\r\n",
		"a8 LOGIN {99999999999}\r\n",
		"\r\n\r\n)(\"\x00{}{+}\n",
		"a9 ID ({3}\r\nabc)\r\n",
	)
	const maxSize = 256
	f.Fuzz(func(t *testing.T, in []byte) {
		var out bytes.Buffer
		cr := cmdReader{r: bufio.NewReaderSize(bytes.NewReader(in), 64), w: bufio.NewWriter(&out), maxSize: maxSize, maxLiteral: maxSize}
		for range len(in) + 1 {
			cmd, err := cr.read()
			var pe *protoError
			switch {
			case errors.As(err, &pe):
				if pe.tag != "*" && !validTag(pe.tag) {
					t.Fatalf("error reply tag %q is not a tag", pe.tag)
				}
				if pe.fatal {
					return
				}
				continue
			case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
				return
			case err != nil:
				t.Fatalf("read() = %v", err)
			}
			if !validTag(cmd.tag) || cmd.name != strings.ToUpper(cmd.name) || cmd.name == "" {
				t.Fatalf("read() = %+v: bad tag or name", cmd)
			}
			size := len(cmd.tag) + len(cmd.name)
			for _, a := range cmd.args {
				size += len(a.val)
			}
			if size > maxSize {
				t.Fatalf("read() returned %d bytes of command, limit %d", size, maxSize)
			}
		}
		t.Fatalf("read() made no progress on %q", in)
	})
}

// FuzzDecodePlain: SASL PLAIN messages never panic and never yield an empty
// user.
func FuzzDecodePlain(f *testing.F) {
	fuzzseed.Add(f, plain("alice", "pw"))
	fuzzseed.Add(f, "=")
	fuzzseed.Add(f, "YWxpY2UAYWxpY2UAcHc=")
	f.Fuzz(func(t *testing.T, s string) {
		user, _, err := decodePlain(s)
		if err == nil && user == "" {
			t.Fatalf("decodePlain(%q) accepted an empty user", s)
		}
	})
}

// captureConn records what exchangeConn writes.
type captureConn struct {
	net.Conn
	out bytes.Buffer
}

func (c *captureConn) Write(p []byte) (int, error) { return c.out.Write(p) }

// FuzzExchangeWords feeds arbitrary server output to exchangeConn in two
// ways, at once and byte by byte: the result must not depend on how go-imap
// happens to split its writes, and a literal's bytes must come out as they
// went in.
func FuzzExchangeWords(f *testing.F) {
	fuzzseed.AddBytes(f,
		"* OK [CAPABILITY IMAP4rev1] IMAP server ready\r\na1 OK FETCH completed\r\n",
		"* OK hi\r\n* 1 FETCH (BODY[] {20}\r\na1 OK FETCH completed\r\n)\r\na1 OK FETCH completed\r\n",
		"* OK hi\r\n* 2 EXISTS\r\n* OK [UNSEEN 1] x\r\n* OK [UIDNEXT 3] y\r\n* FLAGS (\\Seen)\r\n* OK [PERMANENTFLAGS (\\Seen)] z\r\nt OK [READ-WRITE] SELECT completed\r\n",
		"* OK hi\r\n+ idling\r\n* BYE Logging out\r\n* OK [CLOSED] gone\r\n",
	)
	f.Fuzz(func(t *testing.T, b []byte) {
		whole := &captureConn{}
		e := newExchangeConn(whole)
		if n, err := e.Write(b); n != len(b) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
		split := &captureConn{}
		e = newExchangeConn(split)
		for i := range b {
			e.Write(b[i : i+1])
		}
		if !bytes.Equal(whole.out.Bytes(), split.out.Bytes()) {
			t.Fatalf("at once:\n%q\nbyte by byte:\n%q", whole.out.Bytes(), split.out.Bytes())
		}
		// A literal announced on the second line comes out unchanged.
		lit := []byte("\r\na1 OK FETCH completed\r\n* BYE Logging out\r\n")
		c := &captureConn{}
		e = newExchangeConn(c)
		e.Write([]byte("* OK hi\r\n* 1 FETCH (BODY[] {" + strconv.Itoa(len(lit)) + "}\r\n"))
		e.Write(lit)
		if !bytes.Contains(c.out.Bytes(), lit) {
			t.Fatalf("literal rewritten: %q", c.out.Bytes())
		}
	})
}
