package rca

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// The EWS operations of RCA's Exchange Web Services test, written from
// the EWS reference (learn.microsoft.com, "EWS XML elements in Exchange"):
// synchronization (FindFolder, SyncFolderItems), notification (Subscribe
// to pull notifications, GetEvents, Unsubscribe), availability
// (GetUserAvailability) and automatic replies (GetUserOofSettings, and
// SetUserOofSettings writing back what Get returned, so the user's
// settings are left as they were).
const soapEnvelope = `<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types" xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages">
<soap:Header><t:RequestServerVersion Version="Exchange2016"/></soap:Header>
<soap:Body>%s</soap:Body>
</soap:Envelope>`

// ewsCall posts one operation and checks every ResponseClass; it returns
// the answer for the caller to read values from.
func (w *web) ewsCall(path, body string) (*xmlDoc, error) {
	resp, b, err := w.do("ntlm", http.MethodPost, path, fmt.Appendf(nil, soapEnvelope, body),
		map[string]string{"Content-Type": "text/xml; charset=utf-8"})
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, statusErr(resp, b)
	}
	d, err := parseXML(b)
	if err != nil {
		return nil, fmt.Errorf("the answer is not SOAP XML: %w", err)
	}
	if len(d.classes) == 0 {
		return nil, errors.New("the answer holds no ResponseMessage")
	}
	for i, c := range d.classes {
		if c != "Success" {
			return nil, fmt.Errorf("ResponseClass %s: %s %s", c, d.codes[i], d.first("MessageText"))
		}
	}
	return d, nil
}

// xmlDoc is an answer flattened: the text of every element by local
// name, and every ResponseClass with its ResponseCode.
type xmlDoc struct {
	text    map[string][]string
	classes []string
	codes   []string
}

func parseXML(b []byte) (*xmlDoc, error) {
	d := &xmlDoc{text: map[string][]string{}}
	dec := xml.NewDecoder(bytes.NewReader(b))
	var stack []string
	var cur strings.Builder
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			if len(stack) != 0 {
				return nil, io.ErrUnexpectedEOF
			}
			return d, nil
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			stack = append(stack, t.Name.Local)
			cur.Reset()
			for _, a := range t.Attr {
				switch a.Name.Local {
				case "ResponseClass":
					d.classes = append(d.classes, a.Value)
					d.codes = append(d.codes, "")
				case "Id":
					d.text[t.Name.Local+"@Id"] = append(d.text[t.Name.Local+"@Id"], a.Value)
				}
			}
		case xml.CharData:
			cur.Write(t)
		case xml.EndElement:
			name := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			v := strings.TrimSpace(cur.String())
			d.text[name] = append(d.text[name], v)
			if name == "ResponseCode" && len(d.codes) > 0 && d.codes[len(d.codes)-1] == "" {
				d.codes[len(d.codes)-1] = v
			}
			cur.Reset()
		}
	}
}

