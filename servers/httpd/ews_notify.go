package httpd

import (
	"encoding/base64"
	"encoding/binary"
	"strings"
	"sync"
	"time"
)

// EWS notifications (Subscribe, GetEvents, GetStreamingEvents,
// Unsubscribe) read the mailbox's own change feed, so a delivery by SMTP,
// a flag set over IMAP or a move in OWA raise events as EWS changes do.

// MailWatcher is a MailStore that reports the changes made to a mailbox
// by any protocol. Without it, Subscribe answers ErrorInvalidOperation.
type MailWatcher interface {
	// WatchMail starts a feed of address's changes; its errors follow
	// Backend's rules (ErrNotFound for a mailbox that is not here).
	WatchMail(address string) (MailWatch, error)
}

// MailWatch is one feed of a mailbox's changes.
type MailWatch interface {
	// Ready is signalled when events are pending and closed when the feed
	// ends (the store closed).
	Ready() <-chan struct{}
	// Events returns and clears the pending events, oldest first.
	Events() []MailEvent
	Close()
}

// MailEventKind is an EWS event type (types.xsd NotificationEventTypeType).
type MailEventKind int

const (
	EventNewMail MailEventKind = iota + 1
	EventCreated
	EventModified
	EventMoved
	EventCopied
	EventDeleted
	// EventLost: the feed dropped events (its reader fell behind);
	// subscriptions on it expire, as nothing they return can be trusted.
	EventLost
)

// ewsEventTypes are the EventType names of a subscription request, by
// kind (FreeBusyChangedEvent is accepted and never raised: exsim keeps no
// free/busy changes).
var ewsEventTypes = map[string]MailEventKind{
	"NewMailEvent": EventNewMail, "CreatedEvent": EventCreated, "ModifiedEvent": EventModified,
	"MovedEvent": EventMoved, "CopiedEvent": EventCopied, "DeletedEvent": EventDeleted, "FreeBusyChangedEvent": 0,
}

func (k MailEventKind) elem() string {
	for name, kind := range ewsEventTypes {
		if kind == k && k != 0 {
			return "t:" + name
		}
	}
	return ""
}

// MailEvent is one change of a mailbox.
type MailEvent struct {
	Kind MailEventKind
	// Folder is the item's folder (a backend folder name), or the folder
	// itself for a folder event.
	Folder   string
	IsFolder bool
	// ID is the item's id as its ItemId carries it (MessageInfo.Alias
	// when the message has one, otherwise MessageInfo.ID).
	ID string
	// OldFolder and OldID are where a moved or copied item (or folder,
	// with OldID "") was.
	OldFolder, OldID string
}

// Bounds of the notification machinery. Exchange's default throttling
// policy allows 20 subscriptions per account (EwsMaxSubscriptions).
// How many events one GetEvents returns and how many a mailbox keeps
// are not documented: 50 and 10,000 here.
const (
	maxSubscriptionsPerUser = 20
	maxEventsPerResponse    = 50
	maxFeedEvents           = 10000
	maxExpiredRemembered    = 1000
	// A streaming subscription with no GetStreamingEvents connection
	// lives this long after the last one ended (not documented; Exchange
	// keeps them about as long as the longest connection, 30 minutes).
	streamingIdleLife = 30 * time.Minute
)

// notifier holds a server's subscriptions and the mailbox feeds they read.
type notifier struct {
	cfg *config

	mu      sync.Mutex
	feeds   map[string]*mailFeed // by lower-cased address
	subs    map[string]*subscription
	expired map[string]bool // ids of subscriptions that timed out
	seq     uint64          // subscriptions and feeds made, for ids
	done    chan struct{}   // closed by close: open streams end
	closed  bool
	// minute is the unit of Timeout and ConnectionTimeout; keepAlive the
	// quiet interval after which a stream says ConnectionStatus OK
	// (Microsoft documents that Exchange sends these, not how often: 30
	// seconds here, well inside common proxies' idle timeouts). Tests
	// shorten both.
	minute, keepAlive time.Duration
}

func newNotifier(cfg *config) *notifier {
	return &notifier{cfg: cfg, feeds: map[string]*mailFeed{}, subs: map[string]*subscription{}, expired: map[string]bool{},
		done: make(chan struct{}), minute: time.Minute, keepAlive: 30 * time.Second}
}

