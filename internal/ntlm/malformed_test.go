package ntlm

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// validAuthenticate returns a session that has sent its CHALLENGE and a
// valid AUTHENTICATE for it.
func validAuthenticate(t testing.TB, srv *Server) (*Session, []byte) {
	t.Helper()
	c := testClient{user: "alice", domain: "CONTOSO", password: "P@ssw0rd", workstation: "WS01", mic: true}
	ss := srv.NewSession()
	chal, _, err := ss.Next(c.negotiateMessage())
	if err != nil {
		t.Fatal(err)
	}
	auth, err := c.authenticateMessage(chal)
	if err != nil {
		t.Fatal(err)
	}
	return ss, auth
}

func setField(m []byte, pos, n, off int) []byte {
	m = bytes.Clone(m)
	binary.LittleEndian.PutUint16(m[pos:], uint16(n))
	binary.LittleEndian.PutUint16(m[pos+2:], uint16(n))
	binary.LittleEndian.PutUint32(m[pos+4:], uint32(off))
	return m
}

func TestMalformedAuthenticate(t *testing.T) {
	srv := newLabServer(t, nil)
	_, good := validAuthenticate(t, srv)
	ntOff := int(binary.LittleEndian.Uint32(good[24:]))
	ntLen := int(binary.LittleEndian.Uint16(good[20:]))
	tests := []struct {
		name string
		msg  []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"short", good[:40], ErrMalformed},
		{"63 bytes", good[:63], ErrMalformed},
		{"wrong signature", append([]byte("NTLMSSQ\x00"), good[8:]...), ErrMalformed},
		{"not NTLM at all", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n" + string(make([]byte, 64))), ErrMalformed},
		{"truncated payload", good[:len(good)-1], ErrMalformed},
		{"NT response beyond the end", setField(good, 20, ntLen, len(good)-10), ErrMalformed},
		{"offset 0xffffffff", setField(good, 20, ntLen, 0xffffffff), ErrMalformed},
		{"huge length", setField(good, 20, 0xffff, ntOff), ErrMalformed},
		{"user name in the header", setField(good, 36, 8, 16), ErrMalformed},
		{"user name overlapping the NT response", setField(good, 36, 8, ntOff+4), ErrMalformed},
		{"odd UTF-16 length", setField(good, 36, 7, int(binary.LittleEndian.Uint32(good[40:]))), ErrMalformed},
		{"NT response of 30 bytes", setField(good, 20, 30, ntOff), ErrMalformed},
		{"NT response 16 bytes", setField(good, 20, 16, ntOff), ErrMalformed},
		{"oversized", append(bytes.Clone(good), make([]byte, maxMessageSize)...), ErrMalformed},
		{"NEGOTIATE type", func() []byte { m := bytes.Clone(good); m[8] = 1; return m }(), ErrUnexpected},
		{"type 4", func() []byte { m := bytes.Clone(good); m[8] = 4; return m }(), ErrUnexpected},
		{"RespType 2", func() []byte { m := bytes.Clone(good); m[ntOff+16] = 2; return m }(), ErrMalformed},
		{"AV pairs without EOL", func() []byte {
			// Cut the NT response just after the fixed part of the blob.
			return setField(good, 20, 16+28+4, ntOff)
		}(), ErrMalformed},
	}
	for _, tt := range tests {
		ss, _ := validAuthenticate(t, srv)
		_, done, err := ss.Next(tt.msg)
		if done || !errorsIs(err, tt.want) {
			t.Errorf("Next(%s) = %v, %v, want %v", tt.name, done, err, tt.want)
		}
		if _, _, err := ss.Next(good); err == nil {
			t.Errorf("Next(valid AUTHENTICATE after %s) succeeded, want the session failed", tt.name)
		}
	}
}

func TestMalformedNegotiate(t *testing.T) {
	srv := newLabServer(t, nil)
	good := (&testClient{}).negotiateMessage()
	withNames := func(flags uint32, dn, doff, wn, woff int) []byte {
		m := bytes.Clone(good)
		binary.LittleEndian.PutUint32(m[12:], flags)
		m = setField(m, 16, dn, doff)
		m = setField(m, 24, wn, woff)
		return append(m, []byte("CONTOSOWS01")...)
	}
	ok := withNames(defaultClientFlags|flagOEMDomainSupplied|flagOEMWorkstationSupplied, 7, 40, 4, 47)
	tests := []struct {
		name string
		msg  []byte
		want error // nil: accepted
	}{
		{"minimal 16 bytes", good[:16], nil},
		{"32 bytes, no version", good[:32], nil},
		{"domain and workstation", ok, nil},
		{"empty", nil, ErrMalformed},
		{"15 bytes", good[:15], ErrMalformed},
		{"wrong signature", append([]byte("NTLMSSP\x01"), good[8:]...), ErrMalformed},
		{"AUTHENTICATE type", func() []byte { m := bytes.Clone(good); m[8] = 3; return m }(), ErrUnexpected},
		{"domain beyond the end", withNames(defaultClientFlags|flagOEMDomainSupplied, 100, 40, 0, 0), ErrMalformed},
		{"domain in the header", withNames(defaultClientFlags|flagOEMDomainSupplied, 7, 8, 0, 0), ErrMalformed},
		{"domain and workstation overlap", withNames(defaultClientFlags|flagOEMDomainSupplied|flagOEMWorkstationSupplied, 7, 40, 4, 45), ErrMalformed},
		{"supplied flag, fields missing", func() []byte {
			m := bytes.Clone(good[:16])
			binary.LittleEndian.PutUint32(m[12:], flagOEMDomainSupplied)
			return m
		}(), ErrMalformed},
		{"oversized", append(bytes.Clone(good), make([]byte, maxMessageSize)...), ErrMalformed},
	}
	for _, tt := range tests {
		chal, _, err := srv.NewSession().Next(tt.msg)
		if tt.want == nil {
			if err != nil || messageType(chal) != typeChallenge {
				t.Errorf("Next(%s) = %v, want a CHALLENGE", tt.name, err)
			}
			continue
		}
		if !errorsIs(err, tt.want) {
			t.Errorf("Next(%s) = %v, want %v", tt.name, err, tt.want)
		}
	}
}
