package transport

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/exsim/exsim/topology"
)

// fakeNet is a Sender whose next hops are in memory.
type fakeNet struct {
	mu        sync.Mutex
	down      map[string]error    // hop domain -> connection error
	rcptReply map[string]Reply    // recipient -> reply
	got       map[string][]string // recipient -> bodies
	opens     int
	sent      chan string // recipient of every accepted delivery
}

func newFakeNet() *fakeNet {
	return &fakeNet{down: map[string]error{}, rcptReply: map[string]Reply{}, got: map[string][]string{}, sent: make(chan string, 100)}
}

func (f *fakeNet) Open(ctx context.Context, hop NextHop) (Conn, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.opens++
	if err := f.down[hop.Domain]; err != nil {
		return nil, err
	}
	return &fakeConn{f: f, hop: hop}, nil
}

type fakeConn struct {
	f   *fakeNet
	hop NextHop
}

func (c *fakeConn) Send(ctx context.Context, m *Message, rcpts []string, body []byte) (map[string]Reply, error) {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	out := map[string]Reply{}
	for _, r := range rcpts {
		rep, ok := c.f.rcptReply[r]
		if !ok {
			rep = Reply{Code: 250, Text: "2.6.0 Queued mail for delivery"}
		}
		out[r] = rep
		if rep.OK() {
			c.f.got[r] = append(c.f.got[r], string(body))
			c.f.sent <- r
		}
	}
	return out, nil
}
func (c *fakeConn) Remote() (string, string) { return c.hop.Domain, "127.0.0.9:25" }
func (c *fakeConn) Close() error             { return nil }

func (f *fakeNet) setDown(domain string, err error) {
	f.mu.Lock()
	f.down[domain] = err
	f.mu.Unlock()
}

func (f *fakeNet) bodies(rcpt string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.got[rcpt]...)
}

// byDomain routes every recipient to a DNS hop named after its domain,
// except domains in unreachable.
type byDomain struct {
	mu          sync.Mutex
	unreachable map[string]bool
}

func (r *byDomain) Route(ctx context.Context, m *Message, rcpt string) NextHop {
	d := topology.Domain(rcpt)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.unreachable[d] {
		return NextHop{Type: DeliveryUnreachable, Unreachable: ErrNoConnector}
	}
	return NextHop{Type: DeliveryDNS, Domain: d, Connector: "To Internet", MX: true, Port: 25}
}

// labTransport is a transport of EX01 that routes by domain with the lab's
// timers, spooling under a fresh folder; it closes when the test ends.
func labTransport(t *testing.T, net *fakeNet) *Transport {
	t.Helper()
	tr := newTransport(t, t.TempDir(), net, &byDomain{}, labTimers())
	t.Cleanup(func() { tr.Close() })
	return tr
}

func newTransport(t *testing.T, dir string, net *fakeNet, router Router, timers topology.TimerValues) *Transport {
	t.Helper()
	tl, err := NewTrackingLog(dir+"/TransportRoles/Logs/MessageTracking", "EX01", "15.2.1258.12", nil)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := New(Options{
		Server: "EX01", FQDN: "ex01.contoso.com", DataDir: dir, Router: router, Sender: net,
		Timers: timers, Tracking: tl, Postmaster: "MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@contoso.com",
	})
	if err != nil {
		t.Fatal(err)
	}
	tr.Start()
	return tr
}

func labTimers() topology.TimerValues {
	v := topology.Timers{Profile: topology.ProfileLab}.For(topology.RoleMailbox)
	v.TransientFailureRetryInterval = 50 * time.Millisecond
	v.OutboundConnectionFailureRetryInterval = 50 * time.Millisecond
	v.MessageRetryInterval = 50 * time.Millisecond
	return v
}

