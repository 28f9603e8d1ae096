package transport

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exsim/exsim/internal/membudget"
	"github.com/exsim/exsim/servers/smtpd"
)

// ingressBackend is a Receive connector whose sessions take every message
// through Ingress.Receive with one Stamp into one Target.
type ingressBackend struct {
	in     *Ingress
	stamp  Stamp
	target Target
	ctxs   chan context.Context // each session's connection context
}

func (b *ingressBackend) NewSession(c *smtpd.Conn) (smtpd.Session, error) {
	if b.ctxs != nil {
		b.ctxs <- c.Context()
	}
	return &ingressSession{b: b, c: c}, nil
}

type ingressSession struct {
	b   *ingressBackend
	c   *smtpd.Conn
	env Envelope
}

func (s *ingressSession) Mail(from string, o *smtpd.MailOptions) error {
	s.env = Envelope{From: from, Mail: o}
	return nil
}
func (s *ingressSession) Rcpt(to string, o *smtpd.RcptOptions) error {
	s.env.AddRcpt(to, o)
	return nil
}
func (s *ingressSession) Data(r io.Reader) (*smtpd.Reply, error) {
	return s.b.in.Receive(s.c, &s.env, s.b.stamp, r, s.b.target)
}
func (s *ingressSession) Reset()  { s.env.Reset() }
func (s *ingressSession) Logout() {}

var testNow = time.Date(2024, 3, 29, 23, 50, 41, 0, time.FixedZone("", 3600))

// serveIngress starts a real smtpd connector on 127.0.0.1:0 for b.
func serveIngress(t *testing.T, b *ingressBackend) string {
	t.Helper()
	if b.in == nil {
		b.in = &Ingress{Connector: `EX01\Default EX01`, FQDN: "ex01.contoso.com", Build: "15.2.1258.12", Now: func() time.Time { return testNow }}
	}
	srv := smtpd.NewServer(b, smtpd.Options{Hostname: "ex01.contoso.com", Persona: smtpd.PersonaTransport, Limits: smtpd.Limits{TarpitInterval: -1}})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

// send runs one SMTP transaction and returns the reply to the final dot.
func send(t *testing.T, addr, message string, rcpts ...string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	reply := func() string {
		var last string
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("reading reply: %v", err)
			}
			last = strings.TrimRight(line, "\r\n")
			if len(last) < 4 || last[3] != '-' {
				return last
			}
		}
	}
	reply()
	cmds := []string{"EHLO mx.fabrikam.com", "MAIL FROM:<carol@fabrikam.com>"}
	for _, r := range rcpts {
		cmds = append(cmds, "RCPT TO:<"+r+">")
	}
	for _, cmd := range append(cmds, "DATA") {
		fmt.Fprintf(c, "%s\r\n", cmd)
		if r := reply(); r[0] != '2' && r[0] != '3' {
			t.Fatalf("%s: %s", cmd, r)
		}
	}
	fmt.Fprintf(c, "%s.\r\n", message)
	got := reply()
	fmt.Fprintf(c, "QUIT\r\n")
	reply()
	return got
}

func TestIngressQueuesWithExchangeHeaders(t *testing.T) {
	net := newFakeNet()
	tr := labTransport(t, net)
	addr := serveIngress(t, &ingressBackend{stamp: Stamp{Accept: AcceptHeaders(AnonymousUsers), Org: OrgStamp, AuthAs: "Anonymous"}, target: tr})
	got := send(t, addr, "Subject: hi\r\nX-MS-Exchange-Organization-AuthAs: Internal\r\nMessage-ID: <m1@fabrikam.com>\r\n\r\nbody\r\n", "alice@contoso.com")
	if want := "250 2.6.0 <m1@fabrikam.com> [InternalId=1, Hostname=ex01.contoso.com] "; !strings.HasPrefix(got, want) || !strings.HasSuffix(got, "Queued mail for delivery") {
		t.Fatalf("DATA reply = %q, want prefix %q", got, want)
	}
	<-net.sent
	bodies := net.bodies("alice@contoso.com")
	if len(bodies) != 1 {
		t.Fatalf("delivered %d messages, want 1", len(bodies))
	}
	m := SplitMessage([]byte(bodies[0]))
	var names []string
	for _, f := range m.Fields() {
		names = append(names, f.Name)
	}
	want := []string{"Received", "Subject", "Message-ID", HeaderNetworkMessageID, HeaderOriginalArrival, HeaderAuthSource, HeaderAuthAs, HeaderOrigClientIP, HeaderOrigServerIP}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Errorf("fields = %v\nwant %v", names, want)
	}
	if v := m.Get(HeaderAuthAs); v != "Anonymous" {
		t.Errorf("AuthAs = %q, want Anonymous (the header firewall keeps none of the sender's)", v)
	}
	if v := m.Get("Received"); !strings.HasPrefix(v, "from mx.fabrikam.com (127.0.0.1) by ex01.contoso.com (127.0.0.1) with Microsoft SMTP Server id 15.2.1258.12; Fri, 29 Mar 2024 23:50:41 +0100") {
		t.Errorf("Received = %q", v)
	}
	if string(m.Body) != "body\r\n" {
		t.Errorf("body = %q", m.Body)
	}
	waitFor(t, "the queue to empty", func() bool { return len(tr.Messages("")) == 0 })
	evs, _, err := tr.Tracking().Search(TrackingQuery{MessageID: "<m1@fabrikam.com>", EventID: EventReceive})
	if err != nil || len(evs) != 1 {
		t.Fatalf("RECEIVE events = %v, %v; want one", evs, err)
	}
	if e := evs[0]; e.ConnectorID != `EX01\Default EX01` || e.ClientHostname != "mx.fabrikam.com" || e.Directionality != "Incoming" || e.InternalMessageID != 1 {
		t.Errorf("RECEIVE = %+v", e)
	}
}