// close ends every stream and feed (the server is shutting down).
func (n *notifier) close() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return
	}
	n.closed = true
	close(n.done)
	for _, f := range n.feeds {
		f.watch.Close()
	}
	clear(n.feeds)
	clear(n.subs)
}

// subscription is one Subscribe's state.
type subscription struct {
	id        string
	owner     string // the account that subscribed (lower-cased)
	feed      *mailFeed
	all       bool            // SubscribeToAllFolders
	folders   map[string]bool // lower-cased folder keys
	types     map[MailEventKind]bool
	streaming bool
	timeout   time.Duration // a pull subscription's life without GetEvents
	lastUsed  time.Time
	streams   int    // open GetStreamingEvents connections
	pos       uint64 // a streaming subscription's last event sent
}

// wants reports whether e is for s: its type and a folder it watches.
func (s *subscription) wants(e MailEvent) bool {
	if !s.types[e.Kind] {
		return false
	}
	if s.all {
		return true
	}
	parent := e.Folder
	if e.IsFolder {
		parent = parentFolderKey(e.Folder)
	}
	old := e.OldFolder
	if e.IsFolder && old != "" {
		old = parentFolderKey(old)
	}
	return s.folders[strings.ToLower(parent)] || (old != "" && s.folders[strings.ToLower(old)])
}

// parentFolderKey is the folder key of a backend folder's parent.
func parentFolderKey(name string) string {
	if i := strings.LastIndex(name, "/"); i >= 0 {
		return name[:i]
	}
	return virtualKey + "msgfolderroot"
}

// mailFeed is the event log of one mailbox, shared by its subscriptions:
// events get sequence numbers, and a watermark is a position in the log.
type mailFeed struct {
	n     *notifier
	addr  string
	epoch uint64 // tells this feed's watermarks from an earlier feed's
	watch MailWatch
	refs  int // subscriptions reading it (guarded by n.mu)

	mu      sync.Mutex
	log     []loggedEvent
	next    uint64 // sequence number of the next event (the first is 1)
	lost    bool
	changed chan struct{} // closed and replaced when events arrive
}

type loggedEvent struct {
	seq uint64
	at  time.Time
	ev  MailEvent
}

// feedFor returns address's feed, starting it if needed. n.mu is held.
func (n *notifier) feedFor(mw MailWatcher, address string) (*mailFeed, error) {
	key := strings.ToLower(address)
	if f := n.feeds[key]; f != nil {
		return f, nil
	}
	w, err := mw.WatchMail(address)
	if err != nil {
		return nil, err
	}
	n.seq++
	f := &mailFeed{n: n, addr: key, epoch: n.seq, watch: w, next: 1, changed: make(chan struct{})}
	n.feeds[key] = f
	go f.run()
	return f, nil
}

// run moves the watch's events into the log until the watch ends.
func (f *mailFeed) run() {
	for range f.watch.Ready() {
		f.pull()
	}
	f.mu.Lock()
	f.lost = true // the store closed: nothing more will arrive
	f.mu.Unlock()
}

// pull takes the watch's pending events into the log; requests call it
// too, so a change made just before a GetEvents is in its answer.
func (f *mailFeed) pull() {
	f.mu.Lock()
	defer f.mu.Unlock()
	evs := f.watch.Events() // under f.mu: two pulls must log in order
	if len(evs) == 0 {
		return
	}
	now := f.n.cfg.Now()
	for _, e := range evs {
		if e.Kind == EventLost {
			f.lost = true
			continue
		}
		f.log = append(f.log, loggedEvent{seq: f.next, at: now, ev: e})
		f.next++
	}
	if len(f.log) > maxFeedEvents {
		f.log = append([]loggedEvent(nil), f.log[len(f.log)-maxFeedEvents:]...)
	}
	close(f.changed)
	f.changed = make(chan struct{})
}

// first is the sequence number of the oldest event kept. f.mu is held.
func (f *mailFeed) first() uint64 {
	if len(f.log) == 0 {
		return f.next
	}
	return f.log[0].seq
}

