package mapi

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestConnectRequestGolden: the Connect body Outlook-like clients send
// (the DN, Flags 0, code page 1252, LCIDs 0x409, no auxiliary buffer),
// byte for byte (MS-OXCMAPIHTTP 2.2.4.1.1).
func TestConnectRequestGolden(t *testing.T) {
	req := &ConnectRequest{UserDN: "/o=Contoso/cn=alice", DefaultCodePage: 1252, LcidSort: 0x409, LcidString: 0x409}
	want := append([]byte("/o=Contoso/cn=alice\x00"), unhex(t, "00000000 e4040000 09040000 09040000 00000000")...)
	if got := Marshal(req); !bytes.Equal(got, want) {
		t.Fatalf("Marshal(Connect) = %x, want %x", got, want)
	}
	var back ConnectRequest
	if err := Unmarshal(want, &back); err != nil || !reflect.DeepEqual(back, ConnectRequest{UserDN: req.UserDN,
		DefaultCodePage: 1252, LcidSort: 0x409, LcidString: 0x409}) {
		t.Fatalf("Unmarshal(Connect) = %+v, %v", back, err)
	}
}

// TestQueryRowsResponseGolden: a flagged PropertyRow (MS-OXCDATA 2.8.1)
// for a row whose second column is missing.
func TestQueryRowsResponseGolden(t *testing.T) {
	cols := []PropTag{PidTagSubject, PidTagMessageDeliveryTime}
	when := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	resp := &QueryRowsResponse{InputHandleIndex: 1, Origin: OriginEnd, Columns: cols, Rows: [][]PropValue{
		{{Tag: PidTagSubject, Value: "Hi"}, {Tag: PidTagMessageDeliveryTime, Value: when}},
		{{Tag: PidTagSubject, Value: "x"}, NotFound(PidTagMessageDeliveryTime)},
	}}
	ft := FileTime(when)
	ftb := []byte{byte(ft), byte(ft >> 8), byte(ft >> 16), byte(ft >> 24), byte(ft >> 32), byte(ft >> 40), byte(ft >> 48), byte(ft >> 56)}
	want := unhex(t, "15 01 00000000 02 0200")
	want = append(want, 0x00, 'H', 0, 'i', 0, 0, 0)
	want = append(want, ftb...)
	want = append(want, 0x01, 0x00, 'x', 0, 0, 0, 0x0A, 0x0F, 0x01, 0x04, 0x80)
	got := EncodeROPs([]ROP{resp})
	if !bytes.Equal(got, want) {
		t.Fatalf("EncodeROPs(QueryRows) =\n%x, want\n%x", got, want)
	}
	back := &QueryRowsResponse{Columns: cols}
	if err := DecodeResponses(got, []ROP{back}); err != nil {
		t.Fatal(err)
	}
	if back.Rows[0][0].String() != "Hi" || !back.Rows[0][1].Time().Equal(when) {
		t.Errorf("row 0 = %+v", back.Rows[0])
	}
	if code, ok := back.Rows[1][1].ErrorValue(); !ok || code != ErrNotFound {
		t.Errorf("row 1 column 2 = %+v, want MAPI_E_NOT_FOUND", back.Rows[1][1])
	}
}

// TestROPRequestsRoundTrip decodes what it encodes, for every ROP.
func TestROPRequestsRoundTrip(t *testing.T) {
	rops := []ROP{
		&LogonRequest{OutputHandleIndex: 0, LogonFlags: LogonPrivate, OpenFlags: OpenHomeLogon | OpenUseAdminPrivilege, Essdn: "/o=Contoso/cn=alice"},
		&OpenFolderRequest{InputHandleIndex: 0, OutputHandleIndex: 1, FolderID: 0x0500000000000001},
		&TableRequest{ID: RopIDGetContentsTable, InputHandleIndex: 1, OutputHandleIndex: 2},
		&TableRequest{ID: RopIDGetHierarchyTable, InputHandleIndex: 1, OutputHandleIndex: 3},
		&SetColumnsRequest{InputHandleIndex: 2, Columns: []PropTag{PidTagSubject, PidTagMid}},
		&QueryRowsRequest{InputHandleIndex: 2, ForwardRead: true, RowCount: 50},
		&ReleaseRequest{InputHandleIndex: 2},
	}
	got, err := DecodeRequests(EncodeROPs(rops))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, rops) {
		t.Fatalf("DecodeRequests(EncodeROPs(x)) = %+v, want %+v", got, rops)
	}
	_, err = DecodeRequests([]byte{0x07, 0x00, 0x03, 0x00})
	var u *UnsupportedROPError
	if !errors.As(err, &u) || u.ID != 0x07 || u.HandleIndex != 3 {
		t.Fatalf("DecodeRequests(RopGetPropertiesSpecific) = %v, want UnsupportedROPError 0x07 index 3", err)
	}
}

