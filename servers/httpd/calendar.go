package httpd

import (
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// serveCalendar is Internet calendar publishing (Exchange's
// /owa/calendar/<guid>@<domain>/<token>/calendar.ics and calendar.html),
// anonymous on 443 and 80. The Backend decides which mailbox publishes
// under an id and token; anything else is IIS's 404.
func (h *Handler) serveCalendar(w http.ResponseWriter, r *http.Request, rest string, log *slog.Logger) {
	serveCalendar(h.cfg, h.b, w, r, rest, log)
}

func serveCalendar(c *config, b Backend, w http.ResponseWriter, r *http.Request, rest string, log *slog.Logger) {
	parts := strings.Split(strings.TrimPrefix(rest, "/calendar/"), "/")
	if len(parts) != 3 || !strings.Contains(parts[0], "@") || parts[1] == "" {
		c.writeIISError(w, r, errNotFound)
		return
	}
	file := parts[2]
	if file != "calendar.ics" && file != "calendar.html" {
		c.writeIISError(w, r, errNotFound)
		return
	}
	if !allow(w, r, c, http.MethodGet, http.MethodHead) {
		return
	}
	address, events, err := b.CalendarEvents(r.Context(), parts[0], parts[1])
	if errors.Is(err, ErrNotFound) {
		c.writeIISError(w, r, errNotFound)
		return
	}
	if err != nil {
		log.Error("calendar: backend failed", "calendar", parts[0], "err", err)
		c.writeIISError(w, r, errInternal)
		return
	}
	if u, err := b.FindUser(r.Context(), address); err == nil && u != nil {
		setRaw(w.Header(), "X-CalculatedBETarget", u.HomeFQDN)
	}
	w.Header().Set("Cache-Control", "no-cache")
	if file == "calendar.html" {
		owaSecurityHeaders(w.Header())
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if r.Method == http.MethodGet {
			calendarHTML.Execute(w, calendarView(address, events))
		}
		return
	}
	w.Header().Set("Content-Type", "text/calendar; charset=utf-8")
	if r.Method == http.MethodGet {
		w.Write(iCalendar(events, c.Now()))
	}
}

// iCalendar renders events as an RFC 5545 VCALENDAR the way Exchange
// publishes one: METHOD:PUBLISH, Exchange's PRODID, UTC times. A published
// calendar shows availability, subject and location (the LimitedDetails
// level): organizer, attendees and description are left out.
func iCalendar(events []Event, now time.Time) []byte {
	var b icsWriter
	b.line("BEGIN:VCALENDAR")
	b.line("METHOD:PUBLISH")
	b.line("PRODID:" + icsProdID)
	b.line("VERSION:2.0")
	b.line("X-WR-CALNAME:Calendar")
	for _, e := range events {
		e.Organizer, e.OrganizerName, e.Attendees, e.Description = "", "", nil, ""
		b.vevent(e, now, "")
	}
	b.line("END:VCALENDAR")
	return b.buf
}

// icsProdID is the PRODID Exchange 2016 and 2019 still write.
const icsProdID = "Microsoft Exchange Server 2010"

// vevent writes one VEVENT in Exchange's property order. intended is a
// meeting request's X-MICROSOFT-CDO-INTENDEDSTATUS, the organizer's own
// status ("" for none) ([MS-OXCICAL] 2.1.3.1.1.20.10).
func (b *icsWriter) vevent(e Event, now time.Time, intended string) {
	b.line("BEGIN:VEVENT")
	if e.Organizer != "" {
		b.line("ORGANIZER" + icsCN(e.OrganizerName) + ":mailto:" + e.Organizer)
	}
	for _, a := range e.Attendees {
		role, cutype := "REQ-PARTICIPANT", ""
		switch a.Role {
		case "Optional":
			role = "OPT-PARTICIPANT"
		case "Resource":
			role, cutype = "NON-PARTICIPANT", ";CUTYPE=RESOURCE"
		}
		b.line("ATTENDEE;ROLE=" + role + cutype + ";PARTSTAT=NEEDS-ACTION;RSVP=TRUE" + icsCN(a.Name) + ":mailto:" + a.Address)
	}
	if e.Description != "" {
		b.line("DESCRIPTION;LANGUAGE=en-US:" + icsText(e.Description))
	}
	b.line("UID:" + icsText(e.UID))
	b.line("SUMMARY;LANGUAGE=en-US:" + icsText(e.Summary))
	if e.AllDay {
		b.line("DTSTART;VALUE=DATE:" + e.Start.UTC().Format("20060102"))
		b.line("DTEND;VALUE=DATE:" + e.End.UTC().Format("20060102"))
	} else {
		b.line("DTSTART:" + icsTime(e.Start))
		b.line("DTEND:" + icsTime(e.End))
	}
	b.line("CLASS:PUBLIC")
	b.line("PRIORITY:5")
	b.line("DTSTAMP:" + icsTime(now))
	transp := "OPAQUE"
	if e.BusyStatus == BusyFree {
		transp = "TRANSPARENT"
	}
	b.line("TRANSP:" + transp)
	b.line("STATUS:CONFIRMED")
	b.line("SEQUENCE:" + strconv.Itoa(e.Sequence))
	if e.Location != "" {
		b.line("LOCATION;LANGUAGE=en-US:" + icsText(e.Location))
	}
	busy := strings.ToUpper(e.BusyStatus)
	if busy == "" {
		busy = "BUSY"
	}
	b.line("X-MICROSOFT-CDO-BUSYSTATUS:" + busy)
	if intended != "" {
		b.line("X-MICROSOFT-CDO-INTENDEDSTATUS:" + strings.ToUpper(intended))
	}
	b.line("X-MICROSOFT-CDO-ALLDAYEVENT:" + strings.ToUpper(strconv.FormatBool(e.AllDay)))
	b.line("END:VEVENT")
}

// icsCN is the CN parameter of a name, quoted when it holds a separator
// (RFC 5545 section 3.2).
func icsCN(name string) string {
	name = strings.Map(func(c rune) rune {
		if c == '"' || c < 0x20 {
			return -1
		}
		return c
	}, name)
	if name == "" {
		return ""
	}
	if strings.ContainsAny(name, ":;,") {
		return `;CN="` + name + `"`
	}
	return ";CN=" + name
}

// icsWriter writes content lines folded at 75 octets with CRLF (RFC 5545
// section 3.1), never splitting a UTF-8 sequence.
type icsWriter struct{ buf []byte }

func (w *icsWriter) line(s string) {
	const limit = 75
	first := true
	for {
		max := limit
		if !first {
			max = limit - 1 // the leading space counts
		}
		if len(s) <= max {
			if !first {
				w.buf = append(w.buf, ' ')
			}
			w.buf = append(w.buf, s...)
			w.buf = append(w.buf, '\r', '\n')
			return
		}
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		if !first {
			w.buf = append(w.buf, ' ')
		}
		w.buf = append(w.buf, s[:cut]...)
		w.buf = append(w.buf, '\r', '\n')
		s = s[cut:]
		first = false
	}
}

// icsText escapes a TEXT value (RFC 5545 section 3.3.11).
func icsText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	r := strings.NewReplacer(`\`, `\\`, ";", `\;`, ",", `\,`, "\r\n", `\n`, "\n", `\n`, "\r", `\n`)
	return strings.Map(func(c rune) rune {
		if c < 0x20 && c != '\t' || c == 0x7f {
			return -1 // RFC 5545 section 3.1: no control characters but HTAB
		}
		return c
	}, r.Replace(s))
}

func icsTime(t time.Time) string { return t.UTC().Format("20060102T150405Z") }

type calendarEvent struct{ When, Summary, Location string }

func calendarView(address string, events []Event) any {
	v := struct {
		Title  string
		Events []calendarEvent
	}{Title: address + " - Calendar"}
	for _, e := range events {
		v.Events = append(v.Events, calendarEvent{
			When:     e.Start.UTC().Format("Mon 1/2/2006 3:04 PM") + " - " + e.End.UTC().Format("3:04 PM") + " (UTC)",
			Summary:  e.Summary,
			Location: e.Location,
		})
	}
	return v
}

var calendarHTML = template.Must(template.New("calendar").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title></head>
<body style="font-family:'Segoe UI',Arial,sans-serif;margin:24px">
<h1 style="font-weight:300;color:#0072c6">{{.Title}}</h1>
<table cellpadding="6">{{range .Events}}<tr><td>{{.When}}</td><td><b>{{.Summary}}</b></td><td>{{.Location}}</td></tr>
{{else}}<tr><td>There are no items to show.</td></tr>{{end}}</table>
</body></html>
`))
