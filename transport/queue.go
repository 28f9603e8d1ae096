package transport

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"
)

// QueueStatus is Get-Queue's Status.
type QueueStatus string

const (
	QueueActive     QueueStatus = "Active"
	QueueConnecting QueueStatus = "Connecting"
	QueueReady      QueueStatus = "Ready"
	QueueRetry      QueueStatus = "Retry"
	QueueSuspended  QueueStatus = "Suspended"
)

// Queue is one delivery queue: every recipient bound for one next hop.
type Queue struct {
	key      string
	Identity string // EX01\3, EX01\Unreachable
	Hop      NextHop

	status    QueueStatus
	suspended bool
	entries   []*entry
	// idle counts connections waiting in takeOrWait.
	idle int
	// more is closed (and replaced) when entries arrive, waking idle
	// connections of the queue.
	more       chan struct{}
	conns      int
	lastError  string
	lastRetry  time.Time
	nextRetry  time.Time
	retryCount int
}

// entry is one message's recipients in one queue.
type entry struct {
	msg       *Message
	rcpts     []int // indexes into msg.Recipients
	inFlight  bool
	notBefore time.Time
}

func (e *entry) ready(now time.Time) bool {
	return !e.inFlight && !e.msg.Suspended && !now.Before(e.notBefore)
}

// scheduler starts deliveries, expires messages and sends delay DSNs.
func (t *Transport) scheduler() {
	defer t.wg.Done()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-t.ctx.Done():
			return
		case <-t.wake:
		case <-tick.C:
			t.housekeeping()
		}
		t.dispatch()
	}
}

// dispatch starts connections for queues with ready messages.
func (t *Transport) dispatch() {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, q := range t.order {
		if q.Hop.Type == DeliveryUnreachable || q.suspended || now.Before(q.nextRetry) {
			continue
		}
		ready := 0
		for _, e := range q.entries {
			if e.ready(now) {
				ready++
			}
		}
		if ready > 0 && q.idle > 0 {
			// Idle connections take the new work first.
			close(q.more)
			q.more = make(chan struct{})
			ready -= min(ready, q.idle)
		}
		// A connection carries up to MessagesPerConnection messages; open
		// one per ready message up to the limit so a burst spreads out.
		want := min(t.o.MaxConnectionsPerQueue, q.conns+ready)
		for q.conns < want {
			q.conns++
			if q.status != QueueRetry {
				q.status = QueueConnecting
			}
			t.wg.Add(1)
			go t.worker(q)
		}
	}
}

// take hands a worker the next ready entry of q.
func (t *Transport) take(q *Queue) *entry {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if q.suspended {
		return nil
	}
	for _, e := range q.entries {
		if e.ready(now) {
			e.inFlight = true
			return e
		}
	}
	return nil
}

// worker carries messages of one queue over one connection.
func (t *Transport) worker(q *Queue) {
	defer t.wg.Done()
	defer func() {
		t.mu.Lock()
		q.conns--
		if q.conns == 0 && q.status != QueueRetry && !q.suspended {
			q.status = QueueReady
		}
		t.mu.Unlock()
	}()
	first := t.take(q)
	if first == nil {
		return
	}
	ctx, cancel := context.WithTimeout(t.ctx, 10*time.Minute)
	defer cancel()
	conn, err := t.o.Sender.Open(ctx, q.Hop)
	if err != nil {
		t.connectionFailed(q, []*entry{first}, err)
		return
	}
	defer conn.Close()
	t.mu.Lock()
	q.status, q.retryCount, q.lastError = QueueActive, 0, ""
	q.nextRetry = time.Time{}
	t.mu.Unlock()

	e := first
	for sent := 0; e != nil; sent++ {
		if err := t.deliverEntry(ctx, q, conn, e); err != nil {
			t.connectionFailed(q, []*entry{e}, err)
			return
		}
		if sent+1 >= t.o.MessagesPerConnection || t.ctx.Err() != nil {
			break
		}
		e = t.takeOrWait(q)
	}
}

// connectionIdle is how long an open connection waits for more messages
// of its queue before closing: a burst then rides on connections already
// set up instead of paying a TLS handshake per message.
const connectionIdle = 2 * time.Second

// takeOrWait is take, waiting up to connectionIdle for new work.
func (t *Transport) takeOrWait(q *Queue) *entry {
	deadline := time.NewTimer(connectionIdle)
	defer deadline.Stop()
	for {
		if e := t.take(q); e != nil {
			return e
		}
		t.mu.Lock()
		ch := q.more
		q.idle++
		t.mu.Unlock()
		var stop bool
		select {
		case <-ch:
		case <-deadline.C:
			stop = true
		case <-t.ctx.Done():
			stop = true
		}
		t.mu.Lock()
		q.idle--
		t.mu.Unlock()
		if stop {
			return nil
		}
	}
}

// bodyBufs are the buffers deliverEntry reads a message's body into for
// Conn.Send, which is done with it when it returns.
var bodyBufs = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