func TestIngressFillsWhatATrustedPeerLeftOut(t *testing.T) {
	net := newFakeNet()
	tr := labTransport(t, net)
	in := &Ingress{Connector: `EX01\Default Mailbox Delivery EX01`, FQDN: "ex01.contoso.com", Build: "15.2.1258.12", Via: "Mailbox Transport", Now: func() time.Time { return testNow }}
	addr := serveIngress(t, &ingressBackend{in: in, stamp: Stamp{Accept: PermitAll, Org: OrgFill}, target: tr})
	send(t, addr, "Subject: hi\r\n"+HeaderNetworkMessageID+": 11111111-2222-3333-4444-555555555555\r\n\r\nbody\r\n", "alice@contoso.com")
	<-net.sent
	m := SplitMessage([]byte(net.bodies("alice@contoso.com")[0]))
	var names []string
	for _, f := range m.Fields() {
		names = append(names, f.Name)
	}
	// Fill order: OriginalArrivalTime, AuthAs then AuthSource, the
	// original client and server, then a Message-Id; the Network-Message-Id
	// that came along is kept.
	want := []string{"Received", "Subject", HeaderNetworkMessageID, HeaderOriginalArrival, HeaderAuthAs, HeaderAuthSource, HeaderOrigClientIP, HeaderOrigServerIP, "Message-ID"}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Errorf("fields = %v\nwant %v", names, want)
	}
	if v := m.Get(HeaderNetworkMessageID); v != "11111111-2222-3333-4444-555555555555" {
		t.Errorf("Network-Message-Id = %q, want the peer's", v)
	}
	if v := m.Get(HeaderAuthAs); v != "Internal" {
		t.Errorf("AuthAs = %q, want Internal", v)
	}
	if v := m.Get("Received"); !strings.Contains(v, " via Mailbox Transport; ") {
		t.Errorf("Received = %q, want via Mailbox Transport", v)
	}
}

func TestIngressHopCount(t *testing.T) {
	net := newFakeNet()
	tr := labTransport(t, net)
	addr := serveIngress(t, &ingressBackend{stamp: Stamp{Accept: PermitAll, Org: OrgFill}, target: tr})
	hops := func(n int) string {
		return strings.Repeat("Received: from a by b; Fri, 5 Aug 2016 16:24:41 -0700\r\n", n) + "Subject: loop\r\n\r\nx\r\n"
	}
	for _, tc := range []struct {
		hops int
		want string
	}{
		{MaxHopCount - 1, "250 2.6.0 "},
		{MaxHopCount, "554 5.4.6 Hop count exceeded - possible mail loop"},
		{MaxHopCount + 5, "554 5.4.6 Hop count exceeded - possible mail loop"},
	} {
		if got := send(t, addr, hops(tc.hops), "alice@contoso.com"); !strings.HasPrefix(got, tc.want) {
			t.Errorf("%d Received fields: reply %q, want %q", tc.hops, got, tc.want)
		}
	}
	waitFor(t, "the queue to empty", func() bool { return len(tr.Messages("")) == 0 })
	if n := len(net.bodies("alice@contoso.com")); n != 1 {
		t.Errorf("%d messages went on, want only the one under the limit", n)
	}
}

// fakeStore is a MailboxStore in memory.
type fakeStore struct {
	mu    sync.Mutex
	err   error           // for the whole call
	bad   map[string]bool // mailboxes that fail
	uid   uint32
	saved map[string][]string
	seen  map[string]uint32 // id NUL mailbox -> UID, as store.DeliverOnce
}

