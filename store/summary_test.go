package store

import (
	"net/mail"
	"testing"
)

// dateForms are Date fields as messages carry them: the fast path's form
// and others that only mail.ParseDate reads.
var dateForms = []string{
	"Sat, 5 Dec 2026 11:45:00 +0000", "Fri, 29 Mar 2024 23:50:41 +0100", "Mon, 02 Jan 2006 15:04:05 -0700",
	"2 Jan 2006 15:04:05 -0700", "Mon, 2 Jan 2006 15:04:05 -0700 (MST)", "Mon, 2 Jan 2006 15:04 GMT", "not a date",
}

// TestParseDateAgreesWithMail: the fast path gives mail.ParseDate's answer,
// and what it does not take goes to mail.ParseDate.
func TestParseDateAgreesWithMail(t *testing.T) {
	for _, d := range dateForms {
		want, wantErr := mail.ParseDate(d)
		if got, err := parseDate(d); (err != nil) != (wantErr != nil) || err == nil && !got.Equal(want) {
			t.Errorf("parseDate(%q) = %v, %v; mail.ParseDate = %v, %v", d, got, err, want, wantErr)
		}
	}
}
