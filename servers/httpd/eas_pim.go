package httpd

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/emersion/go-message/mail"

	"github.com/exsim/exsim/internal/wbxml"
)

// Calendar items and contacts live in the Calendar and Contacts folders
// as messages carrying a text/calendar VEVENT (RFC 5545) or a text/vcard
// (RFC 6350), the forms IMAP clients and the published calendar read.
// ActiveSync shows them in its Calendar (MS-ASCAL) and Contacts
// (MS-ASCNTC) classes and turns the items a device adds back into such
// messages.

// easUTCTimeZone is calendar:TimeZone for UTC: a TIME_ZONE_INFORMATION
// of 172 zero bytes, base64 (MS-ASDTYPE 2.6.4).
var easUTCTimeZone = base64.StdEncoding.EncodeToString(make([]byte, 172))

// easCompactTime is the compact dateTime of calendar elements
// (MS-ASDTYPE 2.3: yyyyMMddTHHmmssZ).
const easCompactTime = "20060102T150405Z"

// contentLines unfolds RFC 5545/6350 content lines into name, parameters
// (upper-cased names) and value, for the component named begin.
func contentLines(data []byte, begin string) []contentLine {
	text := strings.ReplaceAll(string(data), "\r\n", "\n")
	text = strings.NewReplacer("\n ", "", "\n\t", "").Replace(text)
	var out []contentLine
	in := false
	for _, l := range strings.Split(text, "\n") {
		name, value, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		parts := strings.Split(name, ";")
		cl := contentLine{Name: strings.ToUpper(parts[0]), Params: map[string]string{}, Value: value}
		for _, p := range parts[1:] {
			k, v, _ := strings.Cut(p, "=")
			cl.Params[strings.ToUpper(k)] = strings.Trim(v, `"`)
		}
		switch {
		case cl.Name == "BEGIN" && strings.EqualFold(value, begin):
			in = true
		case cl.Name == "END" && strings.EqualFold(value, begin):
			return out
		case in:
			out = append(out, cl)
		}
	}
	return out
}

type contentLine struct {
	Name   string
	Params map[string]string
	Value  string
}

