package httpd

import (
	"bytes"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestICalendar(t *testing.T) {
	start := time.Date(2024, 4, 2, 9, 30, 0, 0, time.FixedZone("CET", 3600))
	events := []Event{{
		UID: "uid-1", Summary: "Plan; review, and\nfollow-up \\ " + strings.Repeat("ü", 60),
		Start: start, End: start.Add(time.Hour), Location: "Room\x07 1",
	}}
	now := time.Date(2024, 3, 29, 22, 50, 41, 0, time.UTC)
	out := iCalendar(events, now)
	if !bytes.HasPrefix(out, []byte("BEGIN:VCALENDAR\r\nMETHOD:PUBLISH\r\nPRODID:Microsoft Exchange Server 2010\r\nVERSION:2.0\r\n")) {
		t.Errorf("calendar head:\n%s", out)
	}
	if !bytes.HasSuffix(out, []byte("END:VEVENT\r\nEND:VCALENDAR\r\n")) {
		t.Errorf("calendar tail:\n%s", out)
	}
	if bytes.Contains(bytes.ReplaceAll(out, []byte("\r\n"), nil), []byte("\n")) || bytes.Contains(bytes.ReplaceAll(out, []byte("\r\n"), nil), []byte("\r")) {
		t.Errorf("bare CR or LF in output")
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\r\n"), "\r\n")
	for _, l := range lines {
		if len(l) > 75 {
			t.Errorf("line of %d octets: %q", len(l), l)
		}
		if !utf8.ValidString(l) {
			t.Errorf("fold split a UTF-8 sequence: %q", l)
		}
	}
	// Unfold (RFC 5545 3.1) and check the values.
	unfolded := strings.ReplaceAll(string(out), "\r\n ", "")
	for _, want := range []string{
		"\r\nUID:uid-1\r\n",
		"\r\nSUMMARY;LANGUAGE=en-US:Plan\\; review\\, and\\nfollow-up \\\\ " + strings.Repeat("ü", 60) + "\r\n",
		"\r\nDTSTART:20240402T083000Z\r\n",
		"\r\nDTEND:20240402T093000Z\r\n",
		"\r\nDTSTAMP:20240329T225041Z\r\n",
		"\r\nLOCATION;LANGUAGE=en-US:Room 1\r\n",
	} {
		if !strings.Contains(unfolded, want) {
			t.Errorf("calendar lacks %q:\n%s", want, unfolded)
		}
	}
}

func TestCalendarHTTPS(t *testing.T) {
	ts := newTestServer(t, testOptions())
	c := ts.client(false)
	resp, body := get(t, c, ts.base+"/OWA/Calendar/alice@contoso.com/8f6c2a1b0e3d4c5b9a7f6e5d4c3b2a19/calendar.html")
	if resp.StatusCode != 200 || !strings.Contains(body, "Team meeting; weekly, with everyone") {
		t.Errorf("calendar.html = %d\n%s", resp.StatusCode, body)
	}
	// Without the token, with a wrong one, for a mailbox that does not
	// publish, or another file: IIS's 404.
	for _, p := range []string{"/owa/calendar/alice@contoso.com/calendar.ics", "/owa/calendar/alice@contoso.com/x/calendar.ics",
		"/owa/calendar/alice@contoso.com/8f6c2a1b0e3d4c5b9a7f6e5d4c3b2a18/calendar.ics",
		"/owa/calendar/bob@contoso.com/" + fakeCalendarToken + "/calendar.ics", "/owa/calendar/nobody@contoso.com/x/calendar.ics",
		"/owa/calendar/alice@contoso.com/" + fakeCalendarToken + "/other.ics"} {
		if resp, _ := get(t, c, ts.base+p); resp.StatusCode != 404 {
			t.Errorf("GET %s = %d, want 404", p, resp.StatusCode)
		}
	}
}
