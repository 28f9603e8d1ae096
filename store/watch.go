package store

import "sync"

// ChangeKind says what happened in a mailbox.
type ChangeKind int

const (
	// MessagesAdded: new messages (delivery, APPEND, COPY, MOVE) with their UIDs.
	MessagesAdded ChangeKind = iota + 1
	// FlagsChanged: the flags of the listed UIDs changed.
	FlagsChanged
	// MessagesExpunged: the listed UIDs were removed.
	MessagesExpunged
	// FolderCreated, FolderDeleted, FolderRenamed: the folder list changed;
	// Folder is the (new) name.
	FolderCreated
	FolderDeleted
	FolderRenamed
	// ChangesLost: the watcher was too slow and its queue overflowed; it must
	// re-read whatever it caches.
	ChangesLost
)

func (k ChangeKind) String() string {
	switch k {
	case MessagesAdded:
		return "added"
	case FlagsChanged:
		return "flags"
	case MessagesExpunged:
		return "expunged"
	case FolderCreated:
		return "folder-created"
	case FolderDeleted:
		return "folder-deleted"
	case FolderRenamed:
		return "folder-renamed"
	case ChangesLost:
		return "lost"
	}
	return "unknown"
}

// ChangeCause says what added or removed messages, for watchers that tell
// a delivery from a save or a move from a delete (EWS notifications).
type ChangeCause int

const (
	// CauseNone: a change that is not about messages arriving or leaving.
	CauseNone ChangeCause = iota
	// CauseDelivered: Deliver put the message in the INBOX (new mail).
	CauseDelivered
	// CauseAppended: Append saved it (IMAP APPEND, a draft, a sent copy).
	CauseAppended
	// CauseCopied: Copy added it; Source names the originals.
	CauseCopied
	// CauseMoved: Move added it to its new folder (MessagesAdded, with
	// Source) or took it from its old one (MessagesExpunged).
	CauseMoved
	// CauseRemoved: Expunge or Remove deleted it for good.
	CauseRemoved
)

// Change is one committed change to a mailbox. UIDs and SourceUIDs are
// shared between watchers and must not be modified.
type Change struct {
	Kind     ChangeKind
	Mailbox  string // lower-cased address
	FolderID uint64
	Folder   string
	UIDs     []uint32
	Cause    ChangeCause // for MessagesAdded and MessagesExpunged
	// SourceFolder and SourceUIDs are, for MessagesAdded by a copy or a
	// move, the folder and UIDs the messages came from, in UIDs' order.
	SourceFolder string
	SourceUIDs   []uint32
}

// maxWatchQueue bounds the changes one watcher holds; beyond it the watcher
// gets a single ChangesLost instead of blocking or growing.
const maxWatchQueue = 1024

// Watch receives the changes of one mailbox, published after they are durable.
// A slow or absent reader never delays a writer: changes queue up to a bound
// and are then replaced by ChangesLost.
type Watch struct {
	h    *hub
	addr string
	c    chan struct{}
	once sync.Once

	mu    sync.Mutex
	queue []Change
	lost  bool
}

// C is signalled (coalesced, capacity one) when changes are pending, and
// closed when the Watch or the Store is closed.
func (w *Watch) C() <-chan struct{} { return w.c }

// Changes returns and clears the pending changes, oldest first.
func (w *Watch) Changes() []Change {
	w.mu.Lock()
	defer w.mu.Unlock()
	q := w.queue
	w.queue = nil
	if w.lost {
		w.lost = false
		q = append(q, Change{Kind: ChangesLost, Mailbox: w.addr})
	}
	return q
}

// Close stops the Watch and closes C. It is safe to call more than once.
func (w *Watch) Close() {
	w.h.remove(w)
	w.shut()
}

func (w *Watch) shut() { w.once.Do(func() { close(w.c) }) }

func (w *Watch) push(c Change) {
	w.mu.Lock()
	if len(w.queue) < maxWatchQueue {
		w.queue = append(w.queue, c)
	} else {
		w.lost = true
	}
	w.mu.Unlock()
	select {
	case w.c <- struct{}{}:
	default:
	}
}

type hub struct {
	mu      sync.Mutex
	closed  bool
	watches map[string]map[*Watch]struct{}
}

func (h *hub) init() { h.watches = make(map[string]map[*Watch]struct{}) }

func (h *hub) add(addr string) *Watch {
	w := &Watch{h: h, addr: addr, c: make(chan struct{}, 1)}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		w.shut()
		return w
	}
	set := h.watches[addr]
	if set == nil {
		set = make(map[*Watch]struct{})
		h.watches[addr] = set
	}
	set[w] = struct{}{}
	return w
}

func (h *hub) remove(w *Watch) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if set := h.watches[w.addr]; set != nil {
		delete(set, w)
		if len(set) == 0 {
			delete(h.watches, w.addr)
		}
	}
}

func (h *hub) publish(changes []Change) {
	if len(changes) == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range changes {
		for w := range h.watches[c.Mailbox] {
			w.push(c)
		}
	}
}

func (h *hub) closeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for _, set := range h.watches {
		for w := range set {
			w.shut()
		}
	}
	clear(h.watches)
}