var icsUnescaper = strings.NewReplacer(`\n`, "\n", `\N`, "\n", `\,`, ",", `\;`, ";", `\\`, `\`)

// icsValue is a TEXT value unescaped.
func icsValue(v string) string { return icsUnescaper.Replace(v) }

// icsParseTime reads a DATE-TIME or DATE value; allDay for a DATE.
func icsParseTime(cl contentLine) (t time.Time, allDay bool) {
	v := cl.Value
	if cl.Params["VALUE"] == "DATE" || len(v) == 8 {
		t, _ = time.Parse("20060102", v)
		return t, true
	}
	if strings.HasSuffix(v, "Z") {
		t, _ = time.Parse(easCompactTime, v)
		return t, false
	}
	loc := time.UTC
	if tz := cl.Params["TZID"]; tz != "" {
		if l, err := time.LoadLocation(tz); err == nil {
			loc = l
		}
	}
	t, _ = time.ParseInLocation("20060102T150405", v, loc)
	return t, false
}

// partOf is the data of the first attachment of one of the media types.
func partOf(m *shownMessage, types ...string) []byte {
	for _, a := range m.Attachments {
		for _, t := range types {
			if strings.EqualFold(a.ContentType, t) {
				return a.Data
			}
		}
	}
	return nil
}

func yesNo(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// easCalendarItem is a Calendar folder message as a calendar item. A
// message without a VEVENT shows as an event at its date.
func easCalendarItem(m *shownMessage, raw []byte, mi MessageInfo) []*wbxml.Node {
	subject, location, uid, desc, organizer := m.Subject, "", "", m.Text, ""
	start, end, stamp, allDay := mi.Date, mi.Date, mi.Date, false
	for _, cl := range contentLines(partOf(m, "text/calendar"), "VEVENT") {
		switch cl.Name {
		case "SUMMARY":
			subject = icsValue(cl.Value)
		case "LOCATION":
			location = icsValue(cl.Value)
		case "UID":
			uid = cl.Value
		case "DESCRIPTION":
			desc = icsValue(cl.Value)
		case "ORGANIZER":
			organizer = strings.TrimPrefix(strings.TrimPrefix(cl.Value, "mailto:"), "MAILTO:")
		case "DTSTART":
			start, allDay = icsParseTime(cl)
		case "DTEND":
			end, _ = icsParseTime(cl)
		case "DTSTAMP":
			stamp, _ = icsParseTime(cl)
		}
	}
	if end.Before(start) {
		end = start
	}
	out := []*wbxml.Node{
		wbxml.T("Calendar:TimeZone", easUTCTimeZone), wbxml.T("Calendar:AllDayEvent", yesNo(allDay)),
		easBody(&shownMessage{Text: desc}, raw, easBodyPref{Type: easBodyPlain}),
		wbxml.T("Calendar:BusyStatus", "2"),
	}
	if organizer != "" {
		out = append(out, wbxml.T("Calendar:OrganizerEmail", organizer))
	}
	out = append(out, wbxml.T("Calendar:DtStamp", stamp.UTC().Format(easCompactTime)),
		wbxml.T("Calendar:EndTime", end.UTC().Format(easCompactTime)))
	if location != "" {
		out = append(out, wbxml.T("Calendar:Location", location))
	}
	out = append(out, wbxml.T("Calendar:Sensitivity", "0"), wbxml.T("Calendar:Subject", subject),
		wbxml.T("Calendar:StartTime", start.UTC().Format(easCompactTime)))
	if uid != "" {
		out = append(out, wbxml.T("Calendar:UID", uid))
	}
	return append(out, wbxml.T("Calendar:MeetingStatus", "0"), wbxml.T("AirSyncBase:NativeBodyType", "1"))
}

// vcardFields maps vCard properties to Contacts elements; TEL goes by type.
var vcardTel = map[string]string{"CELL": "Contacts:MobilePhoneNumber", "WORK": "Contacts:BusinessPhoneNumber", "HOME": "Contacts:HomePhoneNumber"}

// easContactItem is a Contacts folder message as a contact.
func easContactItem(m *shownMessage, raw []byte) []*wbxml.Node {
	var first, last, fn, note string
	var out, emails []*wbxml.Node
	for _, cl := range contentLines(partOf(m, "text/vcard", "text/x-vcard", "text/directory"), "VCARD") {
		v := icsValue(cl.Value)
		switch cl.Name {
		case "FN":
			fn = v
		case "N":
			parts := strings.Split(cl.Value, ";")
			last = icsValue(parts[0])
			if len(parts) > 1 {
				first = icsValue(parts[1])
			}
		case "EMAIL":
			if len(emails) < 3 {
				emails = append(emails, wbxml.T(fmt.Sprintf("Contacts:Email%dAddress", len(emails)+1), v))
			}
		case "TEL":
			for typ, el := range vcardTel {
				if strings.Contains(strings.ToUpper(cl.Params["TYPE"]), typ) {
					out = append(out, wbxml.T(el, v))
					break
				}
			}
		case "ORG":
			out = append(out, wbxml.T("Contacts:CompanyName", icsValue(strings.Split(cl.Value, ";")[0])))
		case "TITLE":
			out = append(out, wbxml.T("Contacts:JobTitle", v))
		case "NOTE":
			note = v
		}
	}
	fileAs := fn
	if last != "" && first != "" {
		fileAs = last + ", " + first
	}
	if fileAs == "" {
		fileAs = m.Subject
	}
	head := []*wbxml.Node{easBody(&shownMessage{Text: note}, raw, easBodyPref{Type: easBodyPlain}), wbxml.T("Contacts:FileAs", fileAs)}
	if first != "" {
		head = append(head, wbxml.T("Contacts:FirstName", first))
	}
	if last != "" {
		head = append(head, wbxml.T("Contacts:LastName", last))
	}
	out = append(append(head, emails...), out...)
	return append(out, wbxml.T("AirSyncBase:NativeBodyType", "1"))
}

// pimMessage wraps a calendar or vCard object in a message of the user's,
// built with go-message as every message exsim writes.
func (c *easCall) pimMessage(subject, mediaType string, object []byte) ([]byte, error) {
	var h mail.Header
	h.SetDate(c.h.cfg.Now())
	h.SetAddressList("From", []*mail.Address{{Name: c.u.DisplayName, Address: c.u.Address}})
	h.SetSubject(subject)
	h.SetContentType(mediaType, map[string]string{"charset": "utf-8"})
	var buf bytes.Buffer
	w, err := mail.CreateSingleInlineWriter(&buf, h)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(object); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// calendarMessage turns a device's calendar ApplicationData into a
// message holding a VEVENT.
func (c *easCall) calendarMessage(ad *wbxml.Node) ([]byte, error) {
	start, err := time.Parse(easCompactTime, ad.Value("Calendar:StartTime"))
	if err != nil {
		return nil, fmt.Errorf("calendar:StartTime %q: %w", ad.Value("Calendar:StartTime"), err)
	}
	end, err := time.Parse(easCompactTime, ad.Value("Calendar:EndTime"))
	if err != nil {
		end = start
	}
	uid := ad.Value("Calendar:UID")
	if uid == "" {
		var b [16]byte
		rand.Read(b[:])
		uid = strings.ToUpper(hex.EncodeToString(b[:]))
	}
	subject := ad.Value("Calendar:Subject")
	var w icsWriter
	w.line("BEGIN:VCALENDAR")
	w.line("VERSION:2.0")
	w.line("PRODID:Microsoft Exchange Server 2010")
	w.line("BEGIN:VEVENT")
	w.line("UID:" + uid)
	w.line("DTSTAMP:" + icsTime(c.h.cfg.Now()))
	if ad.Value("Calendar:AllDayEvent") == "1" {
		w.line("DTSTART;VALUE=DATE:" + start.Format("20060102"))
		w.line("DTEND;VALUE=DATE:" + end.Format("20060102"))
	} else {
		w.line("DTSTART:" + start.Format(easCompactTime))
		w.line("DTEND:" + end.Format(easCompactTime))
	}
	w.line("SUMMARY:" + icsText(subject))
	if loc := ad.Value("Calendar:Location"); loc != "" {
		w.line("LOCATION:" + icsText(loc))
	}
	if d := ad.Path("AirSyncBase:Body").Value("AirSyncBase:Data"); d != "" {
		w.line("DESCRIPTION:" + icsText(d))
	}
	w.line("END:VEVENT")
	w.line("END:VCALENDAR")
	return c.pimMessage(subject, "text/calendar", w.buf)
}

// contactMessage turns a device's contact ApplicationData into a
// message holding a vCard 3.0.
func (c *easCall) contactMessage(ad *wbxml.Node) ([]byte, error) {
	first, last := ad.Value("Contacts:FirstName"), ad.Value("Contacts:LastName")
	fn := strings.TrimSpace(first + " " + last)
	if fn == "" {
		fn = ad.Value("Contacts:FileAs")
	}
	if fn == "" {
		return nil, fmt.Errorf("contact without a name")
	}
	var w icsWriter
	line := w.line
	line("BEGIN:VCARD")
	line("VERSION:3.0")
	line("FN:" + icsText(fn))
	line("N:" + icsText(last) + ";" + icsText(first) + ";;;")
	for i := 1; i <= 3; i++ {
		if e := ad.Value(fmt.Sprintf("Contacts:Email%dAddress", i)); e != "" {
			if a, err := mail.ParseAddress(e); err == nil {
				e = a.Address
			}
			line("EMAIL;TYPE=INTERNET:" + e)
		}
	}
	for typ, el := range vcardTel {
		if v := ad.Value(el); v != "" {
			line("TEL;TYPE=" + typ + ":" + v)
		}
	}
	if v := ad.Value("Contacts:CompanyName"); v != "" {
		line("ORG:" + icsText(v))
	}
	if v := ad.Value("Contacts:JobTitle"); v != "" {
		line("TITLE:" + icsText(v))
	}
	if d := ad.Path("AirSyncBase:Body").Value("AirSyncBase:Data"); d != "" {
		line("NOTE:" + icsText(d))
	}
	line("END:VCARD")
	subject := ad.Value("Contacts:FileAs")
	if subject == "" {
		subject = fn
	}
	return c.pimMessage(subject, "text/vcard", w.buf)
}
