package httpd

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// GetUserAvailability: free/busy of any mailbox of the organization, as
// the Availability service answers it (EWS reference:
// GetUserAvailability operation; "Get free/busy information by using EWS
// in Exchange").

// Availability is an optional Backend capability: the calendar of any
// mailbox of the organization, wherever it is homed (a Mailbox server
// asks the target's server, as Exchange's Availability service does).
// requester is the user asking. Without it GetUserAvailability finds no
// calendar.
type Availability interface {
	FreeBusy(ctx context.Context, requester *User, address string, start, end time.Time) ([]Event, error)
}

// ewsRecipientNotFound is the answer for an address the directory does
// not know.
func ewsRecipientNotFound(addr string) responseMessage {
	return errMessage("ErrorMailRecipientNotFound", "Unable to resolve e-mail address "+addr+" to an Active Directory object.")
}

// Limits of Exchange's Availability service: 100 mailboxes a request, a
// 62-day window (42 before Exchange 2013).
const (
	maxAvailabilityMailboxes = 100
	maxAvailabilityWindow    = 62 * 24 * time.Hour
)

// mergedDigit is a status in MergedFreeBusy (types.xsd: 0 Free, 1
// Tentative, 2 Busy, 3 OOF, 4 NoData); a slot shows the busiest event.
var mergedDigit = map[string]byte{BusyFree: '0', BusyTentative: '1', BusyBusy: '2', BusyOOF: '3'}

// lab mailboxes keep Exchange's default working hours, 08:00 to 17:00
// Monday to Friday, in UTC (the lab's servers run on UTC).
var workingHoursUTC = tzDef{ID: "UTC"}

func (c *ewsCall) getUserAvailability() *el {
	const op = "GetUserAvailability"
	fail := func(rm responseMessage) *el {
		return E("m:"+op+"Response").A("xmlns:m", nsMessages).A("xmlns:t", nsTypes).
			add(E("m:FreeBusyResponseArray", E("m:FreeBusyResponse", respMsg("", rm))))
	}
	zone, err := serializableTimeZone(c.op.child("TimeZone"))
	if err != nil {
		return fail(ewsInvalidTimeZone)
	}
	opts := c.op.child("FreeBusyViewOptions")
	if opts == nil {
		// Suggestions alone (SuggestionsViewOptions) are not answered.
		return fail(errMessage("ErrorInvalidRequest", "The request requires FreeBusyViewOptions."))
	}
	start, err1 := zone.instant(opts.path("TimeWindow").text("StartTime"))
	end, err2 := zone.instant(opts.path("TimeWindow").text("EndTime"))
	if err1 != nil || err2 != nil || !end.After(start) {
		return fail(ewsInvalidTimeZone)
	}
	if end.Sub(start) > maxAvailabilityWindow {
		return fail(ewsIntervalTooBig)
	}
	interval := 30
	if s := opts.text("MergedFreeBusyIntervalInMinutes"); s != "" {
		if interval, err = strconv.Atoi(s); err != nil || interval < 5 || interval > 1440 {
			return fail(ewsInvalidMerged)
		}
	}
	view := opts.text("RequestedView")
	if view == "" {
		view = "FreeBusy"
	}
	if !slices.Contains([]string{"None", "MergedOnly", "FreeBusy", "FreeBusyMerged", "Detailed", "DetailedMerged"}, view) {
		return fail(ewsInvalidView)
	}
	mbs := c.op.child("MailboxDataArray").all("MailboxData")
	switch {
	case len(mbs) == 0:
		return fail(ewsMailboxArrayNone)
	case len(mbs) > maxAvailabilityMailboxes:
		return fail(ewsMailboxArrayBig)
	}
	arr := E("m:FreeBusyResponseArray")
	for _, mb := range mbs {
		addr := strings.TrimSpace(mb.path("Email").text("Address"))
		events, err := c.freeBusy(addr, start, end)
		switch {
		case errors.Is(err, ErrNotFound) || addr == "":
			arr.add(E("m:FreeBusyResponse", respMsg("", ewsRecipientNotFound(addr))))
			continue
		case err != nil:
			c.log.Error("ews: free/busy", "rcpt", addr, "err", err)
			arr.add(E("m:FreeBusyResponse", respMsg("", errMessage("ErrorFreeBusyGenerationFailed", "The free/busy information couldn't be generated."))))
			continue
		}
		arr.add(E("m:FreeBusyResponse", respMsg("", okMessage()), c.freeBusyView(addr, view, events, zone, start, end, interval)))
	}
	return E("m:"+op+"Response").A("xmlns:m", nsMessages).A("xmlns:t", nsTypes).add(arr)
}

