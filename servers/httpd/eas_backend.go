package httpd

import "context"

// ActiveSyncStore is what Exchange ActiveSync needs from a Backend beyond
// EWS's MailStore: a change feed of the mailbox, so that a Ping long-poll
// wakes when mail arrives. A Backend that is not an ActiveSyncStore
// answers OPTIONS only, and every command with 501 Not Implemented.
type ActiveSyncStore interface {
	Backend
	MailStore
	// WatchMailbox starts watching the mailbox of address; the caller
	// closes the watch.
	WatchMailbox(ctx context.Context, address string) (MailboxWatch, error)
}

// MailboxWatch is a change feed of one mailbox.
type MailboxWatch interface {
	// C is signalled when changes are pending and closed when the
	// watch or the store closes.
	C() <-chan struct{}
	// Changed returns and clears the names of the folders that changed;
	// all is true when the watch lost track (a queue overflow, a folder
	// created, renamed or deleted) and every folder must be re-read.
	Changed() (folders []string, all bool)
	Close()
}
