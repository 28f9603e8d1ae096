package edgesync

import (
	"testing"
	"time"

	"github.com/exsim/exsim/internal/fuzzseed"
)

// FuzzSubscriptionFile parses and imports arbitrary subscription files: an
// import either fails or gives every participant usable credentials.
func FuzzSubscriptionFile(f *testing.F) {
	fuzzseed.Add(f, []byte(`<?xml version="1.0" encoding="utf-8"?><EdgeSubscriptionData><EdgeServerName>EDGE01</EdgeServerName><EdgeServerFQDN>edge01.contoso.com</EdgeServerFQDN><EdgeCertificateBlob>MIIB</EdgeCertificateBlob><ESRAUsername>CN=ESRA.EDGE01,CN=Services,CN=Configuration,CN={X}</ESRAUsername><ESRAPassword>pw</ESRAPassword><EffectiveDate>638396640000000000</EffectiveDate><Duration>864000000000</Duration><AdamSslPort>50636</AdamSslPort></EdgeSubscriptionData>`))
	fuzzseed.Add(f, []byte(`<EdgeSubscriptionData><Duration>-1</Duration></EdgeSubscriptionData>`))
	fuzzseed.Add(f, []byte(`<a>`))
	now := time.Date(2024, 1, 1, 1, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := ParseSubscriptionFile(data)
		if err != nil {
			return
		}
		file.Marshal()
		creds, err := Import(file, []Server{ex01, ex02}, now)
		if err != nil {
			return
		}
		for _, name := range []string{"EX01", "EX02"} {
			c := creds[name]
			if c == nil || c.Username == "" || c.Password == "" || len(c.Participants) != 2 {
				t.Fatalf("Import() accepted %q but gave %s %+v", data, name, c)
			}
		}
	})
}
