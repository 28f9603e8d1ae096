package store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/exsim/exsim/store"
)

// The consumers' view: transport delivers, POP3/OWA list and read, IMAP-like
// clients file messages.
func Example() {
	dir, _ := os.MkdirTemp("", "exsim-store")
	defer os.RemoveAll(dir)
	st, err := store.Open(filepath.Join(dir, "EX01", "mailboxes.db"), store.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer st.Close()
	ctx := context.Background()
	mbox, _ := st.CreateMailbox(ctx, "alice@contoso.com")

	// Mailbox Transport Delivery: durable when Deliver returns.
	msg := []byte("From: carol@fabrikam.com\r\nSubject: Hello\r\n\r\nHi Alice\r\n")
	ds, _ := st.Deliver(ctx, msg, "alice@contoso.com", "nobody@contoso.com")
	fmt.Println(ds[0].UID, ds[1].Err)

	// OWA: the inbox newest first, read one, mark it read, save a reply.
	inbox, _ := mbox.Folder(store.Inbox)
	list, _ := inbox.Messages()
	slices.Reverse(list)
	body, _ := inbox.Body(list[0].UID)
	inbox.StoreFlags(ctx, []uint32{list[0].UID}, store.FlagsAdd, []string{store.FlagSeen})
	sent, _ := mbox.SpecialFolder(store.SpecialSent)
	a, _ := sent.Append(ctx, []byte("Subject: Re: Hello\r\n\r\nHi\r\n"), []string{store.FlagSeen}, time.Time{})
	fmt.Println(list[0].Subject, list[0].From, len(body), a.UID)

	// POP3: snapshot, then delete what was retrieved.
	removed, _ := inbox.Remove(ctx, []uint32{list[0].UID})
	fmt.Println(removed)
	// Output:
	// 1 store: no such mailbox: nobody@contoso.com
	// Hello carol@fabrikam.com 54 1
	// [1]
}