// TestLogonResponseShortOnError: a failed ROP answers RopId, handle
// index and ReturnValue only (MS-OXCROPS 2.2.3.1.4).
func TestLogonResponseShortOnError(t *testing.T) {
	got := EncodeROPs([]ROP{&ErrorResponse{ID: RopIDLogon, HandleIndex: 0, ReturnValue: ErrLoginFailure}})
	if want := unhex(t, "fe 00 11010480"); !bytes.Equal(got, want) {
		t.Fatalf("error response = %x, want %x", got, want)
	}
	var lr LogonResponse
	if err := DecodeResponses(got, []ROP{&lr}); err != nil || lr.ReturnValue != ErrLoginFailure {
		t.Fatalf("DecodeResponses = %+v, %v", lr, err)
	}
}

func TestRPCHeaderExt(t *testing.T) {
	payload := (&ROPBuffer{ROPs: []byte{0x01, 0x00, 0x02}, Handles: []uint32{7, 0xFFFFFFFF}}).Bytes()
	b, err := JoinExt(payload)
	if err != nil {
		t.Fatal(err)
	}
	if want := unhex(t, "0000 0400 0d00 0d00 0500 010002 07000000 ffffffff"); !bytes.Equal(b, want) {
		t.Fatalf("JoinExt = %x, want %x", b, want)
	}
	p, err := SplitExt(b)
	if err != nil || !bytes.Equal(p, payload) {
		t.Fatalf("SplitExt = %x, %v", p, err)
	}
	rb, err := ParseROPBuffer(p)
	if err != nil || !bytes.Equal(rb.ROPs, []byte{1, 0, 2}) || !reflect.DeepEqual(rb.Handles, []uint32{7, 0xFFFFFFFF}) {
		t.Fatalf("ParseROPBuffer = %+v, %v", rb, err)
	}
	compressed := append([]byte(nil), b...)
	compressed[2] |= HeaderCompressed
	if _, err := SplitExt(compressed); !errors.Is(err, ErrCompressed) {
		t.Errorf("SplitExt(compressed) = %v, want ErrCompressed", err)
	}
	// Two headers chained: the first without Last.
	first := append([]byte{0, 0, 0, 0, 2, 0, 2, 0}, payload[:2]...)
	second := append([]byte{0, 0, 4, 0, byte(len(payload) - 2), 0, byte(len(payload) - 2), 0}, payload[2:]...)
	if p, err := SplitExt(append(first, second...)); err != nil || !bytes.Equal(p, payload) {
		t.Errorf("SplitExt(chain) = %x, %v", p, err)
	}
	if _, err := SplitExt(b[:len(b)-1]); err == nil {
		t.Errorf("SplitExt(truncated) succeeded")
	}
}