func (s *fakeStore) StoreMessage(ctx context.Context, id string, msg []byte, mailboxes []string) ([]StoreResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, s.err
	}
	out := make([]StoreResult, len(mailboxes))
	for i, mb := range mailboxes {
		if s.bad[mb] {
			out[i].Err = errors.New("no such mailbox")
			continue
		}
		if uid, ok := s.seen[id+"\x00"+mb]; ok && id != "" {
			out[i].UID, out[i].Duplicate = uid, true
			continue
		}
		s.uid++
		out[i].UID = s.uid
		if s.seen == nil {
			s.seen = map[string]uint32{}
		}
		s.seen[id+"\x00"+mb] = s.uid
		s.saved[mb] = append(s.saved[mb], string(msg))
	}
	return out, nil
}

func TestIngressMailboxDelivery(t *testing.T) {
	tr := labTransport(t, newFakeNet())
	st := &fakeStore{bad: map[string]bool{"bob@contoso.com": true}, uid: 41, saved: map[string][]string{}}
	target := &MailboxDelivery{Store: st, Transport: tr, Database: "mailbox database 0123456789"}
	addr := serveIngress(t, &ingressBackend{stamp: Stamp{Accept: PermitAll, Org: OrgFill}, target: target})
	got := send(t, addr, "Subject: hi\r\nMessage-ID: <m2@fabrikam.com>\r\n\r\nbody\r\n", "alice@contoso.com", "bob@contoso.com")
	if want := "250 2.6.0 <m2@fabrikam.com> [InternalId=42, Hostname=ex01.contoso.com] "; !strings.HasPrefix(got, want) {
		t.Errorf("DATA reply = %q, want prefix %q", got, want)
	}
	st.mu.Lock()
	saved := st.saved["alice@contoso.com"]
	st.mu.Unlock()
	if len(saved) != 1 {
		t.Fatalf("alice's mailbox holds %d messages, want 1", len(saved))
	}
	fields := SplitMessage([]byte(saved[0])).Fields()
	if last := fields[len(fields)-1]; last.Name != HeaderMessageLatency || !strings.HasPrefix(string(last.Raw), HeaderMessageLatency+": SRV=ex01.contoso.com:TOTAL=") {
		t.Errorf("last field = %q, want MessageLatency", last.Raw)
	}
	evs, _, err := tr.Tracking().Search(TrackingQuery{MessageID: "<m2@fabrikam.com>"})
	if err != nil || len(evs) != 1 {
		t.Fatalf("tracking = %+v, %v; want one DELIVER", evs, err)
	}
	e := evs[0]
	if e.EventID != EventDeliver || e.Source != SourceStoreDriver || e.InternalMessageID != 42 || strings.Join(e.Recipients, ";") != "alice@contoso.com" ||
		e.SourceContext != "MDB:mailbox database 0123456789" || e.TotalBytes != int64(len(saved[0])) || e.ConnectorID != `EX01\Default EX01` {
		t.Errorf("DELIVER = %+v", e)
	}
}

// failingTarget fails at one step of a delivery.
type failingTarget struct {
	at      string // "start", "rcpt", "body", "commit"
	err     error
	aborted atomic.Bool
}

func (f *failingTarget) StartDelivery(ctx context.Context, m *Message) (Delivery, error) {
	if f.at == "start" {
		return nil, f.err
	}
	return f, nil
}
func (f *failingTarget) AddRcpt(context.Context, Recipient) error { return f.errAt("rcpt") }
func (f *failingTarget) Body(context.Context, []byte) error       { return f.errAt("body") }
func (f *failingTarget) Commit(context.Context) error             { return f.errAt("commit") }
func (f *failingTarget) Abort(context.Context) error              { f.aborted.Store(true); return nil }
func (f *failingTarget) errAt(step string) error {
	if f.at == step {
		return f.err
	}
	return nil
}

