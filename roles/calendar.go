package roles

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"

	"github.com/exsim/exsim/certs"
	"github.com/exsim/exsim/topology"
)

// Internet calendar publishing (Set-MailboxCalendarFolder -PublishEnabled),
// opt-in per mailbox (topology: publish_calendar). The URL has Exchange's
// PublishedCalendarUrl shape,
// http://<server>/owa/calendar/<ExchangeGuid>@<domain>/<token>/calendar.html
// (and calendar.ics): the first segment names the mailbox without giving
// its address away, the token is what makes the URL unguessable. Exchange's
// token is a long random hex string whose exact format has no public
// source; exsim's is 32 hex digits (128 bits) of an HMAC keyed with a
// secret derived from the lab CA's key, so every server of the lab
// computes the same URL and it survives restarts.

// calendarID is the first path segment of a mailbox's published calendar.
func calendarID(address string) string {
	return mailboxGUID(address) + "@" + strings.ToLower(topology.Domain(address))
}

// calendarToken is the mailbox's publishing token.
func calendarToken(ca *certs.CA, address string) string {
	m := hmac.New(sha256.New, ca.Secret("calendar publishing"))
	m.Write([]byte(strings.ToLower(address)))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// publishedCalendar returns the publishing mailbox whose calendar id is
// id, or nil (not a mailbox, or not published).
func publishedCalendar(t *topology.Topology, id string) *topology.Mailbox {
	for i := range t.Mailboxes {
		m := &t.Mailboxes[i]
		if m.PublishCalendar && strings.EqualFold(calendarID(m.Address), id) {
			return m
		}
	}
	return nil
}

// PublishedCalendarURL is a publishing mailbox's calendar.html URL on
// server (PublishedCalendarUrl; replace .html by .ics for
// PublishedICalUrl), "" when the mailbox does not publish.
func PublishedCalendarURL(ca *certs.CA, t *topology.Topology, server *topology.Server, address string) string {
	m := t.Mailbox(address)
	if m == nil || !m.PublishCalendar {
		return ""
	}
	// The server's address: its FQDN resolves only through the lab DNS.
	host := server.Address
	if p := t.Port(80); p != 80 {
		host += ":" + strconv.Itoa(p)
	}
	return "http://" + host + "/owa/calendar/" + calendarID(m.Address) + "/" + calendarToken(ca, m.Address) + "/calendar.html"
}
