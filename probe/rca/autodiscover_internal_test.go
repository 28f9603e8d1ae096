package rca

import (
	"encoding/xml"
	"testing"
)

// TestOABURLPrefersExternal: from outside, the OAB is fetched from EXPR's
// OABUrl (ExternalUrl); EXCH's (InternalUrl) only when EXPR has none.
func TestOABURLPrefersExternal(t *testing.T) {
	for _, tc := range []struct{ answer, want string }{
		{`<Protocol><Type>EXCH</Type><OABUrl>https://ex01.contoso.com/OAB/g/</OABUrl></Protocol>
		  <Protocol><Type>EXPR</Type><OABUrl>https://mail.contoso.com/OAB/g/</OABUrl></Protocol>`, "https://mail.contoso.com/OAB/g/"},
		{`<Protocol><Type>EXCH</Type><OABUrl>https://ex01.contoso.com/OAB/g/</OABUrl></Protocol>
		  <Protocol><Type>EXPR</Type></Protocol>`, "https://ex01.contoso.com/OAB/g/"},
		{`<Protocol><Type>WEB</Type></Protocol>`, ""},
	} {
		var s adSettings
		doc := `<Autodiscover><Response><Account>` + tc.answer + `</Account></Response></Autodiscover>`
		if err := xml.Unmarshal([]byte(doc), &s); err != nil {
			t.Fatal(err)
		}
		if got := s.oabURL(); got != tc.want {
			t.Errorf("oabURL = %q, want %q", got, tc.want)
		}
	}
}
