package roles

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/exsim/exsim/certs"
	"github.com/exsim/exsim/servers/httpd"
	"github.com/exsim/exsim/topology"
)

// The Availability service: free/busy of any mailbox of the organization.
// A mailbox of this server is read from the store; one homed on another
// Mailbox server is asked of that server's EWS (the Back End site, with
// the requester's identity and a server ticket, as a front end proxies),
// the way Exchange's Availability service makes cross-server requests.

var _ httpd.Availability = webBackend{}

func (b webBackend) FreeBusy(ctx context.Context, requester *httpd.User, address string, start, end time.Time) ([]httpd.Event, error) {
	m := b.r.t.Mailbox(address)
	if m == nil || !b.r.t.IsAcceptedDomain(topology.Domain(address)) {
		return nil, fmt.Errorf("%w: %s", httpd.ErrNotFound, address)
	}
	if strings.EqualFold(m.Server, b.r.s.Config.Name) {
		return b.mailboxEvents(m.Address)
	}
	home := b.r.t.Server(m.Server)
	if home == nil {
		return nil, fmt.Errorf("free/busy of %s: no server %s", address, m.Server)
	}
	return b.r.remoteFreeBusy(ctx, home, requester, m.Address, start, end)
}

// availabilityRequest asks for one mailbox's free/busy in UTC.
const availabilityRequest = `<?xml version="1.0" encoding="utf-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">
<s:Header><t:RequestServerVersion Version="Exchange2016"/></s:Header>
<s:Body><m:GetUserAvailabilityRequest><t:TimeZone><t:Bias>0</t:Bias>
<t:StandardTime><t:Bias>0</t:Bias><t:Time>00:00:00</t:Time><t:DayOrder>1</t:DayOrder><t:Month>1</t:Month><t:DayOfWeek>Sunday</t:DayOfWeek></t:StandardTime>
<t:DaylightTime><t:Bias>0</t:Bias><t:Time>00:00:00</t:Time><t:DayOrder>5</t:DayOrder><t:Month>12</t:Month><t:DayOfWeek>Sunday</t:DayOfWeek></t:DaylightTime></t:TimeZone>
<m:MailboxDataArray><t:MailboxData><t:Email><t:Address>%s</t:Address></t:Email><t:AttendeeType>Required</t:AttendeeType></t:MailboxData></m:MailboxDataArray>
<t:FreeBusyViewOptions><t:TimeWindow><t:StartTime>%s</t:StartTime><t:EndTime>%s</t:EndTime></t:TimeWindow>
<t:MergedFreeBusyIntervalInMinutes>30</t:MergedFreeBusyIntervalInMinutes><t:RequestedView>FreeBusy</t:RequestedView></t:FreeBusyViewOptions>
</m:GetUserAvailabilityRequest></s:Body></s:Envelope>`

// availabilityAnswer is the part of a GetUserAvailability response a
// cross-server request reads.
type availabilityAnswer struct {
	Code   string `xml:"Body>GetUserAvailabilityResponse>FreeBusyResponseArray>FreeBusyResponse>ResponseMessage>ResponseCode"`
	Events []struct {
		Start    string `xml:"StartTime"`
		End      string `xml:"EndTime"`
		BusyType string
	} `xml:"Body>GetUserAvailabilityResponse>FreeBusyResponseArray>FreeBusyResponse>FreeBusyView>CalendarEventArray>CalendarEvent"`
}

func (r *mailboxRole) remoteFreeBusy(ctx context.Context, home *topology.Server, requester *httpd.User, address string, start, end time.Time) ([]httpd.Event, error) {
	const local = "2006-01-02T15:04:05"
	body := fmt.Sprintf(availabilityRequest, xmlText(address), start.UTC().Format(local), end.UTC().Format(local))
	ticket, err := certs.SignServerTicket(r.s.cert, home.FQDN, requester.Address, r.s.rt.o.Now())
	if err != nil {
		return nil, err
	}
	url := fmt.Sprintf("https://%s/EWS/Exchange.asmx", net.JoinHostPort(home.Address, fmt.Sprint(r.t.Port(444))))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Host = home.FQDN
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	req.Header.Set(commonAccessToken, requester.Address)
	req.Header.Set(serverTicketHeader, ticket)
	tr := &http.Transport{DialContext: r.s.dialer.DialContext, TLSClientConfig: certs.BackEndClientTLS(home.FQDN)}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("free/busy of %s from %s: %w", address, home.Name, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, fmt.Errorf("free/busy of %s from %s: %w", address, home.Name, err)
	}
	var a availabilityAnswer
	if err := xml.Unmarshal(raw, &a); err != nil || resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("free/busy of %s from %s: HTTP %d: %v", address, home.Name, resp.StatusCode, err)
	}
	switch a.Code {
	case "NoError":
	case "ErrorMailRecipientNotFound":
		return nil, fmt.Errorf("%w: %s on %s", httpd.ErrNotFound, address, home.Name)
	default:
		return nil, fmt.Errorf("free/busy of %s from %s: %s", address, home.Name, a.Code)
	}
	var out []httpd.Event
	for _, e := range a.Events {
		s, err1 := time.Parse(local, e.Start)
		t, err2 := time.Parse(local, e.End)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("free/busy of %s from %s: event %s-%s", address, home.Name, e.Start, e.End)
		}
		out = append(out, httpd.Event{Start: s, End: t, BusyStatus: e.BusyType})
	}
	return out, nil
}

func xmlText(s string) string {
	var b bytes.Buffer
	xml.EscapeText(&b, []byte(s))
	return b.String()
}
