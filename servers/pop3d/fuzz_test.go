package pop3d

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/exsim/exsim/internal/fuzzseed"
)

// inputConn is the server's end of a net.Pipe whose reads come from the fuzz
// input and then end (EOF): the session is deterministic and never waits
// for a timer, while replies still flow through the pipe.
type inputConn struct {
	net.Conn
	r io.Reader
}

func (c inputConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// FuzzSession feeds arbitrary bytes to a whole backend session over
// net.Pipe: the server must neither panic nor hang, must end the session,
// close the maildrop, and send only CRLF-terminated lines.
func FuzzSession(f *testing.F) {
	fuzzseed.AddBytes(f,
		"CAPA\r\nUSER alice\r\nPASS P@ssw0rd\r\nSTAT\r\nLIST\r\nUIDL\r\nRETR 1\r\nTOP 2 1\r\nDELE 1\r\nRSET\r\nNOOP\r\nQUIT\r\n",
		"AUTH PLAIN\r\nAGFsaWNlAFBAc3N3MHJk\r\nRETR 2\r\nDELE 3\r\nQUIT\r\n",
		"AUTH PLAIN AGFsaWNlAFBAc3N3MHJk\nLIST 1\nUIDL 9\nTOP 1 x\nQUIT\n",
		"USER alice\r\nPASS x\r\nUSER alice\r\nPASS y\r\nUSER alice\r\nPASS z\r\n",
		"STLS\r\nAPOP a b\r\n\x00\xff\r\n\r\n",
		"AUTH PLAIN\r\n*\r\nAUTH NTLM TlRMTVNTUAABAAAA\r\n",
		"USER "+strings.Repeat("a", 300)+"\r\nQUIT\r\n",
	)
	f.Fuzz(func(t *testing.T, input []byte) {
		store := aliceStore()
		srv := NewServer(Options{
			Backend:           store,
			LoginType:         PlainTextLogin,
			LogonFailureDelay: -1,
		})
		defer srv.Close()
		client, server := net.Pipe()
		ended := make(chan struct{})
		go func() {
			defer close(ended)
			srv.serveConn(inputConn{server, bytes.NewReader(input)}, slog.New(slog.DiscardHandler))
		}()
		out := make(chan []byte, 1)
		go func() {
			b, _ := io.ReadAll(io.LimitReader(client, 64<<20))
			out <- b
		}()
		select {
		case <-ended:
		case <-time.After(10 * time.Second):
			t.Fatalf("session hangs on %q", input)
		}
		client.Close()
		got := <-out
		if !bytes.HasPrefix(got, []byte("+OK The Microsoft Exchange POP3 service is ready.\r\n")) {
			t.Fatalf("output does not start with the greeting: %q", got)
		}
		if i := bytes.IndexByte(bytes.ReplaceAll(got, []byte("\r\n"), nil), '\n'); i >= 0 {
			t.Fatalf("bare LF in output %q", got)
		}
		if !bytes.HasSuffix(got, []byte("\r\n")) {
			t.Fatalf("output ends in a partial line: %q", got)
		}
		store.mu.Lock()
		locked := len(store.locked)
		store.mu.Unlock()
		if locked != 0 {
			t.Fatalf("a maildrop is still open after the session")
		}
	})
}
