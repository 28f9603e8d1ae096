package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"sync"
	"time"

	"github.com/exsim/exsim/topology"
	"github.com/exsim/exsim/transport/smtpclient"
)

// Reply is an SMTP reply as the next hop gave it (or as exsim words a
// failure that had no reply).
type Reply = smtpclient.Reply

// Sender is the delivery agent: it opens a connection to a next hop.
type Sender interface {
	Open(ctx context.Context, hop NextHop) (Conn, error)
}

// Conn is an open SMTP connection to a next hop.
type Conn interface {
	// Send transmits one message to rcpts. A non-nil error means the
	// connection failed and must be dropped; otherwise every recipient
	// has a final reply (the DATA reply for accepted ones). body is valid
	// until Send returns (its buffer is used for the next message).
	Send(ctx context.Context, m *Message, rcpts []string, body []byte) (map[string]Reply, error)
	// Remote is the endpoint reached: host name and address:port.
	Remote() (host, addr string)
	Close() error
}

// Options configure a Transport.
type Options struct {
	Server  string     // NetBIOS name, e.g. EX01
	FQDN    string     // e.g. ex01.contoso.com
	Address netip.Addr // the server's address (tracking server-ip)
	// DataDir is DATA/<SERVER>; the queue database is DataDir/Queue/mail.que.
	DataDir string
	Router  Router
	Sender  Sender
	Timers  topology.TimerValues
	// Tracking receives the tracking events (shared with the role).
	Tracking *TrackingLog
	// Postmaster is the From of NDRs and DSNs ("" disables them).
	Postmaster string
	// MaxConnectionsPerQueue bounds parallel connections per next hop
	// (Exchange's MaxPerDomainOutboundConnections, 20).
	MaxConnectionsPerQueue int
	// MessagesPerConnection is SmtpMaxMessagesPerConnection (20).
	MessagesPerConnection int
	// Logger should carry the server's name (the "server" key).
	Logger *slog.Logger
	Now    func() time.Time
}

// Transport is one server's Transport service.
type Transport struct {
	o     Options
	spool *Spool
	log   *slog.Logger
	now   func() time.Time

	mu       sync.Mutex
	msgs     map[int64]*Message
	queues   map[string]*Queue // by NextHop.Key()
	order    []*Queue          // creation order, for listings
	nextQNum int

	wake   chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	dels deletes // removals of finished messages, committed together
}

