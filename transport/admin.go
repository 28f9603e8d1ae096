package transport

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// QueueInfo is one row of Get-Queue.
type QueueInfo struct {
	Identity         string       `json:"Identity"`
	DeliveryType     DeliveryType `json:"DeliveryType"`
	Status           QueueStatus  `json:"Status"`
	MessageCount     int          `json:"MessageCount"`
	NextHopDomain    string       `json:"NextHopDomain"`
	NextHopConnector string       `json:"NextHopConnector,omitempty"`
	LastError        string       `json:"LastError,omitempty"`
	LastRetryTime    time.Time    `json:"LastRetryTime,omitzero"`
	NextRetryTime    time.Time    `json:"NextRetryTime,omitzero"`
	RetryCount       int          `json:"RetryCount"`
}

// MessageInfo is one row of Get-Message.
type MessageInfo struct {
	Identity          string    `json:"Identity"` // EX01\3\12
	InternalID        int64     `json:"InternalId"`
	MessageID         string    `json:"InternetMessageId"`
	FromAddress       string    `json:"FromAddress"`
	Recipients        []string  `json:"Recipients"`
	Status            string    `json:"Status"`
	Size              int64     `json:"Size"`
	Subject           string    `json:"Subject"`
	DateReceived      time.Time `json:"DateReceived"`
	ExpirationTime    time.Time `json:"ExpirationTime"`
	LastError         string    `json:"LastError,omitempty"`
	RetryCount        int       `json:"RetryCount"`
	Queue             string    `json:"Queue"`
	SourceIP          string    `json:"SourceIP,omitempty"`
	MessageSourceName string    `json:"MessageSourceName,omitempty"`
}

// fixedQueues are always listed, as Get-Queue shows them.
var fixedQueues = []string{"Submission", "Poison"}

