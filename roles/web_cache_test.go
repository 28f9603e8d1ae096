package roles

import (
	"context"
	"testing"
	"time"

	"github.com/exsim/exsim/servers/httpd"
	"github.com/exsim/exsim/store"
)

// TestListCacheFollowsModSeq: a cached listing is served only while the
// folder is unchanged; a flag change, an append and an expunge each make
// it stale.
func TestListCacheFollowsModSeq(t *testing.T) {
	ctx := context.Background()
	s, err := store.Open(t.TempDir()+"/mail.db", store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mb, err := s.CreateMailbox(ctx, "alice@contoso.com")
	if err != nil {
		t.Fatal(err)
	}
	inbox, err := mb.Folder("INBOX")
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("From: bob@contoso.com\r\nSubject: one\r\n\r\nbody\r\n")
	a, err := inbox.Append(ctx, msg, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	c := newListCache()
	st, _ := inbox.Status()
	c.put("Alice@contoso.com", st, []httpd.MessageInfo{{ID: "1", Subject: "one"}})
	if got, ok := c.get("alice@contoso.com", st); !ok || len(got) != 1 {
		t.Fatalf("get after put = %v, %v", got, ok)
	}
	for _, change := range []struct {
		name string
		do   func() error
	}{
		{"flag", func() error {
			_, err := inbox.StoreFlags(ctx, []uint32{a.UID}, store.FlagsAdd, []string{store.FlagSeen})
			return err
		}},
		{"append", func() error { _, err := inbox.Append(ctx, msg, nil, time.Now()); return err }},
		{"remove", func() error { _, err := inbox.Remove(ctx, []uint32{a.UID}); return err }},
	} {
		if err := change.do(); err != nil {
			t.Fatal(err)
		}
		now, _ := inbox.Status()
		if _, ok := c.get("alice@contoso.com", now); ok {
			t.Errorf("after %s the cached listing is still served", change.name)
		}
		c.put("alice@contoso.com", now, nil)
	}
	var nilCache *listCache
	if _, ok := nilCache.get("alice@contoso.com", st); ok {
		t.Error("a nil cache served a listing")
	}
}
