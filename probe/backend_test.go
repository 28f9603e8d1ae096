package probe

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/exsim/exsim/certs"
)

// TestBackEndSelfSignedCert: the Back End site (444) presents Exchange's
// self-signed CN=Microsoft Exchange certificate. The probe accepts exactly
// the one the lab made for the server (pinned), and reports any other
// self-signed "Microsoft Exchange" certificate as interception.
func TestBackEndSelfSignedCert(t *testing.T) {
	e := newEnv(t)
	id := certs.Identity{Name: "EX02", FQDN: "ex02.contoso.com"}
	own, err := e.ca.ExchangeSelfSigned(id)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := certs.NewEphemeral("Contoso")
	forged, err := other.ExchangeSelfSigned(id)
	if err != nil {
		t.Fatal(err)
	}
	p := e.prober(2 * time.Second)
	for _, tc := range []struct {
		name    string
		port    int
		outcome Outcome
		detail  string
	}{
		{"own", httpFakeTLS(t, "EX02", &own, nil), OutcomeOpen, "EX02's own self-signed certificate"},
		{"forged", httpFakeTLS(t, "EX02", &forged, nil), OutcomeTLSIntercepted, "not issued by the lab CA"},
	} {
		r := p.Check(context.Background(), flowTo(CheckHTTPS, "EX01", "EX02", tc.port, "tcp", ExpectUnrestricted))
		if r.Outcome != tc.outcome || !strings.Contains(r.Detail, tc.detail) {
			t.Errorf("%s: Check(444) = %s (%s), want %s with %q", tc.name, r.Outcome, r.Detail, tc.outcome, tc.detail)
		}
	}
}
