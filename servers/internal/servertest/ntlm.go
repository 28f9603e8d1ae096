package servertest

import (
	"encoding/base64"
	"strings"
	"testing"

	ntlmssp "github.com/Azure/go-ntlmssp"

	"github.com/exsim/exsim/internal/ntlm/ntlmtest"
)

// NTLMClient is one NTLM initiator of the server tests: go-ntlmssp
// (NTLMv2) or ntlmtest (NTLMv1, with or without ESS).
type NTLMClient struct {
	Name string
	// Negotiate returns the NEGOTIATE_MESSAGE.
	Negotiate func() []byte
	// Authenticate answers a CHALLENGE_MESSAGE for user (DOMAIN\user) and
	// pass with an AUTHENTICATE_MESSAGE.
	Authenticate func(chal []byte, user, pass string) ([]byte, error)
}

// NTLMClients are the clients every NTLM logon test runs with.
var NTLMClients = []NTLMClient{
	{"NTLMv2", func() []byte {
		m, _ := ntlmssp.NewNegotiateMessage("CONTOSO", "WS01")
		return m
	}, func(chal []byte, user, pass string) ([]byte, error) {
		return ntlmssp.ProcessChallenge(chal, user, pass, false)
	}},
	{"NTLMv1", func() []byte { return ntlmtest.Negotiate(false) }, func(chal []byte, user, pass string) ([]byte, error) {
		d, u, _ := strings.Cut(user, `\`)
		return ntlmtest.Authenticate(chal, u, d, pass, [8]byte{1, 2, 3, 4, 5, 6, 7, 8})
	}},
	{"NTLMv1 ESS", func() []byte { return ntlmtest.Negotiate(true) }, func(chal []byte, user, pass string) ([]byte, error) {
		d, u, _ := strings.Cut(user, `\`)
		return ntlmtest.Authenticate(chal, u, d, pass, [8]byte{8, 7, 6, 5, 4, 3, 2, 1})
	}},
}

// B64 is b in standard base64, as SASL exchanges carry it.
func B64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// Respond answers got, the server's reply to the NEGOTIATE_MESSAGE ("+ "
// and a base64 CHALLENGE_MESSAGE), with the client's base64
// AUTHENTICATE_MESSAGE for user and pass. Any other reply fails the test.
func (cl NTLMClient) Respond(t testing.TB, got, user, pass string) string {
	t.Helper()
	chal, ok := strings.CutPrefix(got, "+ ")
	if !ok {
		t.Fatalf("NEGOTIATE_MESSAGE answered %q, want + and a CHALLENGE_MESSAGE", got)
	}
	cm, err := base64.StdEncoding.DecodeString(chal)
	if err != nil {
		t.Fatal(err)
	}
	am, err := cl.Authenticate(cm, user, pass)
	if err != nil {
		t.Fatal(err)
	}
	return B64(am)
}
