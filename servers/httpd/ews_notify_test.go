package httpd

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"text/template"
	"time"
)

// fakeWatch is fakeStore's MailWatch.
type fakeWatch struct {
	s     *fakeStore
	ready chan struct{}
	mu    sync.Mutex
	queue []MailEvent
	once  sync.Once
}

var _ MailWatcher = (*fakeStore)(nil)

func (s *fakeStore) WatchMail(address string) (MailWatch, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.find(address) == nil {
		return nil, ErrNotFound
	}
	w := &fakeWatch{s: s, ready: make(chan struct{}, 1)}
	s.watches[w] = strings.ToLower(address)
	return w, nil
}

func (w *fakeWatch) Ready() <-chan struct{} { return w.ready }

func (w *fakeWatch) Events() []MailEvent {
	w.mu.Lock()
	defer func() { w.queue = nil; w.mu.Unlock() }()
	return w.queue
}

func (w *fakeWatch) Close() {
	w.s.mu.Lock()
	delete(w.s.watches, w)
	w.s.mu.Unlock()
	w.once.Do(func() { close(w.ready) })
}

// publish hands e to the watches of address; s.mu is held.
func (s *fakeStore) publish(address string, e MailEvent) {
	for w, a := range s.watches {
		if a != strings.ToLower(address) {
			continue
		}
		w.mu.Lock()
		w.queue = append(w.queue, e)
		w.mu.Unlock()
		select {
		case w.ready <- struct{}{}:
		default:
		}
	}
}

// deliverNew stores a message in address's Inbox as transport delivery
// does: Created, then NewMail.
func (s *fakeStore) deliverNew(t *testing.T, address, subject string) string {
	msg := "From: Carol <carol@fabrikam.com>\r\nTo: <" + address + ">\r\nSubject: " + subject + "\r\nDate: Tue, 02 Apr 2024 09:00:00 +0000\r\n\r\nnew mail\r\n"
	id, err := s.Append(t.Context(), address, FolderInbox, []byte(msg), nil)
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	s.publish(address, MailEvent{Kind: EventNewMail, Folder: FolderInbox, ID: id})
	s.mu.Unlock()
	return "<!-- delivered: " + subject + " -->"
}

const (
	ewsAllEvents = `<t:EventTypes><t:EventType>NewMailEvent</t:EventType><t:EventType>CreatedEvent</t:EventType><t:EventType>ModifiedEvent</t:EventType>
		<t:EventType>MovedEvent</t:EventType><t:EventType>CopiedEvent</t:EventType><t:EventType>DeletedEvent</t:EventType></t:EventTypes>`
	ewsPullInbox = `<m:Subscribe><m:PullSubscriptionRequest><t:FolderIds><t:DistinguishedFolderId Id="inbox"/><t:DistinguishedFolderId Id="drafts"/></t:FolderIds>` +
		ewsAllEvents + `<t:Timeout>10</t:Timeout></m:PullSubscriptionRequest></m:Subscribe>`
	ewsGetEventsLast = `<m:GetEvents><m:SubscriptionId>{{last "SubscriptionId"}}</m:SubscriptionId><m:Watermark>{{last "Watermark"}}</m:Watermark></m:GetEvents>`
)

