package mapiclient

import (
	"strings"
	"testing"
)

func TestBaseURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://mail.contoso.com":            "https://mail.contoso.com/mapi/",
		"https://mail.contoso.com/mapi":       "https://mail.contoso.com/mapi/",
		"https://mail.contoso.com:8443/mapi/": "https://mail.contoso.com:8443/mapi/",
	} {
		if got, err := baseURL(in); err != nil || got != want {
			t.Errorf("baseURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "mail.contoso.com", "ftp://mail.contoso.com/"} {
		if _, err := baseURL(bad); err == nil {
			t.Errorf("baseURL(%q) succeeded", bad)
		}
	}
}

// TestReadFramed reads the meta-tags of MS-OXCMAPIHTTP 2.2.7 and refuses
// what is not one.
func TestReadFramed(t *testing.T) {
	var pendings int
	tr := &transport{onPending: func(string) { pendings++ }}
	body, err := tr.readFramed("Execute", strings.NewReader("PROCESSING\r\nPENDING\r\nPENDING\r\nDONE\r\nX-ElapsedTime: 3\r\nX-StartTime: Sat, 05 Dec 2026 09:00:00 GMT\r\n\r\n\x00\x01\r\n"))
	if err != nil || string(body) != "\x00\x01\r\n" || pendings != 2 {
		t.Fatalf("readFramed = %q, %v, %d PENDING; want the binary body and 2", body, err, pendings)
	}
	for _, bad := range []string{"PROCESSING\r\n", "PROCESSING\r\nWHAT\r\nDONE\r\n\r\n", "PROCESSING\r\nDONE\r\nX-ElapsedTime: 1\r\n"} {
		if _, err := tr.readFramed("Execute", strings.NewReader(bad)); err == nil {
			t.Errorf("readFramed(%q) succeeded", bad)
		}
	}
}