// after returns the events after seq that s wants (at most max), the
// watermark to continue from and whether more remain. f.mu is held.
func (f *mailFeed) after(s *subscription, seq uint64, max int) (out []loggedEvent, last uint64, more bool) {
	last = seq
	i := 0
	if len(f.log) > 0 && seq >= f.log[0].seq {
		i = int(seq - f.log[0].seq + 1)
	}
	for ; i < len(f.log); i++ {
		e := f.log[i]
		if !s.wants(e.ev) {
			last = e.seq
			continue
		}
		if len(out) == max {
			return out, last, true
		}
		out = append(out, e)
		last = e.seq
	}
	return out, f.next - 1, false
}

// A watermark is a feed's epoch and a sequence number in its log.
func watermark(epoch, seq uint64) string {
	b := make([]byte, 17)
	b[0] = 1
	binary.BigEndian.PutUint64(b[1:], epoch)
	binary.BigEndian.PutUint64(b[9:], seq)
	return base64.StdEncoding.EncodeToString(b)
}

func parseWatermark(s string) (epoch, seq uint64, ok bool) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != 17 || b[0] != 1 {
		return 0, 0, false
	}
	return binary.BigEndian.Uint64(b[1:]), binary.BigEndian.Uint64(b[9:]), true
}

// valid reports whether a watermark points into f's log: events after it
// are all still kept. f.mu is held.
func (f *mailFeed) valid(epoch, seq uint64) bool {
	return epoch == f.epoch && seq < f.next && seq+1 >= f.first()
}

// sweep forgets subscriptions that timed out and feeds nobody reads.
// n.mu is held.
func (n *notifier) sweep() {
	now := n.cfg.Now()
	for id, s := range n.subs {
		life := s.timeout
		if s.streaming {
			life = streamingIdleLife
		}
		s.feed.mu.Lock()
		lost := s.feed.lost
		s.feed.mu.Unlock()
		if lost || (s.streams == 0 && now.Sub(s.lastUsed) > life) {
			n.drop(id, true)
		}
	}
}

// drop removes a subscription; expired ones are remembered for
// ErrorExpiredSubscription. n.mu is held.
func (n *notifier) drop(id string, expired bool) {
	s := n.subs[id]
	if s == nil {
		return
	}
	delete(n.subs, id)
	if expired {
		if len(n.expired) >= maxExpiredRemembered {
			clear(n.expired)
		}
		n.expired[id] = true
	}
	s.feed.refs--
	if s.feed.refs == 0 {
		s.feed.watch.Close()
		delete(n.feeds, s.feed.addr)
	}
}

// lookup finds a subscription for account, or the response code that
// says why not. n.mu is held.
func (n *notifier) lookup(id, account string) (*subscription, *responseMessage) {
	n.sweep()
	s := n.subs[id]
	switch {
	case s == nil && n.expired[id]:
		return nil, &ewsExpiredSubscription
	case s == nil:
		return nil, &ewsSubscriptionNotFound
	case s.owner != strings.ToLower(account):
		return nil, &ewsSubscriptionAccessDenied
	}
	return s, nil
}

// EWS response codes of notifications (messages.xsd ResponseCodeType).
// Microsoft documents the codes, not their MessageText: these texts have
// no public source.

// Why a subscription id names nothing the caller may use.
var (
	ewsSubscriptionNotFound     = errMessage("ErrorSubscriptionNotFound", "The specified subscription was not found.")
	ewsExpiredSubscription      = errMessage("ErrorExpiredSubscription", "The subscription has expired.")
	ewsSubscriptionAccessDenied = errMessage("ErrorSubscriptionAccessDenied", "The subscription can only be accessed by the account that created it.")
)

// Requests that do not fit the subscription or the limits.
var (
	ewsInvalidWatermark        = errMessage("ErrorInvalidWatermark", "The watermark used for resubscribing or getting events is invalid.")
	ewsInvalidPullSubscription = errMessage("ErrorInvalidPullSubscriptionId", "The pull subscription ID isn't valid.")
	ewsExceededSubscriptions   = errMessage("ErrorExceededSubscriptionCount", "You have exceeded the maximum number of subscriptions.")
	ewsInvalidSubscription     = errMessage("ErrorInvalidSubscription", "The subscription is not a streaming subscription.")
)
