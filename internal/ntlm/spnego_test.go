package ntlm

import (
	"bytes"
	"encoding/asn1"
	"testing"
)

var oidKerberos = asn1.ObjectIdentifier{1, 2, 840, 113554, 1, 2, 2}

func oidDER(o asn1.ObjectIdentifier) []byte {
	b, err := asn1.Marshal(o)
	if err != nil {
		panic(err)
	}
	return b
}

// spnegoMechTypes is the DER MechTypeList of mechs.
func spnegoMechTypes(mechs [][]byte) []byte {
	return derTLV(0x30, bytes.Join(mechs, nil))
}

// spnegoInit is an initiator's first token: GSS-API framing around a
// NegTokenInit with an optional mechToken.
func spnegoInit(mechs [][]byte, token []byte) []byte {
	body := derTLV(0xa0, spnegoMechTypes(mechs))
	if token != nil {
		body = append(body, derTLV(0xa2, derTLV(0x04, token))...)
	}
	return derTLV(0x60, append(oidDER(oidSPNEGO), derTLV(0xa0, derTLV(0x30, body))...))
}

// spnegoResp is an initiator's NegTokenResp.
func spnegoResp(token, mic []byte) []byte {
	var body []byte
	if token != nil {
		body = append(body, derTLV(0xa2, derTLV(0x04, token))...)
	}
	if mic != nil {
		body = append(body, derTLV(0xa3, derTLV(0x04, mic))...)
	}
	return derTLV(0xa1, derTLV(0x30, body))
}

// spnegoClient runs SPNEGO around a testClient.
type spnegoClient struct {
	c         testClient
	mechs     [][]byte
	optimist  []byte // the first token's mechToken when NTLM is not first
	mechTypes []byte
	badMIC    bool
	noMIC     bool
}

// first returns the first token.
func (s *spnegoClient) first() []byte {
	s.mechTypes = spnegoMechTypes(s.mechs)
	if bytes.Equal(s.mechs[0], oidDER(oidNTLMSSP)) {
		return spnegoInit(s.mechs, s.c.negotiateMessage())
	}
	return spnegoInit(s.mechs, s.optimist)
}

// next answers an acceptor's NegTokenResp.
func (s *spnegoClient) next(t *testing.T, tok []byte) []byte {
	t.Helper()
	resp, err := parseNegTokenResp(tok)
	if err != nil {
		t.Fatalf("acceptor token: %v", err)
	}
	if len(resp.ResponseToken) == 0 { // NTLM selected, no token yet
		return spnegoResp(s.c.negotiateMessage(), nil)
	}
	auth, err := s.c.authenticateMessage(resp.ResponseToken)
	if err != nil {
		t.Fatal(err)
	}
	k := s.c.keys()
	mic := k.getMIC(k.clientSign, k.clientSeal, s.mechTypes)
	if s.badMIC {
		mic[5] ^= 1
	}
	if s.noMIC {
		mic = nil
	}
	return spnegoResp(auth, mic)
}

// verifyFinal checks the acceptor's last token and its mechListMIC.
func (s *spnegoClient) verifyFinal(t *testing.T, tok []byte) {
	t.Helper()
	resp, err := parseNegTokenResp(tok)
	if err != nil {
		t.Fatalf("final token: %v", err)
	}
	if resp.NegState != negAcceptCompleted {
		t.Errorf("final negState = %d, want accept-completed", resp.NegState)
	}
	k := s.c.keys()
	want := k.getMIC(k.serverSign, k.serverSeal, s.mechTypes)
	if !bytes.Equal(resp.MechListMIC, want) {
		t.Errorf("acceptor mechListMIC = %x, want %x", resp.MechListMIC, want)
	}
}

