package httpd

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Subscribe, GetEvents, GetStreamingEvents and Unsubscribe (EWS
// notification operations, [MS-OXWSNTIF]).

// validateSubscribe checks what the schema says of a notification
// request: SubscriptionTimeoutType is 1 to 1440 minutes,
// StreamingSubscriptionConnectionTimeoutType 1 to 30, and EventType one of
// NotificationEventTypeType.
func validateSubscribe(op string, n *xnode) error {
	minutes := func(elem, v string, max int) error {
		m, err := strconv.Atoi(v)
		if err != nil || m < 1 || m > max {
			return errSchema{fmt.Sprintf("The '%s' element is invalid - The value '%s' is invalid according to its datatype.", elem, v)}
		}
		return nil
	}
	switch op {
	case "Subscribe":
		for _, kind := range []string{"PullSubscriptionRequest", "StreamingSubscriptionRequest", "PushSubscriptionRequest"} {
			req := n.child(kind)
			if req == nil {
				continue
			}
			for _, t := range req.child("EventTypes").all("EventType") {
				if _, ok := ewsEventTypes[strings.TrimSpace(t.Text)]; !ok {
					return errSchema{fmt.Sprintf("The 'EventType' element is invalid - The value '%s' is invalid according to its datatype.", strings.TrimSpace(t.Text))}
				}
			}
			if len(req.child("EventTypes").all("EventType")) == 0 {
				return errSchema{fmt.Sprintf("The element '%s' has incomplete content. List of possible elements expected: 'EventTypes'.", kind)}
			}
			if kind == "PullSubscriptionRequest" {
				return minutes("Timeout", req.text("Timeout"), 1440)
			}
			return nil
		}
		return errSchema{"The element 'Subscribe' has incomplete content. List of possible elements expected: 'PullSubscriptionRequest, PushSubscriptionRequest, StreamingSubscriptionRequest'."}
	case "GetStreamingEvents":
		if len(n.child("SubscriptionIds").all("SubscriptionId")) == 0 {
			return errSchema{"The element 'GetStreamingEvents' has incomplete content. List of possible elements expected: 'SubscriptionIds'."}
		}
		return minutes("ConnectionTimeout", n.text("ConnectionTimeout"), 30)
	}
	return nil
}

// watcher is the backend's change feed, or nil.
func (c *ewsCall) watcher() MailWatcher {
	mw, _ := c.h.b.(MailWatcher)
	return mw
}

func (c *ewsCall) subscribe() *el {
	fail := func(rm responseMessage) *el { return opResponse("Subscribe", []*el{respMsg("Subscribe", rm)}) }
	req, streaming := c.op.child("PullSubscriptionRequest"), false
	if req == nil {
		req, streaming = c.op.child("StreamingSubscriptionRequest"), true
	}
	mw := c.watcher()
	if req == nil || mw == nil {
		// Push subscriptions would have the server call a client URL;
		// exsim never dials outside the lab.
		return fail(errMessage("ErrorInvalidOperation", "This kind of subscription isn't supported by this server."))
	}
	n := c.h.notify
	s := &subscription{owner: strings.ToLower(c.u.Address), all: xsBool(req.attr("SubscribeToAllFolders")),
		folders: map[string]bool{}, types: map[MailEventKind]bool{}, streaming: streaming, lastUsed: c.h.cfg.Now()}
	for _, t := range req.child("EventTypes").all("EventType") {
		s.types[ewsEventTypes[strings.TrimSpace(t.Text)]] = true
	}
	if !streaming {
		m, _ := strconv.Atoi(req.text("Timeout"))
		s.timeout = time.Duration(m) * n.minute
	}
	if refs := folderRefs(req.child("FolderIds")); len(refs) > 0 {
		t := c.h.treeOrFail(c.r, c.u, c.log)
		if t == nil {
			return fail(ewsInternal)
		}
		for _, ref := range refs {
			f, bad := t.resolve(c.u, ref)
			if bad != nil {
				return fail(*bad)
			}
			s.folders[strings.ToLower(f.Key)] = true
		}
	} else if !s.all {
		return fail(errMessage("ErrorInvalidSubscriptionRequest", "The subscription request must name folders or subscribe to all folders."))
	}

	n.mu.Lock()
	defer n.mu.Unlock()
	n.sweep()
	count := 0
	for _, o := range n.subs {
		if o.owner == s.owner {
			count++
		}
	}
	if count >= maxSubscriptionsPerUser {
		return fail(ewsExceededSubscriptions)
	}
	f, err := n.feedFor(mw, c.u.Address)
	if err != nil {
		c.log.Error("ews: watch mailbox", "err", err)
		return fail(ewsInternal)
	}
	f.pull()
	f.mu.Lock()
	s.pos = f.next - 1
	if wm := req.text("Watermark"); wm != "" && !streaming {
		// Resubscribing from a watermark resumes where it left off, as
		// long as the events after it are still kept.
		epoch, seq, ok := parseWatermark(wm)
		if !ok || !f.valid(epoch, seq) {
			f.mu.Unlock()
			if f.refs == 0 {
				f.watch.Close()
				delete(n.feeds, f.addr)
			}
			return fail(ewsInvalidWatermark)
		}
		s.pos = seq
	}
	f.mu.Unlock()
	n.seq++
	// Exchange's subscription ids carry the server that holds them; so
	// do these, with a number unique on this server.
	s.id = base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "%s\x00%d", c.h.cfg.FQDN, n.seq))
	s.feed = f
	f.refs++
	n.subs[s.id] = s
	c.log.Info("ews: subscribed", "sub", s.id, "streaming", streaming)
	body := []*el{T("m:SubscriptionId", s.id)}
	if !streaming {
		body = append(body, T("m:Watermark", watermark(f.epoch, s.pos)))
	}
	return opResponse("Subscribe", []*el{respMsg("Subscribe", okMessage(), body...)})
}