func TestIngressTargetFailureReplies(t *testing.T) {
	tr := labTransport(t, newFakeNet())
	for _, tc := range []struct {
		name   string
		target Target
		want   string
	}{
		{"queue down", &failingTarget{at: "commit", err: errors.New("disk full")}, "452 4.3.1 Insufficient system resources"},
		{"start fails", &failingTarget{at: "start", err: errors.New("no")}, "452 4.3.1 Insufficient system resources"},
		{"rcpt refused", &failingTarget{at: "rcpt", err: smtpd.ReplyRecipientNotFound}, "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup"},
		{"store too large", &MailboxDelivery{Store: &fakeStore{err: fmt.Errorf("store: %w", ErrMessageTooLarge)}, Transport: tr}, "552 5.3.4 Message size exceeds fixed maximum message size"},
		{"store broken", &MailboxDelivery{Store: &fakeStore{err: errors.New("bolt: disk I/O")}, Transport: tr}, "452 4.3.1 Insufficient system resources"},
		{"no mailbox took it", &MailboxDelivery{Store: &fakeStore{bad: map[string]bool{"alice@contoso.com": true}}, Transport: tr}, "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := serveIngress(t, &ingressBackend{stamp: Stamp{Accept: PermitAll, Org: OrgFill}, target: tc.target})
			if got := send(t, addr, "Subject: x\r\n\r\nbody\r\n", "alice@contoso.com"); got != tc.want {
				t.Errorf("DATA reply = %q, want %q", got, tc.want)
			}
			if f, ok := tc.target.(*failingTarget); ok && f.at == "rcpt" && !f.aborted.Load() {
				t.Error("a delivery that failed in AddRcpt was not aborted")
			}
		})
	}
}

func TestIngressConnectionContext(t *testing.T) {
	b := &ingressBackend{stamp: Stamp{Accept: PermitAll, Org: OrgFill}, target: &failingTarget{}, ctxs: make(chan context.Context, 1)}
	addr := serveIngress(t, b)
	send(t, addr, "Subject: x\r\n\r\nbody\r\n", "alice@contoso.com")
	ctx := <-b.ctxs
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the connection's context was not cancelled after QUIT")
	}
}

func TestBytesInPlaceKeepsTheBody(t *testing.T) {
	buf := make([]byte, headroom, headroom+64)
	buf = append(buf, "Subject: x\nFrom: y\n\nthe body\r\n"...)
	data := buf[headroom:]
	m := SplitMessage(data)
	want := string(m.Bytes([]string{"Received: from a"}, []string{"X-A: 1"}))
	out := m.BytesInPlace(buf, []string{"Received: from a"}, []string{"X-A: 1"})
	if string(out) != want {
		t.Errorf("BytesInPlace = %q, want %q", out, want)
	}
	if &out[len(out)-1] != &buf[len(buf)-1] {
		t.Error("BytesInPlace copied the body")
	}
	// Without room in front it still assembles the message.
	m = SplitMessage([]byte("Subject: x\r\n\r\nb"))
	if got := string(m.BytesInPlace([]byte("Subject: x\r\n\r\nb"), []string{"Received: r"}, nil)); got != "Received: r\r\nSubject: x\r\n\r\nb" {
		t.Errorf("BytesInPlace without headroom = %q", got)
	}
}

// receiveConn is a ReceiveConn without a network connection.
type receiveConn struct{}

func (receiveConn) Context() context.Context { return context.Background() }
func (receiveConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 9), Port: 40000}
}
func (receiveConn) LocalAddr() net.Addr       { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 25} }
func (receiveConn) HeloName() string          { return "mx.fabrikam.com" }
func (receiveConn) TLS() *tls.ConnectionState { return nil }
func (receiveConn) Logger() *slog.Logger      { return slog.New(slog.DiscardHandler) }

// TestIngressStampsInPlace: a message that fits in the read buffer leaves
// Ingress where it was read, this hop's header section written into the
// headroom in front of its body: the body is not copied.
func TestIngressStampsInPlace(t *testing.T) {
	in := &Ingress{Connector: `EX01\Default Frontend EX01`, FQDN: "ex01.contoso.com", Build: "15.2.1258.12", Via: "Frontend Transport", Now: func() time.Time { return testNow }}
	msg := "From: carol@fabrikam.com\r\nSubject: in place\r\n\r\n" + strings.Repeat("0123456789abcdef\r\n", 1000)
	st := Stamp{Accept: AcceptHeaders(AnonymousUsers), Org: OrgStamp, AuthAs: "Anonymous", Date: true}
	a, err := in.Prepare(receiveConn{}, &Envelope{From: "carol@fabrikam.com", Rcpts: []Recipient{{Address: "alice@contoso.com"}}}, st, strings.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Release()
	got := SplitMessage(a.Data)
	if string(got.Body) != msg[strings.Index(msg, "\r\n\r\n")+4:] || got.Get("Subject") != "in place" || got.Get(HeaderAuthAs) != "Anonymous" || got.Count("Received") != 1 {
		t.Fatalf("stamped message:\n%.600s", a.Data)
	}
	// The read buffer is membudget's: headroom, then the message, then the
	// rest of its capacity; Data ends where the message ended.
	if spare := cap(a.Data) - len(a.Data); spare != membudget.Threshold-headroom-len(msg) {
		t.Errorf("Data has %d bytes of capacity after it, want %d: the message was copied", spare, membudget.Threshold-headroom-len(msg))
	}
}