// maxPooledBody bounds the buffers kept: a huge message's is dropped.
const maxPooledBody = 1 << 20

// deliverEntry sends one message to the recipients it has in q.
func (t *Transport) deliverEntry(ctx context.Context, q *Queue, conn Conn, e *entry) error {
	bp := bodyBufs.Get().(*[]byte)
	body, err := t.spool.AppendBody((*bp)[:0], e.msg.ID)
	defer func() {
		if cap(body) <= maxPooledBody {
			*bp = body[:0]
			bodyBufs.Put(bp)
		}
	}()
	if err != nil {
		t.log.Error("queue database", "msg_id", e.msg.MessageID, "err", err)
		t.mu.Lock()
		t.failLocked(e.msg, e.rcpts, "550 5.3.0 QUEUE.Badmail; message body unreadable", "")
		t.removeEntryLocked(q, e)
		t.mu.Unlock()
		return nil
	}
	rcpts := make([]string, len(e.rcpts))
	t.mu.Lock()
	for i, idx := range e.rcpts {
		rcpts[i] = e.msg.Recipients[idx].Address
		e.msg.Recipients[idx].Attempts++
	}
	t.mu.Unlock()
	replies, err := conn.Send(ctx, e.msg, rcpts, body)
	if err != nil {
		return err
	}
	host, addr := conn.Remote()
	t.mu.Lock()
	defer t.mu.Unlock()
	var delivered, failed, retry []int
	var deliveredStatus []string
	for _, idx := range e.rcpts {
		r := &e.msg.Recipients[idx]
		rep, ok := replies[r.Address]
		if !ok {
			rep = Reply{Code: 451, Text: "4.4.0 No reply for recipient"}
		}
		switch {
		case rep.OK():
			r.Status, r.LastError = RcptDelivered, ""
			delivered = append(delivered, idx)
			deliveredStatus = append(deliveredStatus, rep.String())
		case rep.Permanent():
			failed = append(failed, idx)
			r.LastError = rep.String()
		default:
			r.Status, r.LastError = RcptRetry, rep.String()
			r.NextRetry = t.now().Add(t.o.Timers.MessageRetryInterval)
			retry = append(retry, idx)
		}
	}
	if len(delivered) > 0 {
		t.track(LogTransport, &TrackingEvent{
			ServerIP: hostOf(addr), ServerHostname: host, ConnectorID: q.Hop.Connector,
			Source: SourceSMTP, EventID: EventSend, InternalMessageID: e.msg.ID,
			MessageID: e.msg.MessageID, NetworkMessageID: e.msg.NetworkID,
			Recipients: addrs(e.msg, delivered), RecipientStatus: deliveredStatus,
			TotalBytes: e.msg.Size, RecipientCount: len(delivered), MessageSubject: e.msg.Subject,
			Sender: e.msg.From, ReturnPath: e.msg.From, Directionality: directionality(e.msg),
			OriginalClientIP: e.msg.Source.OriginalClientIP, SourceContext: string(q.Hop.Type),
		})
	}
	if len(failed) > 0 {
		t.failLocked(e.msg, failed, "", addr)
	}
	if len(retry) > 0 {
		t.deferLocked(e.msg, retry, e.msg.Recipients[retry[0]].LastError)
	}
	// The entry keeps only the recipients still to do.
	e.rcpts = retry
	e.inFlight = false
	if len(retry) > 0 {
		e.notBefore = t.now().Add(t.o.Timers.MessageRetryInterval)
	} else {
		t.removeEntryLocked(q, e)
	}
	t.persistLocked(e.msg)
	return nil
}

// connectionFailed puts the queue into Retry with Exchange's LastError and
// releases the entries the worker held.
func (t *Transport) connectionFailed(q *Queue, held []*entry, err error) {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	msg := LastError(err)
	for _, e := range held {
		e.inFlight = false
	}
	var he *HopError
	if errors.As(err, &he) && he.Permanent {
		// The next hop does not exist: every waiting recipient fails now.
		for _, e := range slices.Clone(q.entries) {
			if e.inFlight {
				continue
			}
			t.failLocked(e.msg, e.rcpts, msg, "")
			t.removeEntryLocked(q, e)
			t.persistLocked(e.msg)
		}
		q.lastError = msg
		return
	}
	if q.status == QueueRetry && now.Before(q.nextRetry) {
		// Another connection of this round already failed and scheduled
		// the retry: one attempt, one count.
		return
	}
	if q.lastError != msg {
		for _, e := range q.entries {
			t.deferLocked(e.msg, e.rcpts, msg)
		}
	}
	q.status = QueueRetry
	q.lastError = msg
	q.lastRetry = now
	q.retryCount++
	interval := t.o.Timers.TransientFailureRetryInterval
	if q.retryCount > t.o.Timers.TransientFailureRetryCount {
		interval = t.o.Timers.OutboundConnectionFailureRetryInterval
	}
	q.nextRetry = now.Add(interval)
	for _, e := range q.entries {
		for _, idx := range e.rcpts {
			r := &e.msg.Recipients[idx]
			r.Status, r.LastError, r.NextRetry = RcptRetry, msg, q.nextRetry
		}
	}
	t.log.Warn("next hop unreachable", "hop", q.Hop.Domain, "err", msg, "attempt", q.retryCount)
}

