package probe

import (
	"context"
	"testing"
	"time"

	"github.com/exsim/exsim/internal/labnet"
)

// BenchmarkCheckSMTPStartTLS is one full smtp-starttls check against an
// Exchange-like listener on loopback: connect, greeting, EHLO, STARTTLS,
// handshake, certificate verification, EHLO, QUIT.
func BenchmarkCheckSMTPStartTLS(b *testing.B) {
	e := newEnv(b)
	ex01 := e.certs["EX01"]
	port := serve(b, smtpFake{banner: exchangeGreeting("ex01.contoso.com"), host: "ex01.contoso.com", offerTLS: true, cert: &ex01}.handle)
	p := e.prober(2 * time.Second)
	f := flowTo(CheckSMTPStartTLS, "EDGE01", "EX01", port, "tcp", ExpectOpen)
	b.ResetTimer()
	for b.Loop() {
		if r := p.Check(context.Background(), f); r.Outcome != OutcomeOpen {
			b.Fatalf("Check = %s (%s)", r.Outcome, r.Detail)
		}
	}
}

// BenchmarkRunContosoMatrix runs the whole contoso matrix (83 flows) with
// every flow refused by the fault table: the probe's own cost per run.
func BenchmarkRunContosoMatrix(b *testing.B) {
	e := newEnv(b)
	if _, err := e.faults.Add(labnet.Fault{Action: labnet.ActionReset}); err != nil {
		b.Fatal(err)
	}
	p := e.prober(time.Second)
	flows := Flows(e.topo)
	b.ResetTimer()
	for b.Loop() {
		if rs := p.Run(context.Background(), flows); len(rs) != len(flows) {
			b.Fatal("short run")
		}
	}
	b.ReportMetric(float64(len(flows)), "flows/op")
}
