package mapi

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// TestRPCConnectRequestGolden: EcDoConnectEx's [in] stub in NDR 2.0
// (MS-OXCRPC 3.1.4.1), byte for byte: the DN as a conformant varying
// string padded to 4, seven longs, the shorts, then the aligned rest.
func TestRPCConnectRequestGolden(t *testing.T) {
	req := &RPCConnectRequest{UserDN: "/o=C", CodePage: 1252, LcidString: 0x409, LcidSort: 0x409, Icxr: 0xFFFFFFFF,
		CanConvertCodePages: 1, ClientVersion: [3]uint16{16 << 8, 0x8000 | 17928, 20114}, MaxAuxOut: MaxAuxOut}
	want := unhex(t, `05000000 00000000 05000000 2f6f3d4300 000000
		00000000 00000000 00000000 e4040000 09040000 09040000 ffffffff
		0100 0010 08c6 924e 00000000 00000000 00000000 08100000`)
	if got := Marshal(req); !bytes.Equal(got, want) {
		t.Fatalf("Marshal(EcDoConnectEx) =\n%x, want\n%x", got, want)
	}
	var back RPCConnectRequest
	if err := Unmarshal(want, &back); err != nil || !reflect.DeepEqual(&back, req) {
		t.Fatalf("Unmarshal(EcDoConnectEx) = %+v, %v", back, err)
	}
}

// TestRPCStubsRoundTrip: each answer and request decodes to what was
// encoded, a failed connect with its null strings included.
func TestRPCStubsRoundTrip(t *testing.T) {
	for _, tc := range []struct{ in, out Body }{
		{&RPCConnectResponse{Handle: [20]byte{4: 1, 19: 2}, PollsMax: 60000, Retry: 6, RetryDelay: 10000, DNPrefix: "/o=C/ou=X",
			DisplayName: "Alice Wood", ServerVersion: [3]uint16{0x0F01, 0x8000 | 2507, 6}, BestVersion: [3]uint16{0x0F01, 0x8000 | 2507, 6},
			TimeStamp: 7, AuxOut: []byte{1, 2, 3}}, &RPCConnectResponse{}},
		{&RPCConnectResponse{Code: ErrUnknownUser, PollsMax: 60000}, &RPCConnectResponse{}},
		{&RPCExt2Request{Handle: [20]byte{1}, Flags: RPCNoCompression | RPCNoXorMagic, In: []byte{0, 0, 4, 0, 1, 0, 1, 0, 9},
			MaxOut: MaxRgbOut, MaxAuxOut: MaxAuxOut}, &RPCExt2Request{}},
		{&RPCExt2Response{Handle: [20]byte{1}, Flags: 3, Out: []byte{1, 2, 3, 4, 5}, TransTime: 1}, &RPCExt2Response{}},
		{&RPCDisconnect{Handle: [20]byte{3: 9}}, &RPCDisconnect{}},
		{&RPCDisconnect{Answer: true, Code: ErrInvalidParam}, &RPCDisconnect{Answer: true}},
	} {
		if err := Unmarshal(Marshal(tc.in), tc.out); err != nil || !reflect.DeepEqual(tc.in, tc.out) {
			t.Errorf("%T: round trip = %+v, %v; want %+v", tc.in, tc.out, err, tc.in)
		}
	}
	if r := (RPCConnectResponse{Code: ErrUnknownUser, DNPrefix: "x"}); len(Marshal(&r)) != len(Marshal(&RPCConnectResponse{Code: ErrUnknownUser})) {
		t.Error("a failed EcDoConnectEx answer carries its strings, want null pointers")
	}
}

// TestRPCStubsRefused: lengths that disagree and strings without their
// null are NDR errors, not panics or silent truncation.
func TestRPCStubsRefused(t *testing.T) {
	ext := Marshal(&RPCExt2Request{In: []byte{1, 2, 3, 4}})
	ext[20+4+4+4] = 5 // cbIn after the handle, flags and the 4-byte array
	conn := Marshal(&RPCConnectRequest{UserDN: "/o=C"})
	conn[16] = 'x' // the DN's null
	varying := Marshal(&RPCExt2Response{Out: []byte{1, 2}})
	varying[24] = 1 // maximum count under the actual count
	for name, tc := range map[string]struct {
		b    []byte
		into Body
	}{
		"cbIn":       {ext, &RPCExt2Request{}},
		"DN null":    {conn, &RPCConnectRequest{}},
		"max count":  {varying, &RPCExt2Response{}},
		"truncated":  {conn[:30], &RPCConnectRequest{}},
		"empty stub": {nil, &RPCDisconnect{}},
	} {
		if err := Unmarshal(tc.b, tc.into); err == nil || !(errors.Is(err, errNDR) || errors.Is(err, ErrShort)) {
			t.Errorf("%s: Unmarshal = %v, want an NDR error", name, err)
		}
	}
}

// TestLogonRequestGolden: RopLogon as a client sends it for its own
// mailbox, byte for byte (MS-OXCROPS 2.2.3.1.1): LogonFlags Private,
// OpenFlags USE_PER_MDB_REPLID_MAPPING | NO_MAIL | TAKE_OWNERSHIP |
// HOME_LOGON (0x0100040C, MS-OXCSTOR 2.2.1.1.2), the ESSDN with its null.
func TestLogonRequestGolden(t *testing.T) {
	rop := &LogonRequest{LogonFlags: LogonPrivate, OpenFlags: OpenUsePerMDBReplIDMapping | OpenNoMail | OpenTakeOwnership | OpenHomeLogon, Essdn: "/o=C"}
	want := unhex(t, "fe 00 00 01 0c040001 00000000 0500 2f6f3d4300")
	if got := EncodeROPs([]ROP{rop}); !bytes.Equal(got, want) {
		t.Fatalf("RopLogon = %x, want %x", got, want)
	}
}
