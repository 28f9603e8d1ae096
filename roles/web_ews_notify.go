package roles

import (
	"strconv"
	"strings"
	"sync"

	"github.com/exsim/exsim/servers/httpd"
	"github.com/exsim/exsim/store"
)

// EWS notifications read the store's change feed: a delivery by
// transport, an IMAP STORE or MOVE, an OWA delete and an EWS change all
// raise the same events.
var _ httpd.MailWatcher = webBackend{}

// WatchMail starts a feed of the mailbox's changes.
func (b webBackend) WatchMail(address string) (httpd.MailWatch, error) {
	mb, err := b.mailbox(address)
	if err != nil {
		return nil, err
	}
	return &ewsWatch{mb: mb, w: mb.Watch(), aliases: map[string]string{}, rewritten: map[string]bool{}}, nil
}

// ewsWatch turns store changes into EWS events.
type ewsWatch struct {
	mb *store.Mailbox
	w  *store.Watch

	mu sync.Mutex
	// aliases are the ItemIds EWS kept for messages it rewrote (UpdateItem
	// of Subject or Categories stores a new copy carrying the old id), by
	// folder and UID, learned when the copy was saved.
	aliases map[string]string
	// rewritten are the ItemIds just rewritten: the old copy's removal
	// that follows is part of the update, not a deletion.
	rewritten map[string]bool
}

// maxRemembered bounds aliases and rewritten; beyond it they restart
// empty (a later event may then name a copy's UID instead of its alias).
const maxRemembered = 10000

func (e *ewsWatch) Ready() <-chan struct{} { return e.w.C() }
func (e *ewsWatch) Close()                 { e.w.Close() }

func (e *ewsWatch) Events() []httpd.MailEvent {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []httpd.MailEvent
	for _, c := range e.w.Changes() {
		out = append(out, e.convert(c)...)
	}
	if len(e.aliases) > maxRemembered || len(e.rewritten) > maxRemembered {
		clear(e.aliases)
		clear(e.rewritten)
	}
	return out
}

func ewsKey(folder, id string) string { return folder + "\x00" + id }

// itemID is the id EWS gives the message folder/uid: its alias, if any.
func (e *ewsWatch) itemID(folder string, uid uint32) string {
	id := strconv.FormatUint(uint64(uid), 10)
	if a, ok := e.aliases[ewsKey(folder, id)]; ok {
		return a
	}
	return id
}

// learn reads the listed messages' alias keywords.
func (e *ewsWatch) learn(folder string, uids []uint32) {
	f, err := e.mb.Folder(folder)
	if err != nil {
		return // gone meanwhile: its own change follows
	}
	infos, err := f.Lookup(uids)
	if err != nil {
		return
	}
	for _, mi := range infos {
		for _, fl := range mi.Flags {
			if a, ok := strings.CutPrefix(fl, httpd.ItemAliasKeyword); ok {
				e.aliases[ewsKey(folder, strconv.FormatUint(uint64(mi.UID), 10))] = a
			}
		}
	}
}

func (e *ewsWatch) convert(c store.Change) []httpd.MailEvent {
	var out []httpd.MailEvent
	item := func(kind httpd.MailEventKind, uid uint32) httpd.MailEvent {
		return httpd.MailEvent{Kind: kind, Folder: c.Folder, ID: e.itemID(c.Folder, uid)}
	}
	switch c.Kind {
	case store.MessagesAdded:
		if c.Cause == store.CauseAppended {
			e.learn(c.Folder, c.UIDs)
		}
		for i, uid := range c.UIDs {
			switch c.Cause {
			case store.CauseDelivered:
				out = append(out, item(httpd.EventCreated, uid), item(httpd.EventNewMail, uid))
			case store.CauseCopied, store.CauseMoved:
				kind := httpd.EventCopied
				if c.Cause == store.CauseMoved {
					kind = httpd.EventMoved
				}
				ev := item(kind, uid)
				if i < len(c.SourceUIDs) {
					ev.OldFolder, ev.OldID = c.SourceFolder, e.itemID(c.SourceFolder, c.SourceUIDs[i])
				}
				out = append(out, ev)
			default:
				id := strconv.FormatUint(uint64(uid), 10)
				if a, ok := e.aliases[ewsKey(c.Folder, id)]; ok {
					// EWS rewrote the item in place: it changed.
					e.rewritten[ewsKey(c.Folder, a)] = true
					out = append(out, item(httpd.EventModified, uid))
					continue
				}
				out = append(out, item(httpd.EventCreated, uid))
			}
		}
	case store.MessagesExpunged:
		if c.Cause == store.CauseMoved {
			return nil // the MovedEvent comes with the arrival
		}
		for _, uid := range c.UIDs {
			ev := item(httpd.EventDeleted, uid)
			if k := ewsKey(c.Folder, ev.ID); e.rewritten[k] {
				delete(e.rewritten, k)
				continue
			}
			out = append(out, ev)
		}
	case store.FlagsChanged:
		e.learn(c.Folder, c.UIDs)
		for _, uid := range c.UIDs {
			out = append(out, item(httpd.EventModified, uid))
		}
	case store.FolderCreated:
		out = append(out, httpd.MailEvent{Kind: httpd.EventCreated, Folder: c.Folder, IsFolder: true})
	case store.FolderDeleted:
		out = append(out, httpd.MailEvent{Kind: httpd.EventDeleted, Folder: c.Folder, IsFolder: true})
	case store.FolderRenamed:
		out = append(out, httpd.MailEvent{Kind: httpd.EventModified, Folder: c.Folder, IsFolder: true})
	case store.ChangesLost:
		out = append(out, httpd.MailEvent{Kind: httpd.EventLost})
	}
	return out
}
