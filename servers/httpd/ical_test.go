package httpd

import (
	"testing"
	"time"
)

func TestParseEvents(t *testing.T) {
	ics := "BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nUID:1@x\r\nSUMMARY:Lab review\\, weekly\r\nLOCATION:Room 1\r\n" +
		"ORGANIZER;CN=Alice Wood:mailto:alice@contoso.com\r\nATTENDEE;ROLE=OPT-PARTICIPANT;CN=Bob:mailto:bob@contoso.com\r\n" +
		"X-MICROSOFT-CDO-BUSYSTATUS:TENTATIVE\r\nDTSTART:20261201T090000Z\r\nDTEND:20261201T100000Z\r\nEND:VEVENT\r\n" +
		"BEGIN:VEVENT\r\nSUMMARY:all day\r\nTRANSP:TRANSPARENT\r\nDTSTART;VALUE=DATE:20261202\r\nEND:VEVENT\r\n" +
		"BEGIN:VEVENT\r\nSUMMARY:no start\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
	ev := ParseEvents([]byte(ics))
	if len(ev) != 2 {
		t.Fatalf("ParseEvents = %+v, want 2 events", ev)
	}
	a, b := ev[0], ev[1]
	if a.Summary != "Lab review, weekly" || a.Start.Hour() != 9 || a.Method != "REQUEST" || a.BusyStatus != BusyTentative ||
		a.Organizer != "alice@contoso.com" || a.OrganizerName != "Alice Wood" || len(a.Attendees) != 1 ||
		a.Attendees[0] != (Attendee{Name: "Bob", Address: "bob@contoso.com", Role: "Optional"}) {
		t.Errorf("meeting = %+v", a)
	}
	if !b.AllDay || b.End.Sub(b.Start) != 24*time.Hour || b.BusyStatus != BusyFree {
		t.Errorf("all-day event = %+v", b)
	}
}