// first is the text of the first element named name ("" when none).
func (d *xmlDoc) first(name string) string {
	if v := d.text[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func (d *xmlDoc) count(name string) int { return len(d.text[name]) }

func ewsTest(r *run) {
	ad, ok := r.autodiscover(false)
	if !ok {
		return
	}
	ews := ad.ewsURL()
	if !r.step("Find the EWS URL in the Autodiscover answer", func() (string, error) {
		if ews == "" {
			return "", errors.New("no EXPR, EXCH or WEB protocol names an ASUrl")
		}
		return ews, nil
	}) {
		return
	}
	w, u, ok := r.webFor(ews)
	if !ok || !w.challenge(http.MethodPost, u.Path, "NTLM", "Negotiate") {
		return
	}
	p := u.Path
	op := func(name, body string, detail func(*xmlDoc) string) *xmlDoc {
		var d *xmlDoc
		r.step(name, func() (string, error) {
			var err error
			if d, err = w.ewsCall(p, body); err != nil {
				return "", err
			}
			return detail(d), nil
		})
		return d
	}
	// Synchronization.
	op("Synchronization: FindFolder under the mailbox root", `<m:FindFolder Traversal="Shallow"><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties><t:FieldURI FieldURI="folder:DisplayName"/></t:AdditionalProperties></m:FolderShape><m:ParentFolderIds><t:DistinguishedFolderId Id="msgfolderroot"/></m:ParentFolderIds></m:FindFolder>`,
		func(d *xmlDoc) string {
			return fmt.Sprintf("%d folders: %s", d.count("DisplayName"), strings.Join(d.text["DisplayName"], ", "))
		})
	op("Synchronization: SyncFolderItems on the Inbox", `<m:SyncFolderItems><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape><m:SyncFolderId><t:DistinguishedFolderId Id="inbox"/></m:SyncFolderId><m:MaxChangesReturned>50</m:MaxChangesReturned></m:SyncFolderItems>`,
		func(d *xmlDoc) string {
			return fmt.Sprintf("%d changes, IncludesLastItemInRange %s", d.count("Create")+d.count("Update")+d.count("Delete"), d.first("IncludesLastItemInRange"))
		})
	// Notification.
	sub := op("Notification: Subscribe to pull notifications on the Inbox", `<m:Subscribe><m:PullSubscriptionRequest><t:FolderIds><t:DistinguishedFolderId Id="inbox"/></t:FolderIds><t:EventTypes><t:EventType>NewMailEvent</t:EventType><t:EventType>CreatedEvent</t:EventType></t:EventTypes><t:Timeout>5</t:Timeout></m:PullSubscriptionRequest></m:Subscribe>`,
		func(d *xmlDoc) string { return "SubscriptionId " + d.first("SubscriptionId") })
	if sub != nil {
		id := xmlText(sub.first("SubscriptionId"))
		op("Notification: GetEvents", `<m:GetEvents><m:SubscriptionId>`+id+`</m:SubscriptionId><m:Watermark>`+xmlText(sub.first("Watermark"))+`</m:Watermark></m:GetEvents>`,
			func(d *xmlDoc) string {
				return fmt.Sprintf("%d events (status events %d)", len(d.text["Watermark"]), d.count("StatusEvent"))
			})
		op("Notification: Unsubscribe", `<m:Unsubscribe><m:SubscriptionId>`+id+`</m:SubscriptionId></m:Unsubscribe>`,
			func(*xmlDoc) string { return "subscription ended" })
	}
	// Availability.
	now := time.Now().UTC()
	op("Availability: GetUserAvailability for "+r.o.User, fmt.Sprintf(`<m:GetUserAvailabilityRequest><t:TimeZone><t:Bias>0</t:Bias><t:StandardTime><t:Bias>0</t:Bias><t:Time>02:00:00</t:Time><t:DayOrder>5</t:DayOrder><t:Month>10</t:Month><t:DayOfWeek>Sunday</t:DayOfWeek></t:StandardTime><t:DaylightTime><t:Bias>0</t:Bias><t:Time>02:00:00</t:Time><t:DayOrder>1</t:DayOrder><t:Month>4</t:Month><t:DayOfWeek>Sunday</t:DayOfWeek></t:DaylightTime></t:TimeZone><m:MailboxDataArray><t:MailboxData><t:Email><t:Address>%s</t:Address></t:Email><t:AttendeeType>Required</t:AttendeeType></t:MailboxData></m:MailboxDataArray><t:FreeBusyViewOptions><t:TimeWindow><t:StartTime>%s</t:StartTime><t:EndTime>%s</t:EndTime></t:TimeWindow><t:MergedFreeBusyIntervalInMinutes>30</t:MergedFreeBusyIntervalInMinutes><t:RequestedView>FreeBusy</t:RequestedView></t:FreeBusyViewOptions></m:GetUserAvailabilityRequest>`,
		xmlText(r.o.User), now.Format("2006-01-02T00:00:00"), now.Add(48*time.Hour).Format("2006-01-02T00:00:00")),
		func(d *xmlDoc) string {
			return fmt.Sprintf("free/busy view %s, %d calendar events", d.first("FreeBusyViewType"), d.count("CalendarEvent"))
		})
	// Automatic replies.
	oof := op("Automatic replies: GetUserOofSettings", `<m:GetUserOofSettingsRequest><t:Mailbox><t:Address>`+xmlText(r.o.User)+`</t:Address></t:Mailbox></m:GetUserOofSettingsRequest>`,
		func(d *xmlDoc) string {
			return fmt.Sprintf("OofState %s, ExternalAudience %s", d.first("OofState"), d.first("ExternalAudience"))
		})
	if oof != nil {
		op("Automatic replies: SetUserOofSettings (the same settings back)", setOOF(r.o.User, oof),
			func(*xmlDoc) string { return "settings written back unchanged" })
	}
}

// setOOF writes back the settings GetUserOofSettings returned.
func setOOF(user string, d *xmlDoc) string {
	state, aud := d.first("OofState"), d.first("ExternalAudience")
	if state == "" {
		state = "Disabled"
	}
	if aud == "" {
		aud = "None"
	}
	var dur string
	if st, et := d.first("StartTime"), d.first("EndTime"); st != "" && et != "" {
		dur = `<t:Duration><t:StartTime>` + xmlText(st) + `</t:StartTime><t:EndTime>` + xmlText(et) + `</t:EndTime></t:Duration>`
	}
	msgs := d.text["Message"]
	msg := func(i int) string {
		if i < len(msgs) {
			return xmlText(msgs[i])
		}
		return ""
	}
	return `<m:SetUserOofSettingsRequest><t:Mailbox><t:Address>` + xmlText(user) + `</t:Address></t:Mailbox><t:UserOofSettings><t:OofState>` + state +
		`</t:OofState><t:ExternalAudience>` + aud + `</t:ExternalAudience>` + dur +
		`<t:InternalReply><t:Message>` + msg(0) + `</t:Message></t:InternalReply><t:ExternalReply><t:Message>` + msg(1) + `</t:Message></t:ExternalReply></t:UserOofSettings></m:SetUserOofSettingsRequest>`
}
