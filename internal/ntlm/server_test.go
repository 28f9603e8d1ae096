package ntlm

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	ntlmssp "github.com/Azure/go-ntlmssp"

	"github.com/exsim/exsim/internal/testclock"
)

// labLookup resolves CONTOSO\alice, alice@contoso.com and alice as the lab's
// directory does.
func labLookup(user, domain string) (string, string, bool) {
	passwords := map[string]string{"alice": "P@ssw0rd", "bob": "Secret-2"}
	u := strings.ToLower(user)
	if local, dom, ok := strings.Cut(u, "@"); ok {
		if dom != "contoso.com" || domain != "" {
			return "", "", false
		}
		u = local
	} else if domain != "" && !strings.EqualFold(domain, "CONTOSO") && !strings.EqualFold(domain, "contoso.com") {
		return "", "", false
	}
	p, ok := passwords[u]
	return p, u + "@contoso.com", ok
}

func labOptions() Options {
	return Options{
		TargetName:      "CONTOSO",
		DNSDomain:       "contoso.com",
		DNSComputer:     "ex01.contoso.com",
		NetBIOSComputer: "EX01",
		Lookup:          labLookup,
	}
}

func newLabServer(t *testing.T, mod func(*Options)) *Server {
	t.Helper()
	o := labOptions()
	if mod != nil {
		mod(&o)
	}
	return NewServer(o)
}

// goNTLMSSP runs a whole authentication with go-ntlmssp as the client.
func goNTLMSSP(t *testing.T, ss *Session, login, password string) error {
	t.Helper()
	neg, err := ntlmssp.NewNegotiateMessage("", "WS01")
	if err != nil {
		t.Fatal(err)
	}
	chal, done, err := ss.Next(neg)
	if err != nil || done {
		t.Fatalf("Next(NEGOTIATE) = %v, %v", done, err)
	}
	auth, err := ntlmssp.NewAuthenticateMessage(chal, login, password, &ntlmssp.AuthenticateMessageOptions{WorkstationName: "WS01"})
	if err != nil {
		t.Fatalf("go-ntlmssp refused the CHALLENGE: %v", err)
	}
	_, done, err = ss.Next(auth)
	if err == nil && !done {
		t.Fatalf("Next(AUTHENTICATE) = not done, no error")
	}
	return err
}

func TestGoNTLMSSPLogons(t *testing.T) {
	tests := []struct {
		login, password string
		wantAccount     string
		wantErr         error
	}{
		{`CONTOSO\alice`, "P@ssw0rd", "alice@contoso.com", nil},
		{`contoso\ALICE`, "P@ssw0rd", "alice@contoso.com", nil},
		{`contoso.com\alice`, "P@ssw0rd", "alice@contoso.com", nil},
		{"alice@contoso.com", "P@ssw0rd", "alice@contoso.com", nil},
		{"alice", "P@ssw0rd", "alice@contoso.com", nil},
		{`CONTOSO\bob`, "Secret-2", "bob@contoso.com", nil},
		{`CONTOSO\alice`, "p@ssw0rd", "", ErrLogonFailure},
		{`CONTOSO\alice`, "Secret-2", "", ErrLogonFailure},
		{`CONTOSO\mallory`, "P@ssw0rd", "", ErrLogonFailure},
		{`FABRIKAM\alice`, "P@ssw0rd", "", ErrLogonFailure},
		{"alice@fabrikam.com", "P@ssw0rd", "", ErrLogonFailure},
	}
	srv := newLabServer(t, nil)
	for _, tt := range tests {
		ss := srv.NewSession()
		err := goNTLMSSP(t, ss, tt.login, tt.password)
		if !errorsIs(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
			t.Errorf("logon(%q, %q) = %v, want %v", tt.login, tt.password, err, tt.wantErr)
			continue
		}
		if got := ss.Account(); got != tt.wantAccount {
			t.Errorf("logon(%q, %q): Account() = %q, want %q", tt.login, tt.password, got, tt.wantAccount)
		}
	}
}

