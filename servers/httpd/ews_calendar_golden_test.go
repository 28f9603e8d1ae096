package httpd

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// The calendar and people steps of TestEWSGolden.

// ewsUTC is an Availability TimeZone for UTC; ewsBerlin is W. Europe
// Standard Time as Outlook sends it (CEST in April: UTC+2).
const (
	ewsUTC = `<t:TimeZone><t:Bias>0</t:Bias><t:StandardTime><t:Bias>0</t:Bias><t:Time>00:00:00</t:Time><t:DayOrder>1</t:DayOrder><t:Month>1</t:Month><t:DayOfWeek>Monday</t:DayOfWeek></t:StandardTime>` +
		`<t:DaylightTime><t:Bias>0</t:Bias><t:Time>00:00:00</t:Time><t:DayOrder>5</t:DayOrder><t:Month>12</t:Month><t:DayOfWeek>Sunday</t:DayOfWeek></t:DaylightTime></t:TimeZone>`
	ewsBerlin = `<t:TimeZone><t:Bias>-60</t:Bias><t:StandardTime><t:Bias>0</t:Bias><t:Time>03:00:00</t:Time><t:DayOrder>5</t:DayOrder><t:Month>10</t:Month><t:DayOfWeek>Sunday</t:DayOfWeek></t:StandardTime>` +
		`<t:DaylightTime><t:Bias>-60</t:Bias><t:Time>02:00:00</t:Time><t:DayOrder>5</t:DayOrder><t:Month>3</t:Month><t:DayOfWeek>Sunday</t:DayOfWeek></t:DaylightTime></t:TimeZone>`
)

func availabilityRequest(zone, view, start, end string, addrs ...string) string {
	var b strings.Builder
	b.WriteString(`<m:GetUserAvailabilityRequest>` + zone + `<m:MailboxDataArray>`)
	for _, a := range addrs {
		b.WriteString(`<t:MailboxData><t:Email><t:Address>` + a + `</t:Address></t:Email><t:AttendeeType>Required</t:AttendeeType><t:ExcludeConflicts>false</t:ExcludeConflicts></t:MailboxData>`)
	}
	b.WriteString(`</m:MailboxDataArray><t:FreeBusyViewOptions><t:TimeWindow><t:StartTime>` + start + `</t:StartTime><t:EndTime>` + end + `</t:EndTime></t:TimeWindow>` +
		`<t:MergedFreeBusyIntervalInMinutes>60</t:MergedFreeBusyIntervalInMinutes><t:RequestedView>` + view + `</t:RequestedView></t:FreeBusyViewOptions></m:GetUserAvailabilityRequest>`)
	return b.String()
}

func createAppointment(invitations, body string) string {
	return `<m:CreateItem MessageDisposition="SaveOnly" SendMeetingInvitations="` + invitations + `"><m:SavedItemFolderId><t:DistinguishedFolderId Id="calendar"/></m:SavedItemFolderId>` +
		`<m:Items><t:CalendarItem>` + body + `</t:CalendarItem></m:Items></m:CreateItem>`
}

const bobAttendee = `<t:RequiredAttendees><t:Attendee><t:Mailbox><t:Name>Bob Smith</t:Name><t:EmailAddress>bob@contoso.com</t:EmailAddress></t:Mailbox></t:Attendee></t:RequiredAttendees>`