func msg(from string, to ...string) (*Message, []byte) {
	m := &Message{MessageID: fmt.Sprintf("<%d@test>", time.Now().UnixNano()), From: from, Subject: "hello", Source: Source{AuthAs: "Anonymous", ClientIP: "127.0.30.1", Connector: `EX01\Default EX01`}}
	for _, r := range to {
		m.Recipients = append(m.Recipients, Recipient{Address: r})
	}
	body := fmt.Sprintf("From: %s\r\nTo: %s\r\nSubject: hello\r\nMessage-ID: %s\r\n\r\nbody\r\n", from, strings.Join(to, ", "), m.MessageID)
	return m, []byte(body)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func events(t *testing.T, tr *Transport, q TrackingQuery) []string {
	t.Helper()
	evs, _, err := tr.Tracking().Search(q)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range evs {
		out = append(out, e.EventID)
	}
	return out
}

func TestSubmitDeliverTrack(t *testing.T) {
	net := newFakeNet()
	tr := labTransport(t, net)
	m, body := msg("alice@contoso.com", "carol@fabrikam.com")
	if err := tr.Submit(context.Background(), m, body); err != nil {
		t.Fatal(err)
	}
	if m.ID == 0 {
		t.Error("Submit did not assign an InternalId")
	}
	<-net.sent
	waitFor(t, "the queue to empty", func() bool { return len(tr.Messages("")) == 0 })
	if got := events(t, tr, TrackingQuery{MessageID: m.MessageID}); strings.Join(got, ",") != "RECEIVE,SEND" {
		t.Errorf("tracking events = %v, want RECEIVE,SEND", got)
	}
	if b := net.bodies("carol@fabrikam.com"); len(b) != 1 || b[0] != string(body) {
		t.Errorf("delivered bodies = %q", b)
	}
}

// queueForRefusingFabrikam submits a message from alice to
// carol@fabrikam.com while fabrikam.com refuses connections: it waits in
// the fabrikam.com queue until the test lets it through.
func queueForRefusingFabrikam(t *testing.T) (*fakeNet, *Transport, *Message) {
	t.Helper()
	net := newFakeNet()
	net.setDown("fabrikam.com", connectError("127.0.30.1:25", syscall.ECONNREFUSED))
	tr := labTransport(t, net)
	m, body := msg("alice@contoso.com", "carol@fabrikam.com")
	tr.Submit(context.Background(), m, body)
	return net, tr, m
}

func TestRetryThenDeliver(t *testing.T) {
	net, tr, m := queueForRefusingFabrikam(t)
	var q QueueInfo
	waitFor(t, "Retry", func() bool {
		for _, qi := range tr.Queues() {
			if qi.NextHopDomain == "fabrikam.com" && qi.Status == QueueRetry {
				q = qi
				return true
			}
		}
		return false
	})
	if !strings.HasPrefix(q.LastError, `451 4.4.0 Primary target IP address responded with: "421 4.2.1 Unable to connect."`) || q.MessageCount != 1 || q.DeliveryType != DeliveryDNS || q.Identity != `EX01\1` {
		t.Errorf("queue = %+v", q)
	}
	net.setDown("fabrikam.com", nil)
	<-net.sent
	waitFor(t, "delivery", func() bool { return len(tr.Messages("")) == 0 })
	got := events(t, tr, TrackingQuery{MessageID: m.MessageID})
	if strings.Join(got, ",") != "RECEIVE,DEFER,SEND" {
		t.Errorf("events = %v, want RECEIVE,DEFER,SEND", got)
	}
}

func TestPermanentFailureSendsNDR(t *testing.T) {
	net := newFakeNet()
	net.rcptReply["nobody@fabrikam.com"] = Reply{Code: 550, Text: "5.1.1 User unknown"}
	tr := labTransport(t, net)
	m, body := msg("alice@contoso.com", "nobody@fabrikam.com", "carol@fabrikam.com")
	tr.Submit(context.Background(), m, body)
	got := map[string]bool{}
	for len(got) < 2 {
		got[<-net.sent] = true
	}
	if !got["alice@contoso.com"] || !got["carol@fabrikam.com"] {
		t.Fatalf("deliveries = %v, want carol and an NDR to alice", got)
	}
	ndr := net.bodies("alice@contoso.com")[0]
	if mt, params := reportType(t, ndr); mt != "multipart/report" || params["report-type"] != "delivery-status" {
		t.Errorf("NDR Content-Type = %s %v, want multipart/report; report-type=delivery-status", mt, params)
	}
	for _, want := range []string{"Subject: Undeliverable: hello", "Final-Recipient: rfc822;nobody@fabrikam.com", "Action: failed", "Status: 5.1.1", "Diagnostic-Code: smtp;550 5.1.1 User unknown", "Reporting-MTA: dns;ex01.contoso.com", "Message-ID: " + m.MessageID} {
		if !strings.Contains(ndr, want) {
			t.Errorf("NDR lacks %q:\n%s", want, ndr)
		}
	}
	if strings.Contains(ndr, "Final-Recipient: rfc822;carol@fabrikam.com") {
		t.Error("NDR names the delivered recipient")
	}
	evs := events(t, tr, TrackingQuery{MessageID: m.MessageID})
	if !strings.Contains(strings.Join(evs, ","), "FAIL") {
		t.Errorf("events = %v, want a FAIL", evs)
	}
}

func TestNoNDRForNullSenderOrNotifyNever(t *testing.T) {
	net := newFakeNet()
	net.rcptReply["nobody@fabrikam.com"] = Reply{Code: 550, Text: "5.1.1 User unknown"}
	tr := labTransport(t, net)
	m, body := msg("", "nobody@fabrikam.com")
	tr.Submit(context.Background(), m, body)
	m2, body2 := msg("alice@contoso.com", "nobody@fabrikam.com")
	m2.Recipients[0].Notify = []string{"NEVER"}
	tr.Submit(context.Background(), m2, body2)
	waitFor(t, "both to fail", func() bool { return len(tr.Messages("")) == 0 })
	time.Sleep(100 * time.Millisecond)
	if b := net.bodies("alice@contoso.com"); len(b) != 0 {
		t.Errorf("an NDR was sent: %q", b)
	}
}

func TestRestartResumes(t *testing.T) {
	dir := t.TempDir()
	net := newFakeNet()
	net.setDown("fabrikam.com", connectError("127.0.30.1:25", syscall.ECONNREFUSED))
	tr := newTransport(t, dir, net, &byDomain{}, labTimers())
	var ids []string
	for i := 0; i < 5; i++ {
		m, body := msg("alice@contoso.com", fmt.Sprintf("user%d@fabrikam.com", i))
		if err := tr.Submit(context.Background(), m, body); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.MessageID)
	}
	tr.Close()

	net.setDown("fabrikam.com", nil)
	tr2 := newTransport(t, dir, net, &byDomain{}, labTimers())
	defer tr2.Close()
	for i := 0; i < 5; i++ {
		<-net.sent
	}
	for i := 0; i < 5; i++ {
		if n := len(net.bodies(fmt.Sprintf("user%d@fabrikam.com", i))); n != 1 {
			t.Errorf("user%d got %d copies, want 1", i, n)
		}
	}
}