func TestChallengeMessage(t *testing.T) {
	clock := testclock.At(time.Date(2024, 3, 29, 22, 50, 41, 0, time.UTC))
	srv := newLabServer(t, func(o *Options) { o.Now = clock.Now })
	tests := []struct {
		name        string
		client      uint32
		want, notIn uint32
	}{
		{"go-ntlmssp", flagTargetInfo | flag56 | flag128 | flagUnicode | flagExtendedSessionSecurity | flagNTLM | flagAlwaysSign,
			flagUnicode | flagNTLM | flagTargetInfo | flagExtendedSessionSecurity | flagAlwaysSign | flag128 | flag56 | flagTargetTypeDomain,
			flagKeyExch | flagVersion | flagSign | flagSeal | flagOEM},
		{"windows", defaultClientFlags,
			flagUnicode | flagSign | flagSeal | flagKeyExch | flagVersion | flag128 | flag56 | flagExtendedSessionSecurity,
			flagOEM | flagLMKey},
		{"OEM only, LM_KEY, datagram", flagOEM | flagLMKey | flagDatagram | flagNTLM,
			flagOEM | flagNTLM | flagTargetInfo,
			flagUnicode | flagLMKey | flagDatagram},
	}
	for _, tt := range tests {
		c := &testClient{flags: tt.client}
		chal, _, err := srv.NewSession().Next(c.negotiateMessage())
		if err != nil {
			t.Fatalf("%s: Next(NEGOTIATE) = %v", tt.name, err)
		}
		flags := binary.LittleEndian.Uint32(chal[20:])
		if flags&tt.want != tt.want || flags&tt.notIn != 0 {
			t.Errorf("%s: CHALLENGE flags = %#08x, want %#08x set and %#08x clear", tt.name, flags, tt.want, tt.notIn)
		}
		tn, err := readField(chal, 12, 56, "TargetName")
		if err != nil {
			t.Fatal(err)
		}
		if got := decodeString(tn.bytes(chal), flags&flagUnicode != 0); got != "CONTOSO" {
			t.Errorf("%s: TargetName = %q, want CONTOSO", tt.name, got)
		}
		wantVersion := make([]byte, 8)
		if flags&flagVersion != 0 {
			wantVersion = windowsServer2019[:]
		}
		if !bytes.Equal(chal[48:56], wantVersion) {
			t.Errorf("%s: Version = %x, want %x", tt.name, chal[48:56], wantVersion)
		}
		ti, _ := readField(chal, 40, 56, "TargetInfo")
		pairs, err := parseAVPairs(ti.bytes(chal))
		if err != nil {
			t.Fatal(err)
		}
		got := map[uint16]string{}
		var ids []uint16
		for _, p := range pairs {
			ids = append(ids, p.id)
			got[p.id] = decodeString(p.value, true)
		}
		if want := []uint16{avNbDomainName, avNbComputerName, avDNSDomainName, avDNSComputerName, avDNSTreeName, avTimestamp}; !equalIDs(ids, want) {
			t.Errorf("%s: AV pairs %v, want %v", tt.name, ids, want)
		}
		for id, want := range map[uint16]string{avNbDomainName: "CONTOSO", avNbComputerName: "EX01",
			avDNSDomainName: "contoso.com", avDNSComputerName: "ex01.contoso.com", avDNSTreeName: "contoso.com"} {
			if got[id] != want {
				t.Errorf("%s: AV pair %d = %q, want %q", tt.name, id, got[id], want)
			}
		}
		for _, p := range pairs {
			if p.id == avTimestamp && binary.LittleEndian.Uint64(p.value) != fileTime(clock.Now()) {
				t.Errorf("%s: MsvAvTimestamp = %d, want %d", tt.name, binary.LittleEndian.Uint64(p.value), fileTime(clock.Now()))
			}
		}
	}
	// Two sessions never share a server challenge.
	a, _, _ := srv.NewSession().Next((&testClient{}).negotiateMessage())
	b, _, _ := srv.NewSession().Next((&testClient{}).negotiateMessage())
	if bytes.Equal(a[24:32], b[24:32]) {
		t.Errorf("two sessions got the same server challenge %x", a[24:32])
	}
}

