package wbxml

import (
	"bytes"
	"encoding/hex"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// specContact is the example of MS-ASWBXML section 3 ("Algorithm
// Examples"): a Sync response that adds a contact.
const specContact = "03016A00455C4F5003436F6E746163747300014B0332000152033200014E0331000156474D03323A3100015D00114A46033100014C033000014D033100010100015E0346756E6B2C20446F6E00015F03446F6E0001690346756E6B000100115603310001010101010101"

func specContactTree() *Node {
	return E("AirSync:Sync", E("AirSync:Collections", E("AirSync:Collection",
		T("AirSync:Class", "Contacts"), T("AirSync:SyncKey", "2"), T("AirSync:CollectionId", "2"), T("AirSync:Status", "1"),
		E("AirSync:Commands", E("AirSync:Add", T("AirSync:ServerId", "2:1"), E("AirSync:ApplicationData",
			E("AirSyncBase:Body", T("AirSyncBase:Type", "1"), T("AirSyncBase:EstimatedDataSize", "0"), T("AirSyncBase:Truncated", "1")),
			T("Contacts:FileAs", "Funk, Don"), T("Contacts:FirstName", "Don"), T("Contacts:LastName", "Funk"),
			T("AirSyncBase:NativeBodyType", "1"),
		))),
	)))
}

func TestSpecExample(t *testing.T) {
	raw, _ := hex.DecodeString(specContact)
	got, err := Decode(raw)
	if err != nil {
		t.Fatalf("Decode(spec example) = %v", err)
	}
	if want := specContactTree(); !reflect.DeepEqual(got, want) {
		t.Errorf("Decode(spec example) =\n%s\nwant\n%s", got.XML(), want.XML())
	}
	enc, err := Encode(specContactTree())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(enc, raw) {
		t.Errorf("Encode(spec tree) =\n%X\nwant\n%X", enc, raw)
	}
}

func TestRoundTripEveryTag(t *testing.T) {
	// One element per assigned tag of every page, with text, opaque or
	// children, so every table entry is encoded and decoded once.
	root := E("AirSync:Sync")
	for _, cp := range codePages {
		for i, tag := range cp.tags {
			if tag == "" {
				continue
			}
			name := cp.name + ":" + tag
			switch i % 3 {
			case 0:
				root.Add(T(name, "v "+tag+" é"))
			case 1:
				root.Add(O(name, []byte{0, 1, 2, byte(i)}))
			default:
				root.Add(E(name, E(name)))
			}
		}
	}
	enc, err := Encode(root)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, root) {
		t.Errorf("round trip changed the tree:\n%s", got.XML())
	}
}

func TestLongOpaque(t *testing.T) {
	data := bytes.Repeat([]byte("x"), 300000) // a 3-byte mb_u_int32 length
	enc, err := Encode(E("ItemOperations:ItemOperations", O("ItemOperations:Data", data)))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	if d := got.Child("Data"); d == nil || !bytes.Equal(d.Opaque, data) {
		t.Error("opaque data of 300000 bytes did not survive the round trip")
	}
}

func TestEncodeUnknown(t *testing.T) {
	for _, n := range []*Node{E("NoSuchPage:Sync"), E("AirSync:NoSuchTag"), E("AirSync:Sync", E("Email:Body"))} {
		if _, err := Encode(n); err == nil {
			t.Errorf("Encode(%s) = nil error, want one", n.Name())
		}
	}
}

// decodeErrors are broken documents, one a line: what is wrong | the
// document in hex | what the error says.
const decodeErrors = `
empty | | empty document
header only | 03016A00 | unexpected end
unclosed | 03016A0045 | not closed
unknown tag | 03016A0011 | unknown tag 0x11
unknown page | 03016A000063 | unknown code page 99
attributes | 03016A00C5 | attributes
unterminated string | 03016A004B0331 | unterminated string
opaque past end | 03016A004BC30531 | runs past the end
trailing bytes | 03016A000B0B | after the root
mixed | 03016A00450331000B01 | mixes text
charset | 0301040045 01 | not UTF-8
huge integer | 03016A00 4B C3 FFFFFFFFFF | overflows 32 bits
long integer | 03016A00 4B C3 8080808080 | longer than 5 bytes
NUL entity | 03016A00 4B 0200 01 | not a character
`

func TestDecodeErrors(t *testing.T) {
	cases := strings.Split(strings.TrimSpace(decodeErrors), "\n")
	cases = append(cases, "deep | 03016A00"+strings.Repeat("45", MaxDepth+2)+" | deeper than")
	for _, line := range cases {
		f := strings.Split(line, "|")
		name, hx, want := strings.TrimSpace(f[0]), strings.ReplaceAll(f[1], " ", ""), strings.TrimSpace(f[2])
		raw, err := hex.DecodeString(hx)
		if err != nil {
			t.Fatal(name, err)
		}
		_, err = Decode(raw)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: Decode(%s) = %v, want an error containing %q", name, hx, err, want)
		}
	}
}

func TestDecodeStringTableAndEntity(t *testing.T) {
	// A string table "ab\0" referenced by STR_T, then an entity é.
	raw, _ := hex.DecodeString("03016A03616200" + "4B" + "8300" + "028169" + "01")
	got, err := Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	if got.Text != "abé" {
		t.Errorf("text = %q, want %q", got.Text, "abé")
	}
}

func TestLookups(t *testing.T) {
	n := specContactTree()
	if got := n.Path("Collections", "Collection").Value("SyncKey"); got != "2" {
		t.Errorf("SyncKey = %q", got)
	}
	ad := n.Path("Collections", "Collection", "Commands", "Add", "ApplicationData")
	if got := ad.Path("AirSyncBase:Body").Value("AirSyncBase:Type"); got != "1" {
		t.Errorf("Body Type = %q", got)
	}
	if n.Path("Collections", "Nope", "Deeper") != nil || n.Value("Nope") != "" || n.Has("Nope") {
		t.Error("a missing path is not nil")
	}
	if len(n.Path("Collections").All("Collection")) != 1 {
		t.Error("All(Collection) is not one element")
	}
}

func FuzzDecode(f *testing.F) {
	raw, _ := hex.DecodeString(specContact)
	f.Add(raw)
	f.Add([]byte{0x03, 0x01, 0x6A, 0x00, 0x45, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := Decode(b)
		if err != nil {
			return
		}
		// What decodes re-encodes, and decodes to the same tree.
		enc, err := Encode(n)
		if err != nil {
			t.Fatalf("Encode(Decode(%X)) = %v", b, err)
		}
		again, err := Decode(enc)
		if err != nil || !reflect.DeepEqual(again, n) {
			t.Fatalf("Decode(Encode(tree)) = %v, tree changed", err)
		}
		_ = n.XML()
	})
}

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