func TestUnreachableThenReroute(t *testing.T) {
	net := newFakeNet()
	router := &byDomain{unreachable: map[string]bool{"fabrikam.com": true}}
	tr := newTransport(t, t.TempDir(), net, router, labTimers())
	defer tr.Close()
	m, body := msg("alice@contoso.com", "carol@fabrikam.com")
	tr.Submit(context.Background(), m, body)
	var un QueueInfo
	for _, q := range tr.Queues() {
		if q.Identity == `EX01\Unreachable` {
			un = q
		}
	}
	if un.MessageCount != 1 || un.LastError != ErrNoConnector || un.DeliveryType != DeliveryUnreachable {
		t.Fatalf("Unreachable queue = %+v", un)
	}
	msgs := tr.Messages(`EX01\Unreachable`)
	if len(msgs) != 1 || msgs[0].FromAddress != "alice@contoso.com" {
		t.Fatalf("Get-Message = %+v", msgs)
	}
	router.mu.Lock()
	router.unreachable = nil
	router.mu.Unlock()
	tr.Reroute()
	<-net.sent
}

func TestExpiry(t *testing.T) {
	net := newFakeNet()
	net.setDown("fabrikam.com", connectError("127.0.30.1:25", errors.New("i/o timeout")))
	timers := labTimers()
	timers.MessageExpirationTimeout = 300 * time.Millisecond
	tr := newTransport(t, t.TempDir(), net, &byDomain{}, timers)
	defer tr.Close()
	m, body := msg("alice@contoso.com", "carol@fabrikam.com")
	tr.Submit(context.Background(), m, body)
	if r := <-net.sent; r != "alice@contoso.com" {
		t.Fatalf("delivery to %s, want the NDR to alice", r)
	}
	ndr := net.bodies("alice@contoso.com")[0]
	if !strings.Contains(ndr, "550 4.4.7 QUEUE.Expired; message expired") || !strings.Contains(ndr, "Status: 5.4.7") {
		t.Errorf("expiry NDR:\n%s", ndr)
	}
}

func TestSuspendResumeRemove(t *testing.T) {
	net, tr, _ := queueForRefusingFabrikam(t)
	waitFor(t, "the queue", func() bool { return len(tr.Queues()) > 0 })
	q := tr.Queues()[0].Identity
	if err := tr.SuspendQueue(q); err != nil {
		t.Fatal(err)
	}
	net.setDown("fabrikam.com", nil)
	time.Sleep(200 * time.Millisecond)
	if len(net.bodies("carol@fabrikam.com")) != 0 {
		t.Fatal("a suspended queue delivered")
	}
	if err := tr.ResumeQueue(q); err != nil {
		t.Fatal(err)
	}
	<-net.sent
	// Another next hop, down from the start: the fabrikam.com connection
	// that just delivered may still be open and would take the message at
	// once.
	m2, body2 := msg("alice@contoso.com", "dave@northwind.com")
	net.setDown("northwind.com", connectError("127.0.30.1:25", syscall.ECONNREFUSED))
	tr.Submit(context.Background(), m2, body2)
	if err := tr.RemoveMessage(m2.ID, false); err != nil {
		t.Fatal(err)
	}
	if len(tr.Messages("")) != 0 {
		t.Error("Remove-Message left the message")
	}
	if err := tr.RetryQueue(`EX01\99`); err == nil {
		t.Error("RetryQueue on an unknown queue succeeded")
	}
}
