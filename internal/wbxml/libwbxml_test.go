package wbxml

import (
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// libwbxmlUnknown are tags of MS-ASWBXML (protocol 16.x) that libwbxml
// 0.11.8's ActiveSync tables do not have: libwbxml cannot name them, so
// they are left out of the comparison.
var libwbxmlUnknown = map[string]bool{"MeetingResponse:ProposedStartTime": true, "MeetingResponse:ProposedEndTime": true, "Provision:AccountOnlyRemoteWipe": true}

// libwbxmlNames are tokens libwbxml names after older revisions of the
// spec (and one typo of its own): our name, then libwbxml's.
const libwbxmlNames = `
Contacts:AssistantPhoneNumber AssistantTelephoneNumber
Contacts:BusinessAddressCity BusinessCity
Contacts:BusinessAddressCountry BusinessCountry
Contacts:BusinessAddressPostalCode BusinessPostalCode
Contacts:BusinessAddressState BusinessState
Contacts:BusinessAddressStreet BusinessStreet
Contacts:HomeAddressCity HomeCity
Contacts:HomeAddressCountry HomeCountry
Contacts:HomeAddressPostalCode HomePostalCode
Contacts:HomeAddressState HomeState
Contacts:HomeAddressStreet HomeStreet
Contacts:OtherAddressCity OtherCity
Contacts:OtherAddressCountry OtherCountry
Contacts:OtherAddressPostalCode OtherPostalCode
Contacts:OtherAddressState OtherState
Contacts:OtherAddressStreet OtherStreet
Email:ReplyTo Reply-To
Email:Status FlagStatus
Calendar:Email Attendee_Email
Calendar:Name Attendee_Name
Calendar:Deleted Exception_Deleted
Calendar:ExceptionStartTime Exception_StartTime
Calendar:OrganizerEmail Organizer_Email
Calendar:OrganizerName Organizer_Name
Calendar:Type Recurrence_Type
Calendar:Until Recurrence_Until
Calendar:Occurrences Recurrence_Occurrences
Calendar:Interval Recurrence_Interval
Calendar:DayOfWeek Recurrence_DayOfWeek
Calendar:DayOfMonth Recurrence_DayOfMonth
Calendar:WeekOfMonth Recurrence_WeekOfMonth
Calendar:MonthOfYear Recurrence_MonthOfYear
Calendar:AttendeeStatus Attendee_Status
Calendar:AttendeeType Attendee_Type
Tasks:Type Recurrence_Type
Tasks:Start Recurrence_Start
Tasks:Until Recurrence_Until
Tasks:Occurrences Recurrence_Occurrences
Tasks:Interval Recurrence_Interval
Tasks:DayOfMonth Recurrence_DayOfMonth
Tasks:DayOfWeek Recurrence_DayOfWeek
Tasks:WeekOfMonth Recurrence_WeekOfMonth
Tasks:MonthOfYear Recurrence_MonthOfYear
Tasks:Regenerate Recurrence_Regenerate
Tasks:DeadOccur Recurrence_DeadOccur
Provision:RequireStorageCardEncryption DeviceEncryptionEnabled
Settings:RightsManagementInformation ihsManagementInformation
RightsManagement:Owner RMOwner
`

// TestLibwbxmlAgrees decodes our encoding of every tag of every code
// page with libwbxml's wbxml2xml (Debian libwbxml2-utils), an independent
// implementation of the ActiveSync code pages, and compares the names.
func TestLibwbxmlAgrees(t *testing.T) {
	tool, err := exec.LookPath("wbxml2xml")
	if err != nil {
		t.Skip("wbxml2xml not installed (apt-get install libwbxml2-utils)")
	}
	root := E("AirSync:Sync")
	var want []string
	for _, cp := range codePages {
		for _, tag := range cp.tags {
			if tag != "" && !libwbxmlUnknown[cp.name+":"+tag] {
				root.Add(T(cp.name+":"+tag, "x"))
				want = append(want, cp.name+":"+tag)
			}
		}
	}
	enc, err := Encode(root)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.wbxml"), filepath.Join(dir, "out.xml")
	if err := os.WriteFile(in, enc, 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command(tool, "-l", "ACTIVESYNC", "-m", "0", "-o", out, in).CombinedOutput(); err != nil {
		t.Fatalf("wbxml2xml: %v\n%s", err, b)
	}
	doc, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	d := xml.NewDecoder(strings.NewReader(string(doc)))
	d.Strict = false
	var got []string
	depth := 0
	for {
		tok, err := d.Token()
		if err != nil {
			break
		}
		switch e := tok.(type) {
		case xml.StartElement:
			if depth == 1 {
				got = append(got, strings.TrimSuffix(e.Name.Space, ":")+":"+e.Name.Local)
			}
			depth++
		case xml.EndElement:
			depth--
		}
	}
	if len(got) != len(want) {
		t.Fatalf("libwbxml read %d elements, we wrote %d:\n%s", len(got), len(want), doc)
	}
	theirs := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(libwbxmlNames), "\n") {
		ours, name, _ := strings.Cut(l, " ")
		page, _, _ := strings.Cut(ours, ":")
		theirs[ours] = page + ":" + name
	}
	for i := range want {
		if alias, ok := theirs[want[i]]; ok && got[i] == alias {
			continue
		}
		if !strings.EqualFold(got[i], want[i]) {
			t.Errorf("token of %s: libwbxml reads it as %s", want[i], got[i])
		}
	}

	// Back through libwbxml's encoder (which puts its public identifier
	// in a string table): we read the same document again.
	again := filepath.Join(dir, "again.wbxml")
	if b, err := exec.Command(filepath.Join(filepath.Dir(tool), "xml2wbxml"), "-o", again, out).CombinedOutput(); err != nil {
		t.Fatalf("xml2wbxml: %v\n%s", err, b)
	}
	raw, err := os.ReadFile(again)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Decode(raw)
	if err != nil {
		t.Fatalf("Decode(libwbxml's encoding) = %v", err)
	}
	if len(back.Children) != len(root.Children) {
		t.Fatalf("libwbxml's encoding holds %d elements, want %d", len(back.Children), len(root.Children))
	}
	for i, c := range back.Children {
		// libwbxml holds a few elements (Data, ConversationId...) as
		// binary: it reads their text as base64 and writes OPAQUE.
		if w := root.Children[i]; c.Name() != w.Name() || c.Text != "x" && c.Opaque == nil {
			t.Errorf("element %d = %s %q, want %s", i, c.Name(), c.Text, w.Name())
		}
	}
}
