package httpd

import (
	"strconv"
	"strings"
	"time"
)

// Reading iCalendar (RFC 5545): the VEVENTs of calendar items, meeting
// requests and published calendars, which EWS, free/busy and calendar
// publishing all read.

// Free/busy statuses (types.xsd LegacyFreeBusyType), as Exchange carries
// them in iCalendar's X-MICROSOFT-CDO-BUSYSTATUS ([MS-OXCICAL] 2.1.3.1.1.20.2).
const (
	BusyFree      = "Free"
	BusyTentative = "Tentative"
	BusyBusy      = "Busy"
	BusyOOF       = "OOF"
)

// Attendee is one ATTENDEE of an event.
type Attendee struct {
	Name, Address string
	// Role is Required, Optional or Resource (ROLE=REQ-PARTICIPANT,
	// OPT-PARTICIPANT, NON-PARTICIPANT; CUTYPE=RESOURCE or ROOM).
	Role string
}

// ParseEvents reads the VEVENTs of the iCalendar text inside a message
// (a text/calendar part; the MIME around it is skipped line by line).
// Events without DTSTART are skipped.
func ParseEvents(msg []byte) []Event {
	text := strings.ReplaceAll(string(msg), "\r\n", "\n")
	// Unfold (RFC 5545 section 3.1).
	text = strings.ReplaceAll(strings.ReplaceAll(text, "\n ", ""), "\n\t", "")
	var out []Event
	var ev *Event
	method := ""
	for _, line := range strings.Split(text, "\n") {
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		prop, params, _ := strings.Cut(name, ";")
		prop = strings.ToUpper(prop)
		switch {
		case prop == "METHOD" && ev == nil:
			method = strings.ToUpper(strings.TrimSpace(value))
		case prop == "BEGIN" && strings.EqualFold(value, "VEVENT"):
			ev = &Event{Method: method, BusyStatus: BusyBusy}
		case prop == "END" && strings.EqualFold(value, "VEVENT") && ev != nil:
			if !ev.Start.IsZero() {
				if ev.End.IsZero() {
					// RFC 5545 section 3.6.1: a DATE start without an end
					// lasts one day, a DATE-TIME start none; exsim gives the
					// latter an hour, as Outlook's default appointment.
					ev.End = ev.Start.Add(time.Hour)
					if ev.AllDay {
						ev.End = ev.Start.AddDate(0, 0, 1)
					}
				}
				out = append(out, *ev)
			}
			ev = nil
		}
		if ev == nil {
			continue
		}
		switch prop {
		case "SUMMARY":
			ev.Summary = unescapeICS(value)
		case "LOCATION":
			ev.Location = unescapeICS(value)
		case "DESCRIPTION":
			ev.Description = unescapeICS(value)
		case "UID":
			ev.UID = value
		case "DTSTART":
			ev.Start = parseICSTime(value)
			ev.AllDay = strings.Contains(strings.ToUpper(params), "VALUE=DATE") && !strings.Contains(strings.ToUpper(params), "VALUE=DATE-TIME")
		case "DTEND":
			ev.End = parseICSTime(value)
		case "SEQUENCE":
			ev.Sequence, _ = strconv.Atoi(strings.TrimSpace(value))
		case "STATUS":
			ev.Cancelled = strings.EqualFold(strings.TrimSpace(value), "CANCELLED")
		case "TRANSP":
			if strings.EqualFold(strings.TrimSpace(value), "TRANSPARENT") {
				ev.BusyStatus = BusyFree
			}
		case "X-MICROSOFT-CDO-BUSYSTATUS":
			if s := busyStatus(value); s != "" {
				ev.BusyStatus = s
			}
		case "ORGANIZER":
			ev.Organizer = icsAddress(params, value).Address
			ev.OrganizerName = icsAddress(params, value).Name
		case "ATTENDEE":
			ev.Attendees = append(ev.Attendees, icsAddress(params, value))
		}
	}
	return out
}

// busyStatus maps X-MICROSOFT-CDO-BUSYSTATUS to EWS's names.
func busyStatus(v string) string {
	switch strings.ToUpper(strings.TrimSpace(v)) {
	case "FREE":
		return BusyFree
	case "TENTATIVE":
		return BusyTentative
	case "BUSY":
		return BusyBusy
	case "OOF":
		return BusyOOF
	}
	return ""
}

// icsAddress reads an ORGANIZER or ATTENDEE: mailto: value, CN and ROLE
// parameters.
func icsAddress(params, value string) Attendee {
	a := Attendee{Address: strings.TrimSpace(value), Role: "Required"}
	if len(a.Address) > 7 && strings.EqualFold(a.Address[:7], "mailto:") {
		a.Address = a.Address[7:]
	}
	for _, p := range strings.Split(params, ";") {
		k, v, _ := strings.Cut(p, "=")
		v = strings.Trim(v, `"`)
		switch strings.ToUpper(k) {
		case "CN":
			a.Name = v
		case "ROLE":
			switch strings.ToUpper(v) {
			case "OPT-PARTICIPANT":
				a.Role = "Optional"
			case "NON-PARTICIPANT":
				a.Role = "Resource"
			}
		case "CUTYPE":
			if u := strings.ToUpper(v); u == "RESOURCE" || u == "ROOM" {
				a.Role = "Resource"
			}
		}
	}
	return a
}

// unescapeICS reads a TEXT value (RFC 5545 section 3.3.11).
func unescapeICS(v string) string {
	return strings.NewReplacer(`\n`, "\n", `\N`, "\n", `\,`, ",", `\;`, ";", `\\`, `\`).Replace(v)
}

// parseICSTime reads a DATE-TIME (UTC or floating) or a DATE; a TZID other
// than UTC is read as UTC (the lab keeps no time zone database; exsim
// writes UTC times itself).
func parseICSTime(v string) time.Time {
	for _, layout := range []string{"20060102T150405Z", "20060102T150405", "20060102"} {
		if t, err := time.Parse(layout, strings.TrimSpace(v)); err == nil {
			return t
		}
	}
	return time.Time{}
}

// MessageEvents reads the events of a message's text/calendar body part
// (a calendar item's or a meeting request's); an .ics file attached to a
// message is not its event.
func MessageEvents(raw []byte) []Event {
	m, err := parseMessage(raw)
	if err != nil || m.Calendar == "" {
		return nil
	}
	return ParseEvents([]byte(m.Calendar))
}
