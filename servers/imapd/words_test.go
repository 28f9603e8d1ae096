package imapd

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// uidValidity is the one number of a session that changes from run to run.
var uidValidity = regexp.MustCompile(`UIDVALIDITY \d+`)

func goldenSession(t *testing.T, name string, log []string) {
	t.Helper()
	for i, l := range log {
		log[i] = uidValidity.ReplaceAllString(l, "UIDVALIDITY <n>")
	}
	golden(t, name, log)
}

// A whole session after logon, through the Frontend, as a client sees it:
// Exchange's words, not go-imap's.
func TestSessionGolden(t *testing.T) {
	l := newLab(t, labOptions{})
	l.deliver(t, "alice@contoso.com", "first")
	l.deliver(t, "alice@contoso.com", "second")

	c := dialText(t, l.fe993, l.clientTLS)
	c.recv()
	c.cmd("a1 LOGIN alice@contoso.com " + password)
	c.cmd("a2 CAPABILITY")
	c.cmd(`a3 ID ("name" "exsim-test" "version" "1")`)
	c.cmd("a4 NAMESPACE")
	c.cmd(`a5 LIST "" "*"`)
	c.cmd("a6 EXAMINE INBOX")
	c.cmd("a7 SELECT INBOX") // no "* OK [CLOSED]" from Exchange 2016
	c.cmd("a8 FETCH 1:* (UID FLAGS)")
	c.cmd("a9 UID FETCH 2 (RFC822.SIZE ENVELOPE)")
	c.cmd("b1 SEARCH UNSEEN")
	c.cmd("b2 UID SEARCH SUBJECT second")
	c.cmd(`b3 STORE 1 +FLAGS (\Flagged $MDNSent $Junk)`) // $Junk is not kept
	c.cmd("b4 UID STORE 2 +FLAGS.SILENT (\\Seen)")
	c.cmd(`b5 STATUS INBOX (MESSAGES UNSEEN)`)
	if got := c.cmd("b6 IDLE"); got != textIdleGo {
		t.Fatalf("IDLE = %q, want %q", got, textIdleGo)
	}
	l.deliver(t, "alice@contoso.com", "third")
	if got := c.recv(); got != "* 3 EXISTS" {
		t.Errorf("during IDLE = %q, want * 3 EXISTS", got)
	}
	c.reply("b6", "DONE")
	c.cmd("b7 NOOP")
	c.cmd("b8 ID NIL")
	c.cmd("b9 ID ()")
	c.cmd("c1 UNSELECT")
	c.cmd("c2 FROB")
	c.cmd("c3 FETCH 1 FLAGS") // no mailbox selected
	c.cmd("c4 SELECT")
	c.cmd("c5 LOGOUT")
	c.expectEOF()
	goldenSession(t, "session", c.log)
}