// freeBusy is the events of address that overlap [start, end), busiest
// first where two have the same start.
func (c *ewsCall) freeBusy(addr string, start, end time.Time) ([]Event, error) {
	var events []Event
	var err error
	if av, ok := c.h.b.(Availability); ok {
		events, err = av.FreeBusy(c.r.Context(), c.u, addr, start, end)
	} else {
		err = fmt.Errorf("%w: free/busy of %s (this backend has no Availability service)", ErrNotFound, addr)
	}
	if err != nil {
		return nil, err
	}
	events = slices.DeleteFunc(slices.Clone(events), func(e Event) bool {
		return e.Cancelled || !e.Start.Before(end) || !e.End.After(start)
	})
	// A meeting request and the calendar item for it (same UID): the
	// calendar's wins.
	seen := map[string]bool{}
	events = slices.DeleteFunc(events, func(e Event) bool {
		if e.UID == "" {
			return false
		}
		dup := seen[e.UID]
		seen[e.UID] = true
		return dup
	})
	slices.SortStableFunc(events, func(a, b Event) int { return a.Start.Compare(b.Start) })
	return events, nil
}

// freeBusyView renders one mailbox's FreeBusyView. Without calendar
// permissions beyond the default (AvailabilityOnly), another user sees
// times and statuses only: Detailed views come down to FreeBusy ones, as
// Exchange answers them.
func (c *ewsCall) freeBusyView(addr, view string, events []Event, zone tzDef, start, end time.Time, interval int) *el {
	if !strings.EqualFold(addr, c.u.Address) {
		view = strings.Replace(view, "Detailed", "FreeBusy", 1)
	}
	fb := E("m:FreeBusyView", T("t:FreeBusyViewType", view))
	if view == "None" {
		return fb
	}
	if strings.HasSuffix(view, "Merged") || view == "MergedOnly" {
		slot := time.Duration(interval) * time.Minute
		var merged []byte
		for t := start; t.Before(end); t = t.Add(slot) {
			d := byte('0')
			for _, e := range events {
				if e.Start.Before(t.Add(slot)) && e.End.After(t) && mergedDigit[e.BusyStatus] > d {
					d = mergedDigit[e.BusyStatus]
				}
			}
			merged = append(merged, d)
		}
		fb.add(T("t:MergedFreeBusy", string(merged)))
	}
	if view != "MergedOnly" {
		arr := E("t:CalendarEventArray")
		for _, e := range events {
			ce := E("t:CalendarEvent", T("t:StartTime", zone.local(e.Start).Format("2006-01-02T15:04:05")),
				T("t:EndTime", zone.local(e.End).Format("2006-01-02T15:04:05")), T("t:BusyType", cmp.Or(e.BusyStatus, BusyBusy)))
			if strings.HasPrefix(view, "Detailed") {
				ce.add(E("t:CalendarEventDetails", T("t:ID", e.UID), T("t:Subject", e.Summary), T("t:Location", e.Location),
					tBool("t:IsMeeting", len(e.Attendees) > 0), tBool("t:IsRecurring", false), tBool("t:IsException", false),
					tBool("t:IsReminderSet", false), tBool("t:IsPrivate", false)))
			}
			arr.add(ce)
		}
		fb.add(arr)
	}
	return fb.add(workingHoursXML())
}

// workingHoursXML is the mailbox's WorkingHours. A zone without daylight
// saving time still gets both transitions, zeroed, as clients expect them.
func workingHoursXML() *el {
	transition := func(elem string, order, month int, day time.Weekday) *el {
		return E(elem, tInt("t:Bias", 0), T("t:Time", "00:00:00"), tInt("t:DayOrder", int64(order)), tInt("t:Month", int64(month)), T("t:DayOfWeek", day.String()))
	}
	return E("t:WorkingHours",
		E("t:TimeZone", tInt("t:Bias", int64(workingHoursUTC.Bias)), transition("t:StandardTime", 1, 1, time.Sunday), transition("t:DaylightTime", 5, 12, time.Sunday)),
		E("t:WorkingPeriodArray", E("t:WorkingPeriod", T("t:DayOfWeek", "Monday Tuesday Wednesday Thursday Friday"),
			tInt("t:StartTimeInMinutes", 8*60), tInt("t:EndTimeInMinutes", 17*60))))
}