func equalIDs(a, b []uint16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestTestClientLogons(t *testing.T) {
	empty := ""
	tests := []struct {
		name    string
		c       testClient
		v1      bool // AllowNTLMv1
		wantErr error
	}{
		{"NTLMv2 with MIC and key exchange", testClient{user: "alice", domain: "CONTOSO", password: "P@ssw0rd", mic: true}, false, nil},
		{"NTLMv2 with MIC, no key exchange", testClient{user: "alice", domain: "CONTOSO", password: "P@ssw0rd", mic: true,
			flags: defaultClientFlags &^ flagKeyExch}, false, nil},
		{"NTLMv2, OEM strings", testClient{user: "alice", domain: "CONTOSO", password: "P@ssw0rd",
			flags: flagOEM | flagNTLM | flagExtendedSessionSecurity}, false, nil},
		{"NTOWFv2 with a NIL domain", testClient{user: "alice", domain: "CONTOSO", password: "P@ssw0rd", ntDomain: &empty}, false, nil},
		{"LMv2 alone", testClient{user: "alice", domain: "CONTOSO", password: "P@ssw0rd", lmv2Only: true}, false, nil},
		{"LMv2 alone, wrong password", testClient{user: "alice", domain: "CONTOSO", password: "x", lmv2Only: true}, false, ErrLogonFailure},
		{"NTLMv1 refused", testClient{user: "alice", domain: "CONTOSO", password: "P@ssw0rd", v1: true}, false, ErrNTLMv1},
		{"NTLMv1 ESS allowed", testClient{user: "alice", domain: "CONTOSO", password: "P@ssw0rd", v1: true}, true, nil},
		{"NTLMv1 allowed", testClient{user: "alice", domain: "CONTOSO", password: "P@ssw0rd", v1: true,
			flags: defaultClientFlags &^ flagExtendedSessionSecurity}, true, nil},
		{"NTLMv1 allowed, wrong password", testClient{user: "alice", domain: "CONTOSO", password: "x", v1: true}, true, ErrLogonFailure},
		{"timestamp a week old", testClient{user: "alice", domain: "CONTOSO", password: "P@ssw0rd",
			timestamp: fileTime(time.Now().Add(-7 * 24 * time.Hour))}, false, ErrClockSkew},
		{"timestamp a day ahead", testClient{user: "alice", domain: "CONTOSO", password: "P@ssw0rd",
			timestamp: fileTime(time.Now().Add(24 * time.Hour))}, false, nil},
		{"anonymous", testClient{}, false, ErrAnonymous},
	}
	for _, tt := range tests {
		srv := newLabServer(t, func(o *Options) { o.AllowNTLMv1 = tt.v1 })
		ss := srv.NewSession()
		chal, _, err := ss.Next(tt.c.negotiateMessage())
		if err != nil {
			t.Fatalf("%s: Next(NEGOTIATE) = %v", tt.name, err)
		}
		var auth []byte
		if tt.c.user == "" { // anonymous: empty names and responses
			auth = anonymousAuthenticate()
		} else if auth, err = tt.c.authenticateMessage(chal); err != nil {
			t.Fatal(err)
		}
		_, done, err := ss.Next(auth)
		if tt.wantErr == nil && (err != nil || !done) {
			t.Errorf("%s: Next(AUTHENTICATE) = %v, %v, want done", tt.name, done, err)
		} else if tt.wantErr != nil && !errorsIs(err, tt.wantErr) {
			t.Errorf("%s: Next(AUTHENTICATE) = %v, want %v", tt.name, err, tt.wantErr)
		}
		if tt.wantErr == nil && ss.Account() != "alice@contoso.com" {
			t.Errorf("%s: Account() = %q, want alice@contoso.com", tt.name, ss.Account())
		}
	}
}

func anonymousAuthenticate() []byte {
	m := make([]byte, 72)
	copy(m, signature)
	binary.LittleEndian.PutUint32(m[8:], typeAuthenticate)
	for i := 0; i < 6; i++ {
		putField(m[12+8*i:], 0, 72)
	}
	binary.LittleEndian.PutUint32(m[60:], flagUnicode|flagNTLM|flagAnonymous)
	return m
}

func TestMICTampering(t *testing.T) {
	srv := newLabServer(t, nil)
	for _, tamper := range []struct {
		name string
		f    func(m []byte)
	}{
		{"MIC", func(m []byte) { m[80] ^= 0x40 }},
		{"flags", func(m []byte) { m[60] ^= byte(flagSeal) }},
		{"workstation", func(m []byte) { m[len(m)-17] ^= 0x01 }},
	} {
		c := testClient{user: "alice", domain: "CONTOSO", password: "P@ssw0rd", workstation: "WS01", mic: true}
		ss := srv.NewSession()
		chal, _, _ := ss.Next(c.negotiateMessage())
		auth, _ := c.authenticateMessage(chal)
		tamper.f(auth)
		if _, _, err := ss.Next(auth); !errorsIs(err, ErrMIC) {
			t.Errorf("Next(AUTHENTICATE with tampered %s) = %v, want ErrMIC", tamper.name, err)
		}
	}
}

func TestSequence(t *testing.T) {
	srv := newLabServer(t, nil)
	c := testClient{user: "alice", domain: "CONTOSO", password: "P@ssw0rd", mic: true}
	ss := srv.NewSession()
	chal, _, _ := ss.Next(c.negotiateMessage())
	auth, _ := c.authenticateMessage(chal)
	if _, done, err := ss.Next(auth); err != nil || !done {
		t.Fatalf("Next(AUTHENTICATE) = %v, %v", done, err)
	}
	// Replayed to the same session, after the end.
	if _, _, err := ss.Next(auth); !errorsIs(err, ErrUnexpected) {
		t.Errorf("Next(AUTHENTICATE again) = %v, want ErrUnexpected", err)
	}
	if ss.Account() != "" {
		t.Errorf("Account() after a refused message = %q, want empty", ss.Account())
	}
	// Replayed to a new session: another server challenge.
	ss2 := srv.NewSession()
	if _, _, err := ss2.Next(c.negotiateMessage()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ss2.Next(auth); !errorsIs(err, ErrLogonFailure) {
		t.Errorf("Next(replayed AUTHENTICATE) = %v, want ErrLogonFailure", err)
	}
	// An AUTHENTICATE first.
	if _, _, err := srv.NewSession().Next(auth); !errorsIs(err, ErrUnexpected) {
		t.Errorf("Next(AUTHENTICATE first) = %v, want ErrUnexpected", err)
	}
	// A NEGOTIATE where the AUTHENTICATE belongs.
	ss3 := srv.NewSession()
	ss3.Next(c.negotiateMessage())
	if _, _, err := ss3.Next(c.negotiateMessage()); !errorsIs(err, ErrUnexpected) {
		t.Errorf("Next(NEGOTIATE twice) = %v, want ErrUnexpected", err)
	}
	// A CHALLENGE from the client.
	if _, _, err := srv.NewSession().Next(chal); !errorsIs(err, ErrUnexpected) {
		t.Errorf("Next(CHALLENGE) = %v, want ErrUnexpected", err)
	}
}

func TestClockSkewAcrossHandshake(t *testing.T) {
	clock := testclock.At(time.Date(2024, 3, 29, 12, 0, 0, 0, time.UTC))
	srv := newLabServer(t, func(o *Options) { o.Now = clock.Now; o.MaxClockSkew = 5 * time.Minute })
	for _, tt := range []struct {
		wait    time.Duration
		wantErr error
	}{
		{4 * time.Minute, nil},
		{6 * time.Minute, ErrClockSkew},
	} {
		ss := srv.NewSession()
		c := testClient{user: "alice", domain: "CONTOSO", password: "P@ssw0rd"}
		chal, _, _ := ss.Next(c.negotiateMessage())
		auth, _ := c.authenticateMessage(chal) // echoes the server's timestamp
		clock.Advance(tt.wait)
		_, _, err := ss.Next(auth)
		if (tt.wantErr == nil && err != nil) || !errorsIs(err, tt.wantErr) {
			t.Errorf("AUTHENTICATE %v after the CHALLENGE = %v, want %v", tt.wait, err, tt.wantErr)
		}
	}
}

// BenchmarkHandshake is one whole NTLMv2 authentication with a MIC and key
// exchange: NEGOTIATE, CHALLENGE, client computation, verification.
func BenchmarkHandshake(b *testing.B) {
	srv := NewServer(labOptions())
	c := testClient{user: "alice", domain: "CONTOSO", password: "P@ssw0rd", mic: true}
	for b.Loop() {
		ss := srv.NewSession()
		chal, _, err := ss.Next(c.negotiateMessage())
		if err != nil {
			b.Fatal(err)
		}
		auth, _ := c.authenticateMessage(chal)
		if _, done, err := ss.Next(auth); err != nil || !done {
			b.Fatal(err)
		}
	}
}

// TestLMv2WithSpoiledNTResponse: a valid LMv2 response does not rescue an
// NT response that fails (a relay dropping the MIC would try exactly that).
func TestLMv2WithSpoiledNTResponse(t *testing.T) {
	srv := newLabServer(t, nil)
	c := testClient{user: "alice", domain: "CONTOSO", password: "P@ssw0rd"} // sends LMv2 and NTLMv2
	ss := srv.NewSession()
	chal, _, _ := ss.Next(c.negotiateMessage())
	auth, _ := c.authenticateMessage(chal)
	ntOff := int(binary.LittleEndian.Uint32(auth[24:]))
	auth[ntOff] ^= 0xff // the NTProofStr
	if _, _, err := ss.Next(auth); !errorsIs(err, ErrLogonFailure) {
		t.Errorf("Next(spoiled NT response, valid LMv2) = %v, want ErrLogonFailure", err)
	}
}