// TestEWSNotificationsGolden: pull and streaming subscriptions see the
// changes of any client (EWS here, the store's other writers in the roles
// tests), and Exchange's errors for what is unknown, expired or invalid.
func TestEWSNotificationsGolden(t *testing.T) {
	var clock atomic.Int64
	clock.Store(fakeNow.UnixNano())
	fs, ts := goldenServer(t, func() time.Time { return time.Unix(0, clock.Load()).UTC() })
	ts.handler.notify.minute = 300 * time.Millisecond // ConnectionTimeout 1 streams this long
	ts.handler.notify.keepAlive = time.Hour           // no keep-alives in the transcript
	funcs := template.FuncMap{
		"deliver": func(subject string) string { return fs.deliverNew(t, "alice@contoso.com", subject) },
		"advance": func(minutes int) string {
			clock.Add(int64(time.Duration(minutes) * time.Minute))
			return fmt.Sprintf("<!-- %d minutes later -->", minutes)
		},
	}
	steps := []ewsStep{
		{"", ewsPullInbox},
		{"", ewsGetEventsLast},
		{"", `{{deliver "Hello events"}}<m:UpdateItem ConflictResolution="AutoResolve" MessageDisposition="SaveOnly"><m:ItemChanges><t:ItemChange><t:ItemId Id="{{item "INBOX" "1"}}"/><t:Updates>
			<t:SetItemField><t:FieldURI FieldURI="message:IsRead"/><t:Message><t:IsRead>true</t:IsRead></t:Message></t:SetItemField></t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>`},
		{"", `<m:MoveItem><m:ToFolderId><t:DistinguishedFolderId Id="junkemail"/></m:ToFolderId><m:ItemIds><t:ItemId Id="{{item "INBOX" "3"}}"/></m:ItemIds></m:MoveItem>`},
		{"", `<m:DeleteItem DeleteType="HardDelete"><m:ItemIds><t:ItemId Id="{{item "INBOX" "2"}}"/></m:ItemIds></m:DeleteItem>`},
		{"", `<m:CreateItem MessageDisposition="SaveOnly"><m:Items><t:Message><t:Subject>Draft</t:Subject></t:Message></m:Items></m:CreateItem>`},
		{"", `<m:GetEvents><m:SubscriptionId>{{last "SubscriptionId"}}</m:SubscriptionId><m:Watermark>{{last "Watermark"}}</m:Watermark></m:GetEvents>`},
		{"", ewsGetEventsLast},
		{"", `<m:GetEvents><m:SubscriptionId>{{last "SubscriptionId"}}</m:SubscriptionId><m:Watermark>AQAAAAAAAAB3AAAAAAAAAAE=</m:Watermark></m:GetEvents>`},
		{"", `<m:GetEvents><m:SubscriptionId>bm8gc3VjaA==</m:SubscriptionId><m:Watermark>{{last "Watermark"}}</m:Watermark></m:GetEvents>`},
		{"", `<m:GetStreamingEvents><m:SubscriptionIds><t:SubscriptionId>{{last "SubscriptionId"}}</t:SubscriptionId></m:SubscriptionIds><m:ConnectionTimeout>1</m:ConnectionTimeout></m:GetStreamingEvents>`},
		{"", `<m:Unsubscribe><m:SubscriptionId>{{last "SubscriptionId"}}</m:SubscriptionId></m:Unsubscribe>`},
		{"", ewsGetEventsLast},
		// Streaming: events waiting when the connection opens come first,
		// then ConnectionStatus Closed when ConnectionTimeout ends it.
		{"", `<m:Subscribe><m:StreamingSubscriptionRequest SubscribeToAllFolders="true">` + ewsAllEvents + `</m:StreamingSubscriptionRequest></m:Subscribe>`},
		{"", `{{deliver "Streamed"}}<m:GetStreamingEvents><m:SubscriptionIds><t:SubscriptionId>{{last "SubscriptionId"}}</t:SubscriptionId></m:SubscriptionIds><m:ConnectionTimeout>1</m:ConnectionTimeout></m:GetStreamingEvents>`},
		{"", `<m:GetEvents><m:SubscriptionId>{{last "SubscriptionId"}}</m:SubscriptionId><m:Watermark>AQAAAAAAAAABAAAAAAAAAAE=</m:Watermark></m:GetEvents>`},
		// A pull subscription not polled within its Timeout expires.
		{"", strings.Replace(ewsPullInbox, "<t:Timeout>10<", "<t:Timeout>1<", 1)},
		{"", `{{advance 2}}` + ewsGetEventsLast},
		// Schema: unknown event types and timeouts out of range.
		{"", `<m:Subscribe><m:PullSubscriptionRequest><t:FolderIds><t:DistinguishedFolderId Id="inbox"/></t:FolderIds><t:EventTypes><t:EventType>ReadEvent</t:EventType></t:EventTypes><t:Timeout>10</t:Timeout></m:PullSubscriptionRequest></m:Subscribe>`},
		{"", `<m:Subscribe><m:PullSubscriptionRequest><t:FolderIds><t:DistinguishedFolderId Id="inbox"/></t:FolderIds>` + ewsAllEvents + `<t:Timeout>1441</t:Timeout></m:PullSubscriptionRequest></m:Subscribe>`},
		{"", `<m:GetStreamingEvents><m:SubscriptionIds><t:SubscriptionId>x</t:SubscriptionId></m:SubscriptionIds><m:ConnectionTimeout>31</m:ConnectionTimeout></m:GetStreamingEvents>`},
		{"", `<m:Subscribe><m:PullSubscriptionRequest><t:FolderIds><t:DistinguishedFolderId Id="archiveinbox"/></t:FolderIds>` + ewsAllEvents + `<t:Timeout>5</t:Timeout></m:PullSubscriptionRequest></m:Subscribe>`},
	}
	replayEWS(t, ts, "notify", steps, funcs)
}