// deferLocked writes a DEFER event for recipients that will be retried.
func (t *Transport) deferLocked(m *Message, idx []int, reason string) {
	if len(idx) == 0 {
		return
	}
	t.track(LogTransport, &TrackingEvent{
		ServerHostname: t.o.FQDN, Source: SourceSMTP, EventID: EventDefer, InternalMessageID: m.ID,
		MessageID: m.MessageID, NetworkMessageID: m.NetworkID, Recipients: addrs(m, idx),
		RecipientStatus: []string{reason}, TotalBytes: m.Size, RecipientCount: len(idx),
		MessageSubject: m.Subject, Sender: m.From, ReturnPath: m.From, Directionality: directionality(m),
	})
}

// failLocked fails recipients permanently: a FAIL event and an NDR to the
// sender. reply overrides the recipients' LastError when set.
func (t *Transport) failLocked(m *Message, idx []int, reply, remote string) {
	if len(idx) == 0 {
		return
	}
	var status []string
	for _, i := range idx {
		r := &m.Recipients[i]
		if reply != "" {
			r.LastError = reply
		}
		r.Status = RcptFailed
		status = append(status, r.LastError)
	}
	t.track(LogTransport, &TrackingEvent{
		ServerIP: hostOf(remote), ServerHostname: t.o.FQDN, Source: SourceSMTP, EventID: EventFail,
		InternalMessageID: m.ID, MessageID: m.MessageID, NetworkMessageID: m.NetworkID,
		Recipients: addrs(m, idx), RecipientStatus: status, TotalBytes: m.Size, RecipientCount: len(idx),
		MessageSubject: m.Subject, Sender: m.From, ReturnPath: m.From, Directionality: directionality(m),
	})
	t.notifyLocked(m, idx, dsnFailed)
}

func (t *Transport) removeEntryLocked(q *Queue, e *entry) {
	q.entries = slices.DeleteFunc(q.entries, func(x *entry) bool { return x == e })
	t.finishIfDoneLocked(e.msg)
}

// finishIfDoneLocked removes a message whose recipients are all terminal.
func (t *Transport) finishIfDoneLocked(m *Message) {
	if !m.Done() {
		return
	}
	if _, ok := t.msgs[m.ID]; !ok {
		return
	}
	delete(t.msgs, m.ID)
	t.deleteLater(m.ID)
}

// persistLocked stores a message's recipient state if it is still queued.
func (t *Transport) persistLocked(m *Message) {
	if _, ok := t.msgs[m.ID]; !ok {
		return
	}
	if err := t.spool.Update(m); err != nil {
		t.log.Error("queue database", "err", err)
	}
}

// housekeeping expires old messages and sends delay notifications.
func (t *Transport) housekeeping() {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, m := range t.msgs {
		if m.Done() {
			continue
		}
		if now.Sub(m.Arrived) > t.o.Timers.MessageExpirationTimeout {
			t.expireLocked(m)
			continue
		}
		if !m.DelayNotified && now.Sub(m.Arrived) > t.o.Timers.DelayNotificationTimeout {
			m.DelayNotified = true
			var open []int
			for i := range m.Recipients {
				if !m.Recipients[i].Status.Terminal() {
					open = append(open, i)
				}
			}
			t.notifyLocked(m, open, dsnDelayed)
			t.persistLocked(m)
		}
	}
}

// expireLocked fails a message's open recipients with QUEUE.Expired.
func (t *Transport) expireLocked(m *Message) {
	var open []int
	for i := range m.Recipients {
		r := &m.Recipients[i]
		if r.Status.Terminal() {
			continue
		}
		last := r.LastError
		r.LastError = "550 4.4.7 QUEUE.Expired; message expired"
		if last != "" {
			r.LastError += " [LastError: " + last + "]"
		}
		open = append(open, i)
	}
	t.failLocked(m, open, "", "")
	for _, q := range t.queues {
		q.entries = slices.DeleteFunc(q.entries, func(e *entry) bool { return e.msg == m && !e.inFlight })
	}
	t.finishIfDoneLocked(m)
}

func addrs(m *Message, idx []int) []string {
	out := make([]string, len(idx))
	for i, j := range idx {
		out[i] = m.Recipients[j].Address
	}
	return out
}

func hostOf(addrPort string) string {
	for i := len(addrPort) - 1; i >= 0; i-- {
		if addrPort[i] == ':' {
			h := addrPort[:i]
			if len(h) > 1 && h[0] == '[' {
				h = h[1 : len(h)-1]
			}
			return h
		}
	}
	return addrPort
}
