package imapd

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// FuzzCommandParser feeds arbitrary bytes to the frontend's command reader:
// it must never panic, never return more than its limits allow, and always
// make progress.
func FuzzCommandParser(f *testing.F) {
	for _, seed := range []string{
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
	} {
		f.Add([]byte(seed))
	}
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
	f.Add(plain("alice", "pw"))
	f.Add("=")
	f.Add("YWxpY2UAYWxpY2UAcHc=")
	f.Fuzz(func(t *testing.T, s string) {
		user, _, err := decodePlain(s)
		if err == nil && user == "" {
			t.Fatalf("decodePlain(%q) accepted an empty user", s)
		}
	})
}
