package httpd

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-message/mail"
)

// Calendar items: CreateItem of a CalendarItem (with the meeting requests
// SendMeetingInvitations asks for), FindItem with a CalendarView, and the
// CalendarItem rendering of GetItem and FindItem. A calendar item is kept
// as a message in the Calendar folder whose text/calendar part holds the
// event; a meeting request is the same event as METHOD:REQUEST, sent
// through the transport like any message (EWS reference: CreateItem
// operation (calendar item); [MS-OXCICAL] for the iCalendar Exchange
// writes).

// globalObjectIDPrefix starts the UID Exchange gives a new meeting: the
// PidLidGlobalObjectId byte array id ([MS-OXOCAL] 2.2.1.27) in hex,
// zeroed instance date and creation time, and the length (16) of the
// data that follows.
const globalObjectIDPrefix = "040000008200E00074C5B7101A82E0080000000000000000000000000000000000000000" + "10000000"

// newMeetingUID is the UID of a new item: 16 bytes that Exchange makes
// random and exsim derives from the item and the creation time (the same
// item created at the same nanosecond is the same item), so that a
// replayed transcript gets the same UID.
func newMeetingUID(ev *Event, now time.Time) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%d\x00%s\x00%s\x00%s\x00%v", ev.Organizer, now.UnixNano(), ev.Start, ev.End, ev.Summary, ev.Attendees)
	return globalObjectIDPrefix + strings.ToUpper(hex.EncodeToString(h.Sum(nil)[:16]))
}

// readAppointment reads a CalendarItem of a CreateItem request.
func readAppointment(n *xnode, organizer *User, now time.Time) (*Event, *responseMessage) {
	ev := &Event{
		Summary: n.text("Subject"), Location: n.text("Location"), Organizer: organizer.Address,
		OrganizerName: organizer.DisplayName, AllDay: xsBool(n.text("IsAllDayEvent")), BusyStatus: BusyBusy,
	}
	if b := n.child("Body"); b != nil {
		ev.Description = b.Text
		if strings.EqualFold(b.attr("BodyType"), "HTML") {
			ev.Description = htmlText(b.Text)
		}
	}
	if s := n.text("LegacyFreeBusyStatus"); s != "" {
		if !slices.Contains([]string{BusyFree, BusyTentative, BusyBusy, BusyOOF}, s) {
			return nil, &ewsInvalidCalendar
		}
		ev.BusyStatus = s
	}
	var err1, err2 error
	ev.Start, err1 = ewsDateTime(n.text("Start"))
	ev.End, err2 = ewsDateTime(n.text("End"))
	if err1 != nil || err2 != nil {
		return nil, &ewsInvalidCalendar
	}
	if ev.End.Before(ev.Start) {
		return nil, &ewsEndBeforeStart
	}
	if ev.AllDay {
		ev.Start = ev.Start.Truncate(24 * time.Hour)
		if ev.End = ev.End.Truncate(24 * time.Hour); !ev.End.After(ev.Start) {
			ev.End = ev.Start.AddDate(0, 0, 1)
		}
	}
	for _, l := range []struct{ elem, role string }{{"RequiredAttendees", "Required"}, {"OptionalAttendees", "Optional"}, {"Resources", "Resource"}} {
		for _, a := range n.child(l.elem).all("Attendee") {
			addr := a.path("Mailbox").text("EmailAddress")
			if _, err := mail.ParseAddress(addr); err != nil {
				return nil, &ewsInvalidRecipients
			}
			ev.Attendees = append(ev.Attendees, Attendee{Name: a.path("Mailbox").text("Name"), Address: addr, Role: l.role})
		}
	}
	ev.UID = newMeetingUID(ev, now)
	return ev, nil
}

// ewsDateTime reads an xs:dateTime (UTC, with an offset, or without a
// zone, read as UTC) or an xs:date.
func ewsDateTime(s string) (time.Time, error) {
	var err error
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02Z07:00", "2006-01-02"} {
		var t time.Time
		if t, err = time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, err
}

func htmlText(s string) string { return strings.TrimSpace(tagRE.ReplaceAllString(s, "")) }