func (c *ewsCall) unsubscribe() *el {
	n := c.h.notify
	n.mu.Lock()
	defer n.mu.Unlock()
	id := c.op.text("SubscriptionId")
	if _, fail := n.lookup(id, c.u.Address); fail != nil {
		return opResponse("Unsubscribe", []*el{respMsg("Unsubscribe", *fail)})
	}
	n.drop(id, false)
	return opResponse("Unsubscribe", []*el{respMsg("Unsubscribe", okMessage())})
}

func (c *ewsCall) getEvents() *el {
	fail := func(rm responseMessage) *el { return opResponse("GetEvents", []*el{respMsg("GetEvents", rm)}) }
	n := c.h.notify
	n.mu.Lock()
	defer n.mu.Unlock()
	s, bad := n.lookup(c.op.text("SubscriptionId"), c.u.Address)
	if bad != nil {
		return fail(*bad)
	}
	if s.streaming {
		return fail(ewsInvalidPullSubscription)
	}
	f := s.feed
	f.pull()
	f.mu.Lock()
	defer f.mu.Unlock()
	prev := c.op.text("Watermark")
	epoch, seq, ok := parseWatermark(prev)
	if !ok || !f.valid(epoch, seq) {
		return fail(ewsInvalidWatermark)
	}
	s.lastUsed = c.h.cfg.Now()
	evs, last, more := f.after(s, seq, maxEventsPerResponse)
	return opResponse("GetEvents", []*el{respMsg("GetEvents", okMessage(), notificationXML("m:Notification", s, prev, evs, last, more))})
}

// notificationXML is a Notification: the events, or a StatusEvent with
// the watermark to go on from when there are none.
func notificationXML(elem string, s *subscription, prev string, evs []loggedEvent, last uint64, more bool) *el {
	n := E(elem, T("t:SubscriptionId", s.id), T("t:PreviousWatermark", prev), tBool("t:MoreEvents", more))
	if len(evs) == 0 {
		return n.add(E("t:StatusEvent", T("t:Watermark", watermark(s.feed.epoch, last))))
	}
	for _, e := range evs {
		n.add(eventXML(s.feed.epoch, e))
	}
	return n
}

// eventXML is one event (types.xsd BaseObjectChangedEventType and
// MovedCopiedEventType: Watermark, TimeStamp, the object, its parent,
// then where it was).
func eventXML(epoch uint64, e loggedEvent) *el {
	ev := e.ev
	x := E(ev.Kind.elem(), T("t:Watermark", watermark(epoch, e.seq)), T("t:TimeStamp", ewsTime(e.at)))
	folderRef := func(elem, key string) *el {
		return T(elem, "").A("Id", ewsFolderID(key)).A("ChangeKey", changeKey(1, key))
	}
	if ev.IsFolder {
		x.add(folderRef("t:FolderId", ev.Folder))
		x.add(folderRef("t:ParentFolderId", parentFolderKey(ev.Folder)))
		if ev.OldFolder != "" {
			x.add(folderRef("t:OldFolderId", ev.OldFolder))
			x.add(folderRef("t:OldParentFolderId", parentFolderKey(ev.OldFolder)))
		}
		return x
	}
	x.add(T("t:ItemId", "").A("Id", encodeItemID(ev.Folder, ev.ID)).A("ChangeKey", changeKey(9, ev.ID)))
	x.add(folderRef("t:ParentFolderId", ev.Folder))
	if ev.OldFolder != "" {
		x.add(T("t:OldItemId", "").A("Id", encodeItemID(ev.OldFolder, ev.OldID)).A("ChangeKey", changeKey(9, ev.OldID)))
		x.add(folderRef("t:OldParentFolderId", ev.OldFolder))
	}
	return x
}

