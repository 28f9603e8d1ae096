package easclient

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
)

// TestBase64Query lays the request line out as MS-ASHTTP 2.2.1.1.1.1
// says: version, command code, locale, device id, policy key, device
// type, then tagged parameters.
func TestBase64Query(t *testing.T) {
	c := &Client{URL: "https://x/Microsoft-Server-ActiveSync", User: "alice", DeviceID: "D1", DeviceType: "SmartPhone", Version: "16.1", Base64Query: true}
	u, err := c.requestURL("ItemOperations", "12345", params{collectionID: "5", itemID: "5:7", saveInSent: true, acceptMultiPart: true})
	if err != nil {
		t.Fatal(err)
	}
	_, q, _ := strings.Cut(u, "?")
	got, err := base64.StdEncoding.DecodeString(q)
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{161, 19, 0x09, 0x04, 2, 'D', '1', 4, 0x39, 0x30, 0, 0, 10}
	want = append(want, "SmartPhone"...)
	want = append(want, 1, 1, '5', 3, 3, '5', ':', '7', 7, 1, 3, 8, 5, 'a', 'l', 'i', 'c', 'e')
	if !bytes.Equal(got, want) {
		t.Errorf("base64 query =\n%v\nwant\n%v", got, want)
	}
	c.DeviceType = "a-device-type-longer-than-16"
	if _, err := c.requestURL("Sync", "", params{}); err == nil {
		t.Error("a device type of more than 16 bytes fitted the base64 query")
	}
}

func TestSplitMultipart(t *testing.T) {
	// Two parts: "ab" and "cde".
	ok := []byte{2, 0, 0, 0, 20, 0, 0, 0, 2, 0, 0, 0, 22, 0, 0, 0, 3, 0, 0, 0, 'a', 'b', 'c', 'd', 'e'}
	parts, err := splitMultipart(ok)
	if err != nil || len(parts) != 2 || string(parts[0]) != "ab" || string(parts[1]) != "cde" {
		t.Fatalf("splitMultipart = %q, %v", parts, err)
	}
	for _, bad := range [][]byte{{1}, {0, 0, 0, 0}, {9, 0, 0, 0, 1, 2}, {1, 0, 0, 0, 12, 0, 0, 0, 9, 0, 0, 0, 'x'}} {
		if _, err := splitMultipart(bad); err == nil {
			t.Errorf("splitMultipart(%v) = nil error", bad)
		}
	}
}