// TestAddressBookBodies round-trips the NSPI bodies, whose values carry
// HasValue bytes and four-byte binary lengths (MS-OXCMAPIHTTP 2.2.1.1).
func TestAddressBookBodies(t *testing.T) {
	cols := []PropTag{PidTagDisplayName, PidTagEntryID, PidTagSMTPAddress}
	bodies := []Body{
		&BindRequest{State: &Stat{CodePage: 1252, SortLocale: 0x409}, Aux: []byte{}},
		&BindResponse{ServerGUID: [16]byte{1, 2, 3}, Aux: []byte{}},
		&ResolveNamesRequest{State: &Stat{CodePage: 1252}, Tags: cols, Names: []string{"alice@contoso.com", "bob"}, Aux: []byte{}},
		&ResolveNamesResponse{CodePage: 1252, MIDs: []uint32{MIDResolved, MIDUnresolved}, Columns: cols, Rows: [][]PropValue{
			{{Tag: PidTagDisplayName, Value: "Alice Wood"}, {Tag: PidTagEntryID, Value: []byte{0, 1, 2}}, NotFound(PidTagSMTPAddress)},
		}, Aux: []byte{}},
		&GetPropsResponse{CodePage: 1252, Values: []PropValue{{Tag: PidTagDisplayName, Value: "Alice"},
			{Tag: PidTagObjectType, Value: int32(6)}}, Aux: []byte{}},
		&ABQueryRowsRequest{State: &Stat{}, ExplicitTable: []uint32{0x100}, RowCount: 1, Columns: cols, Aux: []byte{}},
		&DNToMIdResponse{MIDs: []uint32{0x101}, Aux: []byte{}},
	}
	for _, b := range bodies {
		enc := Marshal(b)
		back := reflect.New(reflect.TypeOf(b).Elem()).Interface().(Body)
		if err := Unmarshal(enc, back); err != nil {
			t.Errorf("Unmarshal(%T) = %v", b, err)
			continue
		}
		if !bytes.Equal(Marshal(back), enc) {
			t.Errorf("%T does not round-trip: %x then %x", b, enc, Marshal(back))
		}
	}
	// The string value: HasValue 0xFF, then UTF-16 with a null.
	c := NewEncoder()
	v := any("A")
	c.value(PtypString, &v, formAB)
	if want := []byte{0xFF, 'A', 0, 0, 0}; !bytes.Equal(c.Bytes(), want) {
		t.Errorf("AB string = %x, want %x", c.Bytes(), want)
	}
}

// TestFailedResponseDecodes: a response whose ErrorCode is not 0 may stop
// before its auxiliary buffer, or carry every field (a warning).
func TestFailedResponseDecodes(t *testing.T) {
	var r ConnectResponse
	if err := Unmarshal(unhex(t, "00000000 eb030000 00000000"), &r); err != nil || r.ErrorCode != ErrUnknownUser {
		t.Fatalf("Unmarshal(short failed Connect) = %+v, %v", r, err)
	}
	if err := Unmarshal(Marshal(&ConnectResponse{ErrorCode: ErrUnknownUser}), &r); err != nil || r.ErrorCode != ErrUnknownUser {
		t.Fatalf("Unmarshal(full failed Connect) = %+v, %v", r, err)
	}
	warn := &GetPropsResponse{ErrorCode: ErrorsReturned, CodePage: 1252, Values: []PropValue{NotFound(PidTagSubject)}}
	var gp GetPropsResponse
	if err := Unmarshal(Marshal(warn), &gp); err != nil || gp.ErrorCode != ErrorsReturned || len(gp.Values) != 1 {
		t.Fatalf("Unmarshal(GetProps with ErrorsReturned) = %+v, %v", gp, err)
	}
}

// TestHostileCounts: a count larger than the body never allocates.
func TestHostileCounts(t *testing.T) {
	var r ResolveNamesRequest
	body := unhex(t, "00000000 00 00 ff ffffff7f")
	if err := Unmarshal(body, &r); !errors.Is(err, ErrShort) {
		t.Fatalf("Unmarshal(huge name count) = %v, want ErrShort", err)
	}
}

func TestFileTime(t *testing.T) {
	for _, tm := range []time.Time{time.Date(2026, 12, 5, 8, 0, 0, 123456700, time.UTC), time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)} {
		if got := FromFileTime(FileTime(tm)); !got.Equal(tm) {
			t.Errorf("FromFileTime(FileTime(%v)) = %v", tm, got)
		}
	}
	if FileTime(time.Time{}) != 0 {
		t.Errorf("FileTime(zero) != 0")
	}
}