// TestEWSStreamingKeepAlive: a quiet stream says ConnectionStatus OK at
// each keep-alive interval and ends with Closed.
func TestEWSStreamingKeepAlive(t *testing.T) {
	_, ts := goldenServer(t, nil)
	ts.handler.notify.minute = 2 * time.Second
	ts.handler.notify.keepAlive = 20 * time.Millisecond
	_, sub := postEWS(t, ts, ewsEnvelope(`<m:Subscribe><m:StreamingSubscriptionRequest><t:FolderIds><t:DistinguishedFolderId Id="inbox"/></t:FolderIds>`+
		ewsAllEvents+`</m:StreamingSubscriptionRequest></m:Subscribe>`))
	id := between(sub, "<m:SubscriptionId>", "</m:SubscriptionId>")
	if id == "" {
		t.Fatalf("Subscribe: %s", sub)
	}
	resp, got := postEWS(t, ts, ewsEnvelope(`<m:GetStreamingEvents><m:SubscriptionIds><t:SubscriptionId>`+id+
		`</t:SubscriptionId></m:SubscriptionIds><m:ConnectionTimeout>1</m:ConnectionTimeout></m:GetStreamingEvents>`))
	envelopes := strings.Count(got, "</s:Envelope>")
	oks := strings.Count(got, "<m:ConnectionStatus>OK</m:ConnectionStatus>")
	if resp.StatusCode != 200 || resp.ContentLength != -1 || oks == 0 || oks != envelopes-1 ||
		!strings.HasSuffix(got, "<m:ConnectionStatus>Closed</m:ConnectionStatus></m:GetStreamingEventsResponseMessage></m:ResponseMessages></m:GetStreamingEventsResponse></s:Body></s:Envelope>") {
		t.Errorf("stream: status %d, length %d, %d envelopes, %d keep-alives:\n%s", resp.StatusCode, resp.ContentLength, envelopes, oks, got)
	}
}

// TestEWSStreamingEndsOnClose: closing the handler (server shutdown)
// ends open streams with ConnectionStatus Closed.
func TestEWSStreamingEndsOnClose(t *testing.T) {
	_, ts := goldenServer(t, nil)
	_, sub := postEWS(t, ts, ewsEnvelope(`<m:Subscribe><m:StreamingSubscriptionRequest SubscribeToAllFolders="true">`+
		ewsAllEvents+`</m:StreamingSubscriptionRequest></m:Subscribe>`))
	id := between(sub, "<m:SubscriptionId>", "</m:SubscriptionId>")
	done := make(chan string)
	go func() {
		_, got := postEWS(t, ts, ewsEnvelope(`<m:GetStreamingEvents><m:SubscriptionIds><t:SubscriptionId>`+id+
			`</t:SubscriptionId></m:SubscriptionIds><m:ConnectionTimeout>30</m:ConnectionTimeout></m:GetStreamingEvents>`))
		done <- got
	}()
	// Wait until the stream holds the subscription, then shut down.
	for {
		ts.handler.notify.mu.Lock()
		open := 0
		for _, s := range ts.handler.notify.subs {
			open += s.streams
		}
		ts.handler.notify.mu.Unlock()
		if open > 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	ts.handler.Close()
	if got := <-done; !strings.Contains(got, "<m:ConnectionStatus>Closed</m:ConnectionStatus>") {
		t.Errorf("stream after Close:\n%s", got)
	}
}

func between(s, start, end string) string {
	_, after, ok := strings.Cut(s, start)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(after, end)
	return v
}
