package transport

import (
	"path/filepath"
	"testing"
)

// A message that an Exchange server sends again after a crash (same
// Network-Message-Id) is recognised per recipient: only recipients new to
// this server are queued, and a copy with none new stores nothing and
// reports the first copy's InternalId.
func TestSpoolRecognisesResentMessage(t *testing.T) {
	s, err := OpenSpool(filepath.Join(t.TempDir(), "mail.que"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	msg := func(netID string, rcpts ...string) *Message {
		m := &Message{NetworkID: netID, MessageID: "<a@contoso.com>"}
		for _, r := range rcpts {
			m.Recipients = append(m.Recipients, Recipient{Address: r})
		}
		return m
	}
	steps := []struct {
		m        *Message
		wantDup  int
		wantKept int
	}{
		{msg("n1", "alice@contoso.com", "bob@contoso.com"), 0, 2},
		{msg("n1", "Alice@contoso.com", "bob@contoso.com"), 2, 0},             // resent whole
		{msg("n1", "bob@contoso.com", "carol@contoso.com"), 1, 1},             // carol is new
		{msg("n2", "alice@contoso.com"), 0, 1},                                // another message
		{msg("", "alice@contoso.com"), 0, 1},                                  // no id: no check
		{msg("", "alice@contoso.com"), 0, 1},                                  // ...ever
		{msg("n1", "alice@contoso.com", "alice@contoso.com"), 2, 0},           // still known
		{msg("n3", "alice@contoso.com", "dave@contoso.com"), 0, 2},            // new message
		{msg("n3", "dave@contoso.com"), 1, 0},                                 // its retry
		{&Message{NetworkID: "n4", MessageID: "<no-rcpt@contoso.com>"}, 0, 0}, // stored as before
	}
	var first int64
	for i, st := range steps {
		dup, err := s.Put(st.m, []byte("Subject: x\r\n\r\nx\r\n"))
		if err != nil {
			t.Fatalf("step %d: Put = %v", i, err)
		}
		if dup != st.wantDup || len(st.m.Recipients) != st.wantKept {
			t.Errorf("step %d: %d duplicates, %d recipients kept; want %d, %d", i, dup, len(st.m.Recipients), st.wantDup, st.wantKept)
		}
		if i == 0 {
			first = st.m.ID
		}
		if i == 1 && st.m.ID != first {
			t.Errorf("resent copy reports InternalId %d, want the first copy's %d", st.m.ID, first)
		}
	}
	msgs, problems := s.Load()
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	// Stored: steps 0, 2, 3, 4, 5, 7 and 9.
	if len(msgs) != 7 {
		t.Errorf("%d messages in the queue database, want 7", len(msgs))
	}
}
