package roles

import "testing"

func TestContainsFoldASCII(t *testing.T) {
	for b, want := range map[string]bool{
		"Content-Type: text/calendar; method=REQUEST":            true,
		"Content-Type: TEXT/Calendar":                            true,
		"text/calendar":                                          true,
		"tttext/calendar":                                        true,
		"Content-Type: text/calenda":                             false,
		"Content-Type: text/plain\r\n\r\nthe text of a calendar": false,
		"": false,
	} {
		if got := containsFoldASCII([]byte(b), "text/calendar"); got != want {
			t.Errorf("containsFoldASCII(%q) = %v, want %v", b, got, want)
		}
	}
}