var ewsCalendarSteps = []ewsStep{
	{"", createAppointment("SendToNone", `<t:Subject>Dentist</t:Subject><t:Body BodyType="Text">Bring the card.</t:Body><t:Start>2024-04-03T09:00:00Z</t:Start><t:End>2024-04-03T10:00:00Z</t:End>`+
		`<t:LegacyFreeBusyStatus>OOF</t:LegacyFreeBusyStatus><t:Location>Main Street 1</t:Location>`)},
	{"", createAppointment("SendToAllAndSaveCopy", `<t:Subject>Budget review</t:Subject><t:Body BodyType="HTML">&lt;p&gt;Numbers, please.&lt;/p&gt;</t:Body>`+
		`<t:Start>2024-04-03T13:00:00Z</t:Start><t:End>2024-04-03T14:30:00Z</t:End><t:Location>Room 1</t:Location>`+bobAttendee+
		`<t:OptionalAttendees><t:Attendee><t:Mailbox><t:EmailAddress>carol@fabrikam.com</t:EmailAddress></t:Mailbox></t:Attendee></t:OptionalAttendees>`)},
	{"", createAppointment("SendOnlyToAll", `<t:Subject>Offsite</t:Subject><t:Start>2024-04-05T00:00:00Z</t:Start><t:End>2024-04-06T00:00:00Z</t:End><t:IsAllDayEvent>true</t:IsAllDayEvent>`+bobAttendee)},
	{"", createAppointment("SendToNone", `<t:Subject>Backwards</t:Subject><t:Start>2024-04-03T10:00:00Z</t:Start><t:End>2024-04-03T09:00:00Z</t:End>`)},
	{"", `<m:CreateItem MessageDisposition="SaveOnly"><m:Items><t:CalendarItem><t:Subject>No mode</t:Subject><t:Start>2024-04-03T10:00:00Z</t:Start><t:End>2024-04-03T11:00:00Z</t:End></t:CalendarItem></m:Items></m:CreateItem>`},
	{"", `<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties><t:FieldURI FieldURI="item:Subject"/>
		<t:FieldURI FieldURI="calendar:Start"/><t:FieldURI FieldURI="calendar:End"/><t:FieldURI FieldURI="calendar:LegacyFreeBusyStatus"/><t:FieldURI FieldURI="calendar:IsAllDayEvent"/>
		<t:FieldURI FieldURI="calendar:Organizer"/><t:FieldURI FieldURI="calendar:RequiredAttendees"/></t:AdditionalProperties></m:ItemShape>
		<m:CalendarView StartDate="2024-04-01T00:00:00Z" EndDate="2024-04-08T00:00:00Z"/><m:ParentFolderIds><t:DistinguishedFolderId Id="calendar"/></m:ParentFolderIds></m:FindItem>`},
	{"", `<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>Default</t:BaseShape></m:ItemShape>
		<m:CalendarView MaxEntriesReturned="1" StartDate="2024-04-03T12:00:00Z" EndDate="2024-04-30T00:00:00Z"/><m:ParentFolderIds><t:DistinguishedFolderId Id="calendar"/></m:ParentFolderIds></m:FindItem>`},
	{"", `<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>
		<m:CalendarView StartDate="2024-04-01T00:00:00Z" EndDate="2024-04-08T00:00:00Z"/><m:ParentFolderIds><t:DistinguishedFolderId Id="inbox"/></m:ParentFolderIds></m:FindItem>`},
	{"", `<m:GetItem><m:ItemShape><t:BaseShape>AllProperties</t:BaseShape><t:BodyType>Text</t:BodyType></m:ItemShape><m:ItemIds><t:ItemId Id="{{item "Calendar" "8"}}"/></m:ItemIds></m:GetItem>`},
	{"", `<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties><t:FieldURI FieldURI="item:Subject"/><t:FieldURI FieldURI="calendar:Start"/></t:AdditionalProperties></m:ItemShape>
		<m:IndexedPageItemView MaxEntriesReturned="2" Offset="0" BasePoint="Beginning"/><m:ParentFolderIds><t:DistinguishedFolderId Id="calendar"/></m:ParentFolderIds></m:FindItem>`},
	{"", `<m:SyncFolderItems><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape><m:SyncFolderId><t:DistinguishedFolderId Id="calendar"/></m:SyncFolderId><m:MaxChangesReturned>1</m:MaxChangesReturned></m:SyncFolderItems>`},
	{"", availabilityRequest(ewsBerlin, "DetailedMerged", "2024-04-03T08:00:00", "2024-04-03T18:00:00", "alice@contoso.com", "bob@contoso.com", "nobody@contoso.com")},
	{"", availabilityRequest(ewsUTC, "FreeBusy", "2024-04-05T00:00:00", "2024-04-06T00:00:00", "bob@contoso.com")},
	{"", availabilityRequest(ewsUTC, "FreeBusy", "2024-04-01T00:00:00", "2024-07-01T00:00:00", "bob@contoso.com")},
}

// checkMeetingRequests checks what the calendar steps sent: two meeting
// requests (the SendToNone items and the refused ones sent nothing), the
// first also to the optional attendee and saved in Sent Items.
func checkMeetingRequests(t *testing.T, fs *fakeStore) {
	if len(fs.sent) != 2 {
		t.Fatalf("sent %d messages, want 2 meeting requests", len(fs.sent))
	}
	for i, want := range [][]string{{"bob@contoso.com", "carol@fabrikam.com"}, {"bob@contoso.com"}} {
		s := fs.sent[i]
		m, err := parseMessage(s.msg)
		if err != nil || !slices.Equal(s.rcpts, want) || !strings.Contains(string(s.msg), "text/calendar; charset=utf-8; method=REQUEST") {
			t.Errorf("request %d to %v: %v\n%s", i, s.rcpts, err, s.msg)
			continue
		}
		ev := ParseEvents([]byte(m.Calendar))
		if len(ev) != 1 || ev[0].Method != "REQUEST" || ev[0].BusyStatus != BusyTentative || ev[0].Organizer != "alice@contoso.com" ||
			!strings.Contains(m.Calendar, "X-MICROSOFT-CDO-INTENDEDSTATUS:BUSY") {
			t.Errorf("request %d event = %+v\n%s", i, ev, m.Calendar)
		}
	}
	sent, _ := fs.ListFolder(t.Context(), "alice@contoso.com", FolderSentItems)
	if len(sent) != 1 || sent[0].Subject != "Budget review" {
		t.Errorf("Sent Items = %+v, want the first request only", sent)
	}
}

