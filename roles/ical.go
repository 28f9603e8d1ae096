package roles

import (
	"strings"
	"time"

	"github.com/exsim/exsim/servers/httpd"
)

// parseEvents reads the VEVENTs of the iCalendar (RFC 5545) text inside a
// message: enough of SUMMARY, LOCATION, UID, DTSTART and DTEND to publish
// a calendar. Unparseable events are skipped.
func parseEvents(msg []byte) []httpd.Event {
	text := strings.ReplaceAll(string(msg), "\r\n", "\n")
	// Unfold (RFC 5545 section 3.1).
	text = strings.ReplaceAll(strings.ReplaceAll(text, "\n ", ""), "\n\t", "")
	var out []httpd.Event
	var ev *httpd.Event
	for _, line := range strings.Split(text, "\n") {
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		prop, params, _ := strings.Cut(name, ";")
		switch strings.ToUpper(prop) {
		case "BEGIN":
			if strings.EqualFold(value, "VEVENT") {
				ev = &httpd.Event{}
			}
		case "END":
			if strings.EqualFold(value, "VEVENT") && ev != nil {
				if !ev.Start.IsZero() {
					if ev.End.IsZero() {
						ev.End = ev.Start.Add(time.Hour)
					}
					out = append(out, *ev)
				}
				ev = nil
			}
		}
		if ev == nil {
			continue
		}
		switch strings.ToUpper(prop) {
		case "SUMMARY":
			ev.Summary = icsText(value)
		case "LOCATION":
			ev.Location = icsText(value)
		case "UID":
			ev.UID = value
		case "DTSTART":
			ev.Start = icsTime(value, params)
		case "DTEND":
			ev.End = icsTime(value, params)
		}
	}
	return out
}

func icsText(v string) string {
	return strings.NewReplacer(`\n`, " ", `\N`, " ", `\,`, ",", `\;`, ";", `\\`, `\`).Replace(v)
}

// icsTime reads a DATE-TIME (UTC or floating) or a DATE; a TZID other than
// UTC is read as UTC (the lab keeps no time zone database).
func icsTime(v, params string) time.Time {
	for _, layout := range []string{"20060102T150405Z", "20060102T150405", "20060102"} {
		if t, err := time.Parse(layout, strings.TrimSpace(v)); err == nil {
			return t
		}
	}
	return time.Time{}
}
