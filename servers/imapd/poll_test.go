package imapd

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/exsim/exsim/store"
)

// untagged sends cmd and returns the untagged responses before its tagged
// one: what the session is told about other sessions' changes.
func (c *conversation) untagged(cmd string) []string {
	c.t.Helper()
	from := len(c.log)
	if last := c.cmd(cmd); !strings.Contains(last, " OK ") {
		c.t.Fatalf("%s = %q", cmd, last)
	}
	var out []string
	for _, l := range c.log[from:] {
		if s, ok := strings.CutPrefix(l, "S: * "); ok {
			out = append(out, s)
		}
	}
	return out
}

func (c *conversation) told(cmd string, want ...string) {
	c.t.Helper()
	if got := c.untagged(cmd); !slices.Equal(got, want) {
		c.t.Errorf("%s: told %q, want %q", cmd, got, want)
	}
}

// selectINBOX logs alice on through the frontend and selects INBOX.
func (l *lab) selectINBOX(t *testing.T) *conversation {
	t.Helper()
	c := dialText(t, l.fe993, l.clientTLS)
	c.recv()
	c.cmd("a1 LOGIN alice@contoso.com " + password)
	c.untagged("a2 SELECT INBOX")
	return c
}

// Another session's flag change, expunge and delivery reach a session that
// is not idling at its next command; the EXPUNGE waits for a command during
// which it is allowed (RFC 9051 section 7.5.1: not FETCH, STORE, SEARCH).
// The session's own changes are not announced back to it.
func TestPollReportsOtherSessions(t *testing.T) {
	l := newLab(t, labOptions{})
	for i := range 3 {
		l.deliver(t, "alice@contoso.com", fmt.Sprint("poll ", i))
	}
	watcher := l.selectINBOX(t)
	other := l.selectINBOX(t)
	other.untagged(`b1 STORE 2 +FLAGS.SILENT (\Flagged)`)
	other.untagged(`b2 STORE 1 +FLAGS.SILENT (\Deleted)`)
	other.told("b3 EXPUNGE", "1 EXPUNGE")
	l.deliver(t, "alice@contoso.com", "poll 3")

	// go-imap polls after the command.
	watcher.told("b1 FETCH 3 (UID)", "3 FETCH (UID 3)", `2 FETCH (UID 2 FLAGS (\Flagged))`, "4 EXISTS")
	watcher.told("b2 NOOP", "1 EXPUNGE")
	watcher.told("b3 NOOP")
	watcher.told(`b4 STORE 1 +FLAGS.SILENT (\Seen)`)
	watcher.told("b5 NOOP")
	watcher.told("b6 SEARCH ALL", "SEARCH 1 2 3")
}

// A session that stays silent while more changes happen than its change
// feed keeps (store.Watch's 1,024) compares its view with the whole folder
// at its next command and still reports every change.
func TestPollAfterLostChanges(t *testing.T) {
	l := newLab(t, labOptions{})
	for i := range 3 {
		l.deliver(t, "alice@contoso.com", fmt.Sprint("lost ", i))
	}
	watcher := l.selectINBOX(t)
	mbox, err := l.st.Mailbox("alice@contoso.com")
	if err != nil {
		t.Fatal(err)
	}
	inbox, err := mbox.Folder(store.Inbox)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// 1,100 flag changes on the third message, 20 at a time (they share
	// fsyncs), then \Answered alone.
	var wg sync.WaitGroup
	for g := range 20 {
		wg.Go(func() {
			for i := range 55 {
				op := store.FlagsAdd
				if (g+i)%2 == 0 {
					op = store.FlagsRemove
				}
				if _, err := inbox.StoreFlags(ctx, []uint32{3}, op, []string{store.FlagFlagged}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if _, err := inbox.StoreFlags(ctx, []uint32{3}, store.FlagsSet, []string{store.FlagAnswered}); err != nil {
		t.Fatal(err)
	}
	// Past the feed's bound: these changes are lost to the watcher.
	if _, err := inbox.Remove(ctx, []uint32{1}); err != nil {
		t.Fatal(err)
	}
	l.deliver(t, "alice@contoso.com", "lost 3")
	// Message 1 is gone but not yet announced: FETCH leaves it out (RFC
	// 2180 section 4.1.2).
	watcher.told("b1 FETCH 1 (UID)", `3 FETCH (UID 3 FLAGS (\Answered))`, "4 EXISTS")
	watcher.told("b2 NOOP", "1 EXPUNGE")
	watcher.told("b3 FETCH 1:* (UID)", "1 FETCH (UID 2)", "2 FETCH (UID 3)", "3 FETCH (UID 4)")
}