var ewsPeopleSteps = []ewsStep{
	{"", `<m:GetServerTimeZones ReturnFullTimeZoneData="true"><m:Ids><t:Id>UTC</t:Id><t:Id>W. Europe Standard Time</t:Id><t:Id>Mars Standard Time</t:Id></m:Ids></m:GetServerTimeZones>`},
	{"", `<m:GetServerTimeZones ReturnFullTimeZoneData="false"><m:Ids><t:Id>Pacific Standard Time</t:Id></m:Ids></m:GetServerTimeZones>`},
	{"", `<m:ExpandDL><m:Mailbox><t:EmailAddress>all@contoso.com</t:EmailAddress></m:Mailbox></m:ExpandDL>`},
	{"", `<m:ExpandDL><m:Mailbox/></m:ExpandDL>`},
	{"", `<m:GetUserOofSettingsRequest><t:Mailbox><t:Address>alice@contoso.com</t:Address></t:Mailbox></m:GetUserOofSettingsRequest>`},
	{"", `<m:SetUserOofSettingsRequest><t:Mailbox><t:Address>alice@contoso.com</t:Address></t:Mailbox><t:UserOofSettings><t:OofState>Enabled</t:OofState>
		<t:ExternalAudience>Known</t:ExternalAudience><t:InternalReply><t:Message>I am away.</t:Message></t:InternalReply>
		<t:ExternalReply><t:Message>Out of office.</t:Message></t:ExternalReply></t:UserOofSettings></m:SetUserOofSettingsRequest>`},
	{"", `<m:GetUserOofSettingsRequest><t:Mailbox><t:Address>alice@contoso.com</t:Address></t:Mailbox></m:GetUserOofSettingsRequest>`},
	{"", `<m:SetUserOofSettingsRequest><t:Mailbox><t:Address>alice@contoso.com</t:Address></t:Mailbox><t:UserOofSettings><t:OofState>Scheduled</t:OofState>
		<t:Duration><t:StartTime>2024-03-01T00:00:00Z</t:StartTime><t:EndTime>2024-03-02T00:00:00Z</t:EndTime></t:Duration>
		<t:InternalReply><t:Message>x</t:Message></t:InternalReply><t:ExternalReply><t:Message>x</t:Message></t:ExternalReply></t:UserOofSettings></m:SetUserOofSettingsRequest>`},
	{"", `<m:GetUserOofSettingsRequest><t:Mailbox><t:Address>bob@contoso.com</t:Address></t:Mailbox></m:GetUserOofSettingsRequest>`},
	{"", `<m:GetUserOofSettingsRequest><t:Mailbox><t:Address>nobody@contoso.com</t:Address></t:Mailbox></m:GetUserOofSettingsRequest>`},
}

// TestOWAShowsOOF checks that Outlook on the web says so while the user's
// automatic replies are on, and not otherwise.
func TestOWAShowsOOF(t *testing.T) {
	fs := newFakeStore()
	o := testOptions()
	o.Now = func() time.Time { return fakeNow }
	ts := newTestServerWith(t, o, fs, fs.fakeBackend)
	for _, tc := range []struct {
		oof  OOFSettings
		want bool
	}{
		{OOFSettings{State: "Disabled"}, false},
		{OOFSettings{State: "Enabled", InternalReply: "away"}, true},
		{OOFSettings{State: "Scheduled", Start: fakeNow.Add(time.Hour), End: fakeNow.Add(2 * time.Hour)}, false},
		{OOFSettings{State: "Scheduled", Start: fakeNow.Add(-time.Hour), End: fakeNow.Add(time.Hour)}, true},
	} {
		fs.SetOOF(t.Context(), "alice@contoso.com", tc.oof)
		c := ts.client(true)
		owaLogon(t, ts, c, "alice@contoso.com", "P@ssw0rd")
		_, body := get(t, c, ts.base+"/owa/")
		if got := strings.Contains(body, `id="oofnotice"`); got != tc.want {
			t.Errorf("OOF %+v: notice shown = %v, want %v", tc.oof, got, tc.want)
		}
	}
}