// New opens the queue database and resumes every message it holds.
// Start begins delivery.
func New(o Options) (*Transport, error) {
	if o.Router == nil || o.Sender == nil || o.Tracking == nil {
		return nil, errors.New("transport: Router, Sender and Tracking are required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxConnectionsPerQueue <= 0 {
		o.MaxConnectionsPerQueue = 20
	}
	if o.MessagesPerConnection <= 0 {
		o.MessagesPerConnection = 20
	}
	spool, err := OpenSpool(filepath.Join(o.DataDir, "Queue", "mail.que"))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	t := &Transport{
		o: o, spool: spool, log: o.Logger, now: o.Now,
		msgs: map[int64]*Message{}, queues: map[string]*Queue{},
		wake: make(chan struct{}, 1), ctx: ctx, cancel: cancel,
	}
	msgs, problems := spool.Load()
	for _, p := range problems {
		t.log.Error("queue database", "err", p)
	}
	spool.OnProblem(func(err error) { t.log.Error("queue database", "err", err) })
	t.mu.Lock()
	for _, m := range msgs {
		t.msgs[m.ID] = m
		t.routeLocked(m, "")
	}
	t.mu.Unlock()
	if len(msgs) > 0 {
		t.log.Info("resumed queued messages", "count", len(msgs))
	}
	return t, nil
}

// Start runs the scheduler until Close.
func (t *Transport) Start() {
	t.wg.Add(1)
	go t.scheduler()
}

// Close stops delivery and closes the queue database. Messages in flight
// stay queued and are resumed by the next start.
func (t *Transport) Close() error {
	t.cancel()
	t.wg.Wait()
	t.flushDeletes()
	return t.spool.Close()
}

// Server is the server's NetBIOS name.
func (t *Transport) Server() string { return t.o.Server }

// FQDN is the server's FQDN.
func (t *Transport) FQDN() string { return t.o.FQDN }

// Tracking is the server's tracking log.
func (t *Transport) Tracking() *TrackingLog { return t.o.Tracking }

// Submit queues a message: it returns once the message and body are on
// disk, so the receive connector may answer 250. m.ID is set. A RECEIVE
// event is written for it.
func (t *Transport) Submit(ctx context.Context, m *Message, body []byte) error {
	now := t.now()
	m.Arrived = now
	if m.OriginalArrival.IsZero() {
		m.OriginalArrival = now
	}
	m.Size = int64(len(body))
	for i := range m.Recipients {
		m.Recipients[i].Status = RcptReady
	}
	dup, err := t.spool.Put(m, body)
	if err != nil {
		return err
	}
	if dup > 0 {
		// A sender retried what we accepted before (it crashed after our
		// 250): the copy is dropped, the 250 repeated.
		t.log.Info("duplicate of a message already accepted", "msg_id", m.MessageID, "network_id", m.NetworkID, "recipients", dup)
		if len(m.Recipients) == 0 {
			return nil
		}
	}
	t.trackReceive(m)
	t.mu.Lock()
	t.msgs[m.ID] = m
	t.routeLocked(m, "")
	t.mu.Unlock()
	t.kick()
	return nil
}

func (t *Transport) trackReceive(m *Message) {
	e := &TrackingEvent{
		ClientIP: m.Source.ClientIP, ClientHostname: m.Source.ClientHostname,
		ServerIP: m.Source.ServerIP, ServerHostname: t.o.FQDN,
		ConnectorID: m.Source.Connector, Source: SourceSMTP, EventID: EventReceive,
		InternalMessageID: m.ID, MessageID: m.MessageID, NetworkMessageID: m.NetworkID,
		Recipients: m.RecipientAddresses(), TotalBytes: m.Size, RecipientCount: len(m.Recipients),
		MessageSubject: m.Subject, Sender: m.From, ReturnPath: m.From,
		Directionality: directionality(m), OriginalClientIP: m.Source.OriginalClientIP,
		SourceContext: m.Source.TLS,
	}
	if m.IsDSN {
		e.Source, e.ConnectorID, e.ClientIP, e.ClientHostname = SourceDSN, "", "", ""
		e.EventID = EventDSN
	}
	t.track(LogTransport, e)
}

func directionality(m *Message) string {
	if m.Source.AuthAs == "Anonymous" {
		return "Incoming"
	}
	return "Originating"
}

func (t *Transport) track(kind LogKind, e *TrackingEvent) {
	if e.Timestamp.IsZero() {
		e.Timestamp = t.now()
	}
	if err := t.o.Tracking.Write(kind, e); err != nil {
		t.log.Error("tracking log", "err", err)
	}
}

// routeLocked puts the open recipients of m into their delivery queues:
// all of them (only == ""), or those now in the queue keyed only.
func (t *Transport) routeLocked(m *Message, only string) {
	byQueue := map[*Queue][]int{}
	for i := range m.Recipients {
		r := &m.Recipients[i]
		if r.Status.Terminal() || only != "" && r.Queue != only {
			continue
		}
		hop := t.o.Router.Route(t.ctx, m, r.Address)
		if hop.Fail != "" {
			t.failLocked(m, []int{i}, hop.Fail, "")
			continue
		}
		q := t.queueLocked(hop)
		r.Queue = q.key
		byQueue[q] = append(byQueue[q], i)
	}
	for q, idx := range byQueue {
		q.entries = append(q.entries, &entry{msg: m, rcpts: idx})
	}
	t.finishIfDoneLocked(m)
}

func (t *Transport) queueLocked(hop NextHop) *Queue {
	k := hop.Key()
	if q, ok := t.queues[k]; ok {
		return q
	}
	q := &Queue{key: k, Hop: hop, status: QueueReady, more: make(chan struct{})}
	if hop.Type == DeliveryUnreachable {
		q.Identity = t.o.Server + `\Unreachable`
		q.lastError = hop.Unreachable
	} else {
		t.nextQNum++
		q.Identity = fmt.Sprintf(`%s\%d`, t.o.Server, t.nextQNum)
	}
	t.queues[k] = q
	t.order = append(t.order, q)
	return q
}

// kick wakes the scheduler.
func (t *Transport) kick() {
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// Reroute sends every message of the Unreachable queue through the router
// again: after a configuration change (a new Send connector, EdgeSync
// data), as Exchange resubmits.
func (t *Transport) Reroute() {
	t.mu.Lock()
	var moved []*Message
	q := t.queues["unreachable"]
	if q != nil {
		for _, e := range q.entries {
			moved = append(moved, e.msg)
		}
		q.entries = nil
	}
	for _, m := range moved {
		t.routeLocked(m, "unreachable")
	}
	t.mu.Unlock()
	if len(moved) > 0 {
		t.kick()
	}
}