// Message data and APPEND literals are never rewritten nor mistaken for
// commands, and ID waits for the commands pipelined before it.
func TestSessionWordsLiterals(t *testing.T) {
	l := newLab(t, labOptions{})
	c := dialText(t, l.fe993, l.clientTLS)
	c.recv()
	c.cmd("a1 LOGIN alice@contoso.com " + password)
	body := "Subject: words\r\n\r\nx1 ID NIL\r\n* BYE Logging out\r\n+ idling\r\nx2 OK FETCH completed\r\n"
	c.send("a2 APPEND INBOX {" + strconv.Itoa(len(body)) + "+}\r\n" + body + "\r\n")
	for l := c.recv(); !strings.HasPrefix(l, "a2 "); l = c.recv() {
		if l == "" {
			t.Fatal("closed before APPEND completed")
		}
	}
	if last := c.log[len(c.log)-1]; !strings.HasPrefix(last, "S: a2 OK [APPENDUID ") || !strings.HasSuffix(last, "] APPEND completed.") {
		t.Errorf("APPEND = %q", last)
	}
	c.cmd("a3 SELECT INBOX")
	// Pipelined: the ID's answer comes after FETCH's.
	c.send("a4 FETCH 1 BODY.PEEK[TEXT]\r\na5 ID NIL\r\n")
	var got []string
	for l := c.recv(); !strings.HasPrefix(l, "a5 "); l = c.recv() {
		if l == "" {
			t.Fatal("closed before ID completed")
		}
		got = append(got, l)
	}
	want := []string{
		"* 1 FETCH (UID 1 BODY[TEXT] {" + strconv.Itoa(len(body)-len("Subject: words\r\n\r\n")) + "}",
		"x1 ID NIL", "* BYE Logging out", "+ idling", "x2 OK FETCH completed",
		")", "a4 OK FETCH completed.", textID,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("FETCH then ID =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if last := c.log[len(c.log)-1]; last != "S: a5 OK ID completed." {
		t.Errorf("ID = %q", last)
	}
}

func TestLiteralSize(t *testing.T) {
	for _, tc := range []struct {
		line string
		want int
	}{
		{"* 1 FETCH (BODY[] {736}\r\n", 736},
		{"a APPEND INBOX {12+}\r\n", 12},
		{"* 1 FETCH (BINARY[] ~{5}\r\n", 5},
		{"a OK done\r\n", 0},
		{"a SEARCH {x}\r\n", 0},
		{"}\r\n", 0},
	} {
		if got := literalSize(tc.line); got != tc.want {
			t.Errorf("literalSize(%q) = %d, want %d", tc.line, got, tc.want)
		}
	}
}

// The Backend on 1993, as the Frontend or a prober sees it, speaks
// Exchange's words too, failed logons included.
func TestBackendDirectGolden(t *testing.T) {
	l := newLab(t, labOptions{})
	c := dialText(t, l.beAddr, l.ca.ClientTLS("ex01.contoso.com", nil))
	c.recv()
	c.cmd("a1 CAPABILITY")
	c.cmd("a2 LOGIN alice@contoso.com wrong")
	c.cmd("a3 AUTHENTICATE PLAIN " + plain("alice@contoso.com", "wrong"))
	c.cmd("a4 SELECT INBOX")
	c.cmd("a5 AUTHENTICATE PLAIN " + plain("alice@contoso.com", password))
	c.cmd("a6 ID NIL")
	c.cmd("a7 CAPABILITY")
	c.cmd("a8 LOGOUT")
	c.expectEOF()
	goldenSession(t, "backend-1993", c.log)
}

// A tagged OK is Exchange's even for a command exchangeConn did not see
// arrive.
func TestTaggedUnseenCommand(t *testing.T) {
	e := newExchangeConn(nil)
	for _, tc := range []struct{ in, want string }{
		{"z OK [READ-WRITE] SELECT completed", "z OK [READ-WRITE] SELECT completed."},
		{"z OK UID FETCH completed", "z OK FETCH completed."},
		{"z OK [CAPABILITY IMAP4rev1] Authenticated", "z OK [CAPABILITY IMAP4rev1] Authenticated"},
		{"z BAD [CLIENTBUG] Syntax error: expected SP", replyArgError.line("z")},
		{"z NO [SERVERBUG] Internal server error", replyUnavailable.line("z")},
		{"z NO [NONEXISTENT] The requested item could not be found.", "z NO [NONEXISTENT] The requested item could not be found."},
	} {
		tag, rest, _ := strings.Cut(tc.in, " ")
		if got := e.tagged(tag, rest); got != tc.want {
			t.Errorf("tagged(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// An ID longer than MaxCommandSize is refused, not kept in memory, and the
// session goes on.
func TestIDTooLong(t *testing.T) {
	l := newLab(t, labOptions{})
	c := dialText(t, l.fe993, l.clientTLS)
	c.recv()
	c.cmd("a1 LOGIN alice@contoso.com " + password)
	long := strings.Repeat("x", 3*defaultMaxCommandSize)
	c.send("a2 ID (\"name\" {" + strconv.Itoa(len(long)) + "+}\r\n" + long + ")\r\n")
	if got := c.recv(); got != replyArgError.line("a2") {
		t.Errorf("long ID = %q, want %q", got, replyArgError.line("a2"))
	}
	if got := c.cmd("a3 NOOP"); got != "a3 OK NOOP completed." {
		t.Errorf("NOOP after long ID = %q", got)
	}
}