// TestEWSCalendarBadInput sends the calendar, availability and OOF
// operations with parts missing or wrong: each gets an EWS error code in
// a SOAP answer, never a Go error or a crash.
func TestEWSCalendarBadInput(t *testing.T) {
	fs := newFakeStore()
	o := testOptions()
	o.BasicAuth = &BasicAuth{EWS: true}
	o.Now = func() time.Time { return fakeNow }
	ts := newTestServerWith(t, o, fs, fs.fakeBackend)
	for _, tc := range []struct{ body, code string }{
		{createAppointment("SendToNone", `<t:Subject>x</t:Subject>`), "ErrorCalendarInvalidPropertyValue"},
		{createAppointment("SendToNone", `<t:Start>tomorrow</t:Start><t:End>2024-04-03T09:00:00Z</t:End>`), "ErrorCalendarInvalidPropertyValue"},
		{createAppointment("SendToNone", `<t:Start>2024-04-03T09:00:00Z</t:Start><t:End>2024-04-03T10:00:00Z</t:End><t:LegacyFreeBusyStatus>Sleepy</t:LegacyFreeBusyStatus>`), "ErrorCalendarInvalidPropertyValue"},
		{createAppointment("SendToAllAndSaveCopy", `<t:Start>2024-04-03T09:00:00Z</t:Start><t:End>2024-04-03T10:00:00Z</t:End>`+
			`<t:RequiredAttendees><t:Attendee><t:Mailbox><t:EmailAddress>not an address</t:EmailAddress></t:Mailbox></t:Attendee></t:RequiredAttendees>`), "ErrorInvalidRecipients"},
		{`<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape><m:CalendarView/><m:ParentFolderIds><t:DistinguishedFolderId Id="calendar"/></m:ParentFolderIds></m:FindItem>`, "ErrorCalendarInvalidPropertyValue"},
		{`<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape><m:CalendarView StartDate="2020-01-01T00:00:00Z" EndDate="2029-01-01T00:00:00Z"/><m:ParentFolderIds><t:DistinguishedFolderId Id="calendar"/></m:ParentFolderIds></m:FindItem>`, "ErrorCalendarViewRangeTooBig"},
		{`<m:GetUserAvailabilityRequest/>`, "ErrorInvalidTimeInterval"},
		{`<m:GetUserAvailabilityRequest>` + ewsUTC + `</m:GetUserAvailabilityRequest>`, "ErrorInvalidRequest"},
		{`<m:GetUserAvailabilityRequest>` + ewsUTC + `<m:MailboxDataArray/><t:FreeBusyViewOptions><t:TimeWindow><t:StartTime>2024-04-01T00:00:00</t:StartTime><t:EndTime>2024-04-02T00:00:00</t:EndTime></t:TimeWindow></t:FreeBusyViewOptions></m:GetUserAvailabilityRequest>`, "ErrorMailboxDataArrayEmpty"},
		{availabilityRequest(ewsUTC, "Everything", "2024-04-01T00:00:00", "2024-04-02T00:00:00", "bob@contoso.com"), "ErrorInvalidFreeBusyViewType"},
		{strings.Replace(availabilityRequest(ewsUTC, "FreeBusy", "2024-04-01T00:00:00", "2024-04-02T00:00:00", "bob@contoso.com"), ">60<", ">1<", 1), "ErrorInvalidMergedFreeBusyInterval"},
		{strings.Replace(availabilityRequest(ewsUTC, "FreeBusy", "2024-04-01T00:00:00", "2024-04-02T00:00:00", "bob@contoso.com"), "<t:Bias>0</t:Bias>", "<t:Bias>east</t:Bias>", 1), "ErrorInvalidTimeInterval"},
		{`<m:SetUserOofSettingsRequest><t:Mailbox><t:Address>alice@contoso.com</t:Address></t:Mailbox></m:SetUserOofSettingsRequest>`, "ErrorInvalidOofParameter"},
		{`<m:SetUserOofSettingsRequest><t:Mailbox><t:Address>alice@contoso.com</t:Address></t:Mailbox><t:UserOofSettings><t:OofState>Scheduled</t:OofState></t:UserOofSettings></m:SetUserOofSettingsRequest>`, "ErrorInvalidScheduledOofDuration"},
		{`<m:GetUserOofSettingsRequest/>`, "ErrorInvalidOofParameter"},
	} {
		resp, body := postEWS(t, ts, ewsEnvelope(tc.body))
		if resp.StatusCode != 200 || !strings.Contains(body, "<m:ResponseCode>"+tc.code+"</m:ResponseCode>") {
			t.Errorf("%s\n= %d, want %s:\n%s", tc.body, resp.StatusCode, tc.code, body)
		}
	}
}
