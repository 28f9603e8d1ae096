package imapd

import (
	"strings"
	"testing"
)

// TestDeepNestingIsBAD: a command nested 100,000 parentheses deep after
// logon is a syntax error the client caused: BAD, never NO [SERVERBUG],
// and the session goes on.
func TestDeepNestingIsBAD(t *testing.T) {
	l := newLab(t, labOptions{})
	c := dialText(t, l.fe143, nil)
	c.recv()
	c.cmd("a1 STARTTLS")
	c.startTLS(l.clientTLS)
	if r := c.cmd("a2 LOGIN alice@contoso.com " + password); !strings.HasPrefix(r, "a2 OK") {
		t.Fatalf("LOGIN = %q", r)
	}
	c.cmd("a3 SELECT INBOX")
	const depth = 100000
	for _, cmd := range []string{
		"a4 SEARCH " + strings.Repeat("(", depth) + "ALL" + strings.Repeat(")", depth),
		"a5 FETCH 1 " + strings.Repeat("(", depth) + "FLAGS" + strings.Repeat(")", depth),
		"a6 STORE 1 +FLAGS " + strings.Repeat("(", depth) + "\\Seen" + strings.Repeat(")", depth),
	} {
		tag, _, _ := strings.Cut(cmd, " ")
		if r := c.cmd(cmd); !strings.HasPrefix(r, tag+" BAD") {
			t.Errorf("%s nested %d deep = %q, want BAD", tag, depth, r)
		}
	}
	// Short enough for MaxCommandSize, still deeper than maxNesting.
	deep := "a7 SEARCH " + strings.Repeat("(", maxNesting+1) + "ALL" + strings.Repeat(")", maxNesting+1)
	if r := c.cmd(deep); r != "a7 BAD Command Argument Error. 11" {
		t.Errorf("SEARCH nested %d deep = %q, want BAD Command Argument Error. 11", maxNesting+1, r)
	}
	if r := c.cmd(`a8 SEARCH (((SUBJECT "((((" ALL)))`); !strings.HasPrefix(r, "a8 OK") {
		t.Errorf("SEARCH nested 3 deep = %q, want OK", r)
	}
	if r := c.cmd("a9 NOOP"); !strings.HasPrefix(r, "a9 OK") {
		t.Errorf("NOOP after the deep commands = %q", r)
	}
}
