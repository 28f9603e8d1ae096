package wbxml

import (
	"bytes"
	"encoding/hex"
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