// getStreamingEvents holds the connection open for ConnectionTimeout
// minutes and writes one SOAP envelope per batch of events, a
// ConnectionStatus OK envelope when it has been quiet for the keep-alive
// interval, and ConnectionStatus Closed at the end, in one chunked
// response as Exchange does. It answers itself and returns nil.
func (c *ewsCall) getStreamingEvents() *el {
	n := c.h.notify
	ids := c.op.child("SubscriptionIds").all("SubscriptionId")
	minutes, _ := strconv.Atoi(c.op.text("ConnectionTimeout"))
	var subs []*subscription
	n.mu.Lock()
	for _, id := range ids {
		s, bad := n.lookup(strings.TrimSpace(id.Text), c.u.Address)
		if bad == nil && !s.streaming {
			bad = &ewsInvalidSubscription
		}
		if bad != nil {
			n.mu.Unlock()
			// The first bad id answers for all, with the ids that failed.
			return opResponse("GetStreamingEvents", []*el{respMsg("GetStreamingEvents", *bad,
				E("m:ErrorSubscriptionIds", T("m:SubscriptionId", strings.TrimSpace(id.Text))))})
		}
		subs = append(subs, s)
	}
	wake := make(chan struct{}, 1)
	stop := make(chan struct{})
	defer close(stop)
	feeds := map[*mailFeed]bool{}
	for _, s := range subs {
		s.streams++
		if !feeds[s.feed] {
			feeds[s.feed] = true
			go s.feed.forward(wake, stop)
		}
	}
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		for _, s := range subs {
			s.streams--
			s.lastUsed = c.h.cfg.Now()
		}
		n.mu.Unlock()
	}()

	w := c.w
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.Header().Set("Cache-Control", "private")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	send := func(msg *el) bool {
		b, err := c.h.soapBytes(opResponse("GetStreamingEvents", []*el{msg}))
		if err == nil {
			_, err = w.Write(b)
		}
		if err == nil {
			err = rc.Flush()
		}
		return err == nil
	}
	status := func(s string) *el {
		return respMsg("GetStreamingEvents", okMessage(), T("m:ConnectionStatus", s))
	}
	end := time.NewTimer(time.Duration(minutes) * n.minute)
	defer end.Stop()
	quiet := time.NewTimer(n.keepAlive)
	defer quiet.Stop()
	for {
		if batch := n.streamBatch(subs); batch != nil {
			if !send(respMsg("GetStreamingEvents", okMessage(), batch)) {
				return nil
			}
			quiet.Reset(n.keepAlive)
			continue
		}
		select {
		case <-wake:
		case <-quiet.C:
			if !send(status("OK")) {
				return nil
			}
			quiet.Reset(n.keepAlive)
		case <-end.C:
			send(status("Closed"))
			return nil
		case <-n.done:
			send(status("Closed"))
			return nil
		case <-c.r.Context().Done():
			return nil
		}
	}
}

// streamBatch is the Notifications of the events the subscriptions have
// not sent yet, or nil; it advances their positions.
func (n *notifier) streamBatch(subs []*subscription) *el {
	var list []*el
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, s := range subs {
		if n.subs[s.id] != s {
			continue // unsubscribed or expired meanwhile
		}
		f := s.feed
		f.pull()
		f.mu.Lock()
		if f.first() > s.pos+1 {
			s.pos = f.first() - 1 // the log moved on without this stream
		}
		evs, last, more := f.after(s, s.pos, maxEventsPerResponse)
		prev := watermark(f.epoch, s.pos)
		s.pos = last
		f.mu.Unlock()
		if len(evs) > 0 {
			list = append(list, notificationXML("m:Notification", s, prev, evs, last, more))
		}
	}
	if len(list) == 0 {
		return nil
	}
	return E("m:Notifications", list...)
}

// forward signals wake whenever f logs events, until stop closes.
func (f *mailFeed) forward(wake chan<- struct{}, stop <-chan struct{}) {
	for {
		f.mu.Lock()
		ch := f.changed
		f.mu.Unlock()
		select {
		case <-ch:
			select {
			case wake <- struct{}{}:
			default:
			}
		case <-stop:
			return
		}
	}
}
