package main

import (
	"bufio"
	"bytes"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The mailbox is the same on every server: message(i) does not change, and
// each is a parsable message of the announced size range.
func TestMessageDeterministic(t *testing.T) {
	for _, i := range []int{1, 2, 10, 9999} {
		a, b := message(i), message(i)
		if !bytes.Equal(a, b) {
			t.Fatalf("message(%d) differs between calls", i)
		}
		if len(a) < 1024 || len(a) > 40<<10 {
			t.Errorf("message(%d) has %d bytes", i, len(a))
		}
		m, err := mail.ReadMessage(bytes.NewReader(a))
		if err != nil {
			t.Fatalf("message(%d): %v", i, err)
		}
		if !strings.HasSuffix(m.Header.Get("Subject"), " "+strconv.Itoa(i)) {
			t.Errorf("message(%d) Subject = %q", i, m.Header.Get("Subject"))
		}
		if multipart := strings.Contains(m.Header.Get("Content-Type"), "multipart"); multipart != (i%10 == 0) {
			t.Errorf("message(%d) multipart = %v", i, multipart)
		}
	}
	if bytes.Equal(message(1), message(2)) {
		t.Error("message(1) = message(2)")
	}
}

// A Maildir holds the same messages, with seedFlags as Maildir letters.
func TestWriteMaildir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "Maildir")
	if err := writeMaildir(dir, 20); err != nil {
		t.Fatal(err)
	}
	files, err := os.ReadDir(filepath.Join(dir, "cur"))
	if err != nil || len(files) != 20 {
		t.Fatalf("cur/ holds %d files, %v; want 20", len(files), err)
	}
	seen, flagged := 0, 0
	for _, f := range files {
		_, info, _ := strings.Cut(f.Name(), ":2,")
		if strings.Contains(info, "S") {
			seen++
		}
		if strings.Contains(info, "F") {
			flagged++
		}
	}
	if seen != 14 || flagged != 2 {
		t.Errorf("%d seen and %d flagged of 20, want 14 and 2 (as seedFlags)", seen, flagged)
	}
}

// The client skips literals, counts them, and finds each requested message
// among unsolicited FETCH responses.
func TestConnResponses(t *testing.T) {
	server, client := net.Pipe()
	defer server.Close()
	go func() {
		r := bufio.NewReader(server)
		server.Write([]byte("* OK ready\r\n"))
		r.ReadString('\n')
		server.Write([]byte("* 2 FETCH (UID 2 RFC822.SIZE 5 BODY[] {5}\r\nab)\r\n)\r\n" +
			"* 3 FETCH (FLAGS (\\Seen))\r\n" +
			"* 2 FETCH (FLAGS (\\Flagged))\r\n" +
			"a1 OK FETCH completed.\r\n"))
	}()
	c := &conn{nc: client, r: bufio.NewReader(client), w: bufio.NewWriter(client)}
	if l, _, err := c.line(nil); err != nil || string(l) != "* OK ready" {
		t.Fatalf("greeting = %q, %v", l, err)
	}
	resp, err := c.do("FETCH 2 (UID RFC822.SIZE BODY.PEEK[])", true)
	if err != nil || !resp.ok() {
		t.Fatalf("FETCH = %+v, %v", resp, err)
	}
	if len(resp.literals) != 1 || resp.literals[0] != 5 {
		t.Errorf("literals = %v, want [5]", resp.literals)
	}
	if got := rfc822Size(resp.untagged[0]); got != 5 {
		t.Errorf("RFC822.SIZE = %d in %q", got, resp.untagged[0])
	}
	if got := resp.fetched(2, 2, "BODY[]"); got != 1 {
		t.Errorf("fetched(2, 2, BODY[]) = %d, want 1", got)
	}
	if got := resp.fetched(2, 3, "FLAGS"); got != 2 {
		t.Errorf("fetched(2, 3, FLAGS) = %d, want 2 (each message once)", got)
	}
}

func TestParseMix(t *testing.T) {
	m, err := parseMix(defaultMix)
	if err != nil || m.total != 100 || len(m.kinds) != 6 {
		t.Fatalf("parseMix(default) = %d kinds, total %d, %v", len(m.kinds), m.total, err)
	}
	for _, bad := range []string{"fetch-flags", "frob=1", "store=-1", "store=0"} {
		if _, err := parseMix(bad); err == nil {
			t.Errorf("parseMix(%q) = nil error", bad)
		}
	}
}