// calendarMessage is ev as a message: the organizer's item (method
// PUBLISH, or REQUEST once requests went out) or a meeting request
// (request true: the attendee's copy is Tentative until answered, with
// the organizer's status as the intended one, as Exchange sends it).
func (c *ewsCall) calendarMessage(ev *Event, method string, request bool) ([]byte, error) {
	var h mail.Header
	h.SetDate(c.h.cfg.Now())
	h.SetAddressList("From", []*mail.Address{{Name: ev.OrganizerName, Address: ev.Organizer}})
	var to, cc []*mail.Address
	for _, a := range ev.Attendees {
		if a.Role == "Required" {
			to = append(to, &mail.Address{Name: a.Name, Address: a.Address})
		} else {
			cc = append(cc, &mail.Address{Name: a.Name, Address: a.Address})
		}
	}
	if len(to) > 0 {
		h.SetAddressList("To", to)
	}
	if len(cc) > 0 {
		h.SetAddressList("Cc", cc)
	}
	h.SetSubject(ev.Summary)
	var id [16]byte
	rand.Read(id[:])
	h.AddRaw([]byte("Message-ID: <" + hex.EncodeToString(id[:]) + "@" + c.h.cfg.FQDN + ">\r\n"))
	h.Set("Content-Language", "en-US")
	var ics icsWriter
	ics.line("BEGIN:VCALENDAR")
	ics.line("METHOD:" + method)
	ics.line("PRODID:" + icsProdID)
	ics.line("VERSION:2.0")
	intended := ""
	if request {
		e := *ev
		e.BusyStatus, intended = BusyTentative, ev.BusyStatus
		ics.vevent(e, c.h.cfg.Now(), intended)
	} else {
		ics.vevent(*ev, c.h.cfg.Now(), "")
	}
	ics.line("END:VCALENDAR")
	var buf bytes.Buffer
	w, err := mail.CreateInlineWriter(&buf, h)
	if err != nil {
		return nil, err
	}
	for _, p := range []struct {
		ctype  string
		params map[string]string
		body   string
	}{
		{"text/plain", map[string]string{"charset": "utf-8"}, strings.ReplaceAll(strings.ReplaceAll(ev.Description, "\r\n", "\n"), "\n", "\r\n")},
		{"text/calendar", map[string]string{"charset": "utf-8", "method": method}, string(ics.buf)},
	} {
		var ph mail.InlineHeader
		ph.SetContentType(p.ctype, p.params)
		pw, err := w.CreatePart(ph)
		if err != nil {
			return nil, err
		}
		io.WriteString(pw, p.body)
		pw.Close()
	}
	// Close writes the closing boundary: the bytes are read after it.
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// createCalendarItem saves a calendar item in the calendar (or
// SavedItemFolderId) and sends the meeting requests
// SendMeetingInvitations asks for: SendToNone, SendOnlyToAll (no copy in
// Sent Items) or SendToAllAndSaveCopy.
func (c *ewsCall) createCalendarItem(n *xnode) *el {
	const op = "CreateItem"
	mode := c.op.attr("SendMeetingInvitations")
	if !slices.Contains([]string{"SendToNone", "SendOnlyToAll", "SendToAllAndSaveCopy"}, mode) {
		return respMsg(op, ewsInvalidSendInvites)
	}
	ev, fail := readAppointment(n, c.u, c.h.cfg.Now())
	if fail != nil {
		return respMsg(op, *fail)
	}
	folder, fail := c.targetFolder(c.op.child("SavedItemFolderId"), FolderCalendar)
	if fail != nil {
		return respMsg(op, *fail)
	}
	send := mode != "SendToNone" && len(ev.Attendees) > 0
	if send {
		var rcpts []string
		for _, a := range ev.Attendees {
			rcpts = append(rcpts, a.Address)
		}
		req, err := c.calendarMessage(ev, "REQUEST", true)
		if err != nil {
			c.log.Error("ews: build meeting request", "err", err)
			return respMsg(op, ewsInternal)
		}
		saveIn := ""
		if mode == "SendToAllAndSaveCopy" {
			saveIn = FolderSentItems
		}
		if rm := c.send(rcpts, req, saveIn); rm.Class != "Success" {
			return respMsg(op, rm)
		}
	}
	// The organizer's item records whether requests went out
	// (MeetingRequestWasSent) in its METHOD.
	method := "PUBLISH"
	if send {
		method = "REQUEST"
	}
	raw, err := c.calendarMessage(ev, method, false)
	if err == nil {
		var id string
		if id, err = c.ms.Append(c.r.Context(), c.u.Address, folder, raw, []string{FlagSeen}); err == nil {
			return respMsg(op, okMessage(), E("m:Items", E("t:CalendarItem",
				T("t:ItemId", "").A("Id", encodeItemID(folder, id)).A("ChangeKey", changeKey(9, id)))))
		}
	}
	c.log.Error("ews: save calendar item", "err", err)
	return respMsg(op, ewsInternal)
}

// calendar reports whether the folder holds calendar items.
func (n *ewsFolderNode) calendar() bool { return n.Class == "IPF.Appointment" }

// calendarView is FindItem's CalendarView: the calendar items of a
// calendar folder that overlap [StartDate, EndDate), by start time, at
// most MaxEntriesReturned of them.
func (c *ewsCall) calendarView(n *ewsFolderNode, list []MessageInfo, view *xnode, shape ewsShape) *el {
	const op = "FindItem"
	if !n.calendar() {
		return respMsg(op, ewsCalendarViewFolder)
	}
	start, err1 := ewsDateTime(view.attr("StartDate"))
	end, err2 := ewsDateTime(view.attr("EndDate"))
	if err1 != nil || err2 != nil || end.Before(start) {
		return respMsg(op, ewsInvalidCalendar)
	}
	// Exchange caps a CalendarView at two years (and 1,000 items by
	// default throttling).
	if end.Sub(start) > 2*366*24*time.Hour {
		return respMsg(op, ewsCalendarViewRange)
	}
	limit := maxEWSPage
	if s := view.attr("MaxEntriesReturned"); s != "" {
		if m, err := strconv.Atoi(s); err == nil && m > 0 && m < limit {
			limit = m
		}
	}
	var found []*ewsItem
	for _, mi := range list {
		it := &ewsItem{folder: n.Key, mi: mi}
		if err := c.loadRaw(it); err != nil || it.ev == nil {
			continue
		}
		if it.ev.Start.Before(end) && it.ev.End.After(start) {
			found = append(found, it)
		}
	}
	slices.SortStableFunc(found, func(a, b *ewsItem) int { return a.ev.Start.Compare(b.ev.Start) })
	items := E("t:Items")
	for _, it := range found[:min(limit, len(found))] {
		items.add(itemXML(it, shape, false))
	}
	return respMsg(op, okMessage(), indexedView{}.rootFolder(min(limit, len(found)), len(found), items))
}

// itemEvent reads the event of a message in a calendar folder.
func itemEvent(folder string, m *shownMessage) *Event {
	if m == nil || m.Calendar == "" || !strings.EqualFold(folder, FolderCalendar) && !strings.HasPrefix(strings.ToLower(folder), "calendar/") {
		return nil
	}
	evs := ParseEvents([]byte(m.Calendar))
	if len(evs) == 0 {
		return nil
	}
	return &evs[0]
}

// calendarProps are the properties of CalendarItemType after ItemType's,
// in schema order (types.xsd).
var calendarProps = []itemProp{
	{"calendar:UID", false, true, func(it *ewsItem, s ewsShape) *el { return T("t:UID", it.ev.UID) }},
	{"calendar:Start", true, true, func(it *ewsItem, s ewsShape) *el { return T("t:Start", ewsTime(it.ev.Start)) }},
	{"calendar:End", true, true, func(it *ewsItem, s ewsShape) *el { return T("t:End", ewsTime(it.ev.End)) }},
	{"calendar:IsAllDayEvent", false, true, func(it *ewsItem, s ewsShape) *el { return tBool("t:IsAllDayEvent", it.ev.AllDay) }},
	{"calendar:LegacyFreeBusyStatus", true, true, func(it *ewsItem, s ewsShape) *el {
		return T("t:LegacyFreeBusyStatus", cmp.Or(it.ev.BusyStatus, BusyBusy))
	}},
	{"calendar:Location", true, true, func(it *ewsItem, s ewsShape) *el { return T("t:Location", it.ev.Location) }},
	{"calendar:IsMeeting", false, true, func(it *ewsItem, s ewsShape) *el { return tBool("t:IsMeeting", len(it.ev.Attendees) > 0) }},
	{"calendar:IsCancelled", false, true, func(it *ewsItem, s ewsShape) *el { return tBool("t:IsCancelled", it.ev.Cancelled) }},
	{"calendar:IsRecurring", false, true, func(it *ewsItem, s ewsShape) *el { return tBool("t:IsRecurring", false) }},
	{"calendar:MeetingRequestWasSent", false, true, func(it *ewsItem, s ewsShape) *el {
		return tBool("t:MeetingRequestWasSent", it.ev.Method == "REQUEST" && it.organizer())
	}},
	{"calendar:IsResponseRequested", false, true, func(it *ewsItem, s ewsShape) *el {
		return tBool("t:IsResponseRequested", len(it.ev.Attendees) > 0)
	}},
	{"calendar:CalendarItemType", true, true, func(it *ewsItem, s ewsShape) *el { return T("t:CalendarItemType", "Single") }},
	{"calendar:MyResponseType", false, true, func(it *ewsItem, s ewsShape) *el {
		switch {
		case len(it.ev.Attendees) == 0:
			return T("t:MyResponseType", "Unknown")
		case it.organizer():
			return T("t:MyResponseType", "Organizer")
		}
		// An attendee's copy, put on the calendar by calendar processing
		// and not answered (exsim has no meeting responses).
		return T("t:MyResponseType", "NoResponseReceived")
	}},
	{"calendar:Organizer", true, true, func(it *ewsItem, s ewsShape) *el {
		if it.ev.Organizer == "" {
			return nil
		}
		return E("t:Organizer", mailboxXML(formatAddress(it.ev.OrganizerName, it.ev.Organizer), "Mailbox"))
	}},
	{"calendar:RequiredAttendees", false, true, func(it *ewsItem, s ewsShape) *el { return attendeesXML("t:RequiredAttendees", it.ev, "Required") }},
	{"calendar:OptionalAttendees", false, true, func(it *ewsItem, s ewsShape) *el { return attendeesXML("t:OptionalAttendees", it.ev, "Optional") }},
	{"calendar:Resources", false, true, func(it *ewsItem, s ewsShape) *el { return attendeesXML("t:Resources", it.ev, "Resource") }},
	{"calendar:Duration", false, true, func(it *ewsItem, s ewsShape) *el { return T("t:Duration", xsDuration(it.ev.End.Sub(it.ev.Start))) }},
	{"calendar:AppointmentSequenceNumber", false, true, func(it *ewsItem, s ewsShape) *el {
		return tInt("t:AppointmentSequenceNumber", int64(it.ev.Sequence))
	}},
	{"calendar:AppointmentState", false, true, func(it *ewsItem, s ewsShape) *el {
		// PidLidAppointmentStateFlags ([MS-OXOCAL] 2.2.1.10): 1 is a
		// meeting (asfMeeting).
		if len(it.ev.Attendees) > 0 {
			return tInt("t:AppointmentState", 1)
		}
		return tInt("t:AppointmentState", 0)
	}},
}

// organizer reports whether the mailbox's user organizes the meeting.
func (it *ewsItem) organizer() bool { return strings.EqualFold(it.ev.Organizer, it.owner) }

// calendarItemProps are the properties a CalendarItem shows: ItemType's
// then CalendarItemType's.
var calendarItemProps = func() []itemProp {
	var out []itemProp
	for _, p := range itemProps {
		if strings.HasPrefix(p.uri, "item:") {
			out = append(out, p)
		}
	}
	return append(out, calendarProps...)
}()

func attendeesXML(elem string, ev *Event, role string) *el {
	var kids []*el
	for _, a := range ev.Attendees {
		if a.Role == role {
			kids = append(kids, E("t:Attendee", mailboxXML(formatAddress(a.Name, a.Address), "Mailbox"), T("t:ResponseType", "Unknown")))
		}
	}
	if len(kids) == 0 {
		return nil
	}
	return E(elem, kids...)
}

// xsDuration is d as an xs:duration, the way Exchange writes Duration.
func xsDuration(d time.Duration) string {
	if d <= 0 {
		return "PT0S"
	}
	s := "P"
	if days := d / (24 * time.Hour); days > 0 {
		s += strconv.Itoa(int(days)) + "D"
		d -= days * 24 * time.Hour
	}
	if d == 0 {
		return s
	}
	s += "T"
	if h := d / time.Hour; h > 0 {
		s += strconv.Itoa(int(h)) + "H"
		d -= h * time.Hour
	}
	if m := d / time.Minute; m > 0 {
		s += strconv.Itoa(int(m)) + "M"
		d -= m * time.Minute
	}
	if d > 0 || strings.HasSuffix(s, "T") {
		s += strconv.Itoa(int(d/time.Second)) + "S"
	}
	return s
}