func TestSPNEGOAcceptor(t *testing.T) {
	srv := newLabServer(t, nil)
	ntlm, krb := oidDER(oidNTLMSSP), oidDER(oidKerberos)
	alice := testClient{user: "alice", domain: "CONTOSO", password: "P@ssw0rd", mic: true}
	tests := []struct {
		name      string
		s         spnegoClient
		wantState asn1.Enumerated // of the first answer
		wantErr   error
	}{
		{"NTLM first", spnegoClient{c: alice, mechs: [][]byte{ntlm}}, negAcceptIncomplete, nil},
		{"NTLM first, no mechListMIC", spnegoClient{c: alice, mechs: [][]byte{ntlm}, noMIC: true}, negAcceptIncomplete, nil},
		{"Kerberos first with a token", spnegoClient{c: alice, mechs: [][]byte{krb, ntlm}, optimist: []byte{0x60, 1, 2}}, negRequestMIC, nil},
		{"NTLM first, no key exchange", spnegoClient{c: testClient{user: "alice", domain: "CONTOSO", password: "P@ssw0rd",
			flags: defaultClientFlags &^ flagKeyExch}, mechs: [][]byte{ntlm}}, negAcceptIncomplete, nil},
		{"bad mechListMIC", spnegoClient{c: alice, mechs: [][]byte{ntlm}, badMIC: true}, negAcceptIncomplete, ErrMIC},
	}
	for _, tt := range tests {
		a := &spnegoAcceptor{sess: srv.NewSession()}
		out, done, err := a.step(tt.s.first())
		if err != nil || done {
			t.Fatalf("%s: first step = %v, %v", tt.name, done, err)
		}
		resp, err := parseNegTokenResp(out)
		if err != nil {
			t.Fatal(err)
		}
		if resp.NegState != tt.wantState || !resp.SupportedMech.Equal(oidNTLMSSP) {
			t.Errorf("%s: first answer negState %d mech %v, want %d and NTLMSSP", tt.name, resp.NegState, resp.SupportedMech, tt.wantState)
		}
		for i := 0; !done && i < 3; i++ {
			out, done, err = a.step(tt.s.next(t, out))
			if err != nil {
				break
			}
		}
		if tt.wantErr != nil {
			if !errorsIs(err, tt.wantErr) {
				t.Errorf("%s: = %v, want %v", tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !done {
			t.Fatalf("%s: = %v, %v, want done", tt.name, done, err)
		}
		if a.sess.Account() != "alice@contoso.com" {
			t.Errorf("%s: account %q", tt.name, a.sess.Account())
		}
		if tt.s.noMIC {
			if r, _ := parseNegTokenResp(out); r.MechListMIC != nil {
				t.Errorf("%s: acceptor sent a mechListMIC the initiator did not ask for", tt.name)
			}
			continue
		}
		tt.s.verifyFinal(t, out)
	}
}

func TestSPNEGORefusals(t *testing.T) {
	srv := newLabServer(t, nil)
	neg := (&testClient{}).negotiateMessage()
	tests := []struct {
		name  string
		first []byte
		want  error
	}{
		{"Kerberos only", spnegoInit([][]byte{oidDER(oidKerberos)}, []byte{1}), ErrUnexpected},
		{"not SPNEGO", derTLV(0x60, append(oidDER(oidKerberos), 1, 2)), ErrMalformed},
		{"truncated", spnegoInit([][]byte{oidDER(oidNTLMSSP)}, neg)[:20], ErrMalformed},
		{"trailing bytes", append(spnegoInit([][]byte{oidDER(oidNTLMSSP)}, neg), 0), ErrMalformed},
		{"empty mech list", spnegoInit(nil, neg), ErrUnexpected},
		{"a NegTokenResp first", spnegoResp(neg, nil), ErrMalformed},
	}
	for _, tt := range tests {
		a := &spnegoAcceptor{sess: srv.NewSession()}
		if _, _, err := a.step(tt.first); !errorsIs(err, tt.want) {
			t.Errorf("step(%s) = %v, want %v", tt.name, err, tt.want)
		}
	}
	// A NegTokenResp without a responseToken after the start.
	a := &spnegoAcceptor{sess: srv.NewSession()}
	a.step(spnegoInit([][]byte{oidDER(oidNTLMSSP)}, neg))
	if _, _, err := a.step(spnegoResp(nil, nil)); !errorsIs(err, ErrUnexpected) {
		t.Errorf("step(NegTokenResp without token) = %v, want ErrUnexpected", err)
	}
}

func TestDERLengths(t *testing.T) {
	for _, n := range []int{0, 127, 128, 255, 256, 65535, 65536} {
		b := derTLV(0x04, make([]byte, n))
		var v []byte
		if rest, err := asn1.Unmarshal(b, &v); err != nil || len(rest) != 0 || len(v) != n {
			t.Errorf("derTLV(%d bytes) does not round-trip: %v", n, err)
		}
	}
}