// Queues returns Get-Queue's rows: the delivery queues, Unreachable, and
// the Submission and Poison queues.
func (t *Transport) Queues() []QueueInfo {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]QueueInfo, 0, len(t.order)+2)
	for _, q := range t.order {
		status := q.status
		switch {
		case q.suspended:
			status = QueueSuspended
		case q.Hop.Type == DeliveryUnreachable:
			status = QueueReady
		}
		n := 0
		for _, e := range q.entries {
			n += min(1, len(e.rcpts))
		}
		domain := q.Hop.Domain
		if q.Hop.Type == DeliveryUnreachable {
			domain = "Unreachable Domain"
		}
		out = append(out, QueueInfo{
			Identity: q.Identity, DeliveryType: q.Hop.Type, Status: status, MessageCount: n,
			NextHopDomain: strings.ToLower(domain), NextHopConnector: q.Hop.Connector, LastError: q.lastError,
			LastRetryTime: q.lastRetry, NextRetryTime: q.nextRetry, RetryCount: q.retryCount,
		})
	}
	for _, name := range fixedQueues {
		out = append(out, QueueInfo{Identity: t.o.Server + `\` + name, DeliveryType: DeliveryType(map[string]string{"Submission": "Undefined", "Poison": "Undefined"}[name]), Status: QueueReady, NextHopDomain: strings.ToLower(name)})
	}
	return out
}

// Messages returns Get-Message's rows for one queue, or all with "".
func (t *Transport) Messages(queue string) []MessageInfo {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []MessageInfo
	for _, q := range t.order {
		if queue != "" && !strings.EqualFold(queue, q.Identity) {
			continue
		}
		for _, e := range q.entries {
			if len(e.rcpts) == 0 {
				continue
			}
			m := e.msg
			status := "Ready"
			r0 := m.Recipients[e.rcpts[0]]
			switch {
			case m.Suspended || q.suspended:
				status = "Suspended"
			case e.inFlight:
				status = "Active"
			case r0.Status == RcptRetry || q.status == QueueRetry:
				status = "Retry"
			}
			out = append(out, MessageInfo{
				Identity: fmt.Sprintf(`%s\%d`, q.Identity, m.ID), InternalID: m.ID, MessageID: m.MessageID,
				FromAddress: m.From, Recipients: addrs(m, e.rcpts), Status: status, Size: m.Size,
				Subject: m.Subject, DateReceived: m.Arrived, ExpirationTime: m.Arrived.Add(t.o.Timers.MessageExpirationTimeout),
				LastError: r0.LastError, RetryCount: r0.Attempts, Queue: q.Identity, SourceIP: m.Source.ClientIP,
				MessageSourceName: m.Source.Connector,
			})
		}
	}
	return out
}

func (t *Transport) queueByIdentity(identity string) *Queue {
	for _, q := range t.order {
		if strings.EqualFold(q.Identity, identity) {
			return q
		}
	}
	return nil
}

// RetryQueue makes a queue in Retry try again now (Retry-Queue).
func (t *Transport) RetryQueue(identity string) error {
	t.mu.Lock()
	q := t.queueByIdentity(identity)
	if q == nil {
		t.mu.Unlock()
		return fmt.Errorf("the queue %q was not found", identity)
	}
	q.nextRetry = time.Time{}
	for _, e := range q.entries {
		e.notBefore = time.Time{}
	}
	reroute := q.Hop.Type == DeliveryUnreachable
	t.mu.Unlock()
	if reroute {
		t.Reroute()
	}
	t.kick()
	return nil
}

// SuspendQueue stops delivery from a queue (Suspend-Queue).
func (t *Transport) SuspendQueue(identity string) error { return t.setQueueSuspended(identity, true) }

// ResumeQueue resumes a suspended queue (Resume-Queue).
func (t *Transport) ResumeQueue(identity string) error { return t.setQueueSuspended(identity, false) }

func (t *Transport) setQueueSuspended(identity string, v bool) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	q := t.queueByIdentity(identity)
	if q == nil {
		return fmt.Errorf("the queue %q was not found", identity)
	}
	q.suspended = v
	if !v {
		q.nextRetry = time.Time{}
		if q.status == QueueSuspended {
			q.status = QueueReady
		}
	}
	t.kick()
	return nil
}

// SuspendMessage and ResumeMessage hold and release one message.
func (t *Transport) SuspendMessage(id int64) error { return t.setMessageSuspended(id, true) }

// ResumeMessage releases a suspended message.
func (t *Transport) ResumeMessage(id int64) error { return t.setMessageSuspended(id, false) }

func (t *Transport) setMessageSuspended(id int64, v bool) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	m := t.msgs[id]
	if m == nil {
		return fmt.Errorf("the message %d was not found", id)
	}
	m.Suspended = v
	t.persistLocked(m)
	t.kick()
	return nil
}

// RemoveMessage deletes a message from every queue (Remove-Message),
// with an NDR to the sender when withNDR.
func (t *Transport) RemoveMessage(id int64, withNDR bool) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	m := t.msgs[id]
	if m == nil {
		return fmt.Errorf("the message %d was not found", id)
	}
	var open []int
	for i := range m.Recipients {
		r := &m.Recipients[i]
		if !r.Status.Terminal() {
			open = append(open, i)
			r.Status = RcptFailed
			r.LastError = "550 4.3.2 QUEUE.Admin; message deleted by administrative action"
		}
	}
	t.track(LogTransport, &TrackingEvent{
		ServerHostname: t.o.FQDN, Source: SourceAdmin, EventID: EventDrop, InternalMessageID: m.ID,
		MessageID: m.MessageID, NetworkMessageID: m.NetworkID, Recipients: addrs(m, open),
		RecipientCount: len(open), MessageSubject: m.Subject, Sender: m.From, ReturnPath: m.From,
	})
	if withNDR {
		t.notifyLocked(m, open, dsnFailed)
	}
	for _, q := range t.queues {
		q.entries = slices.DeleteFunc(q.entries, func(e *entry) bool { return e.msg == m })
	}
	t.finishIfDoneLocked(m)
	return nil
}
