package mapi

import (
	"bytes"
	"testing"

	"github.com/exsim/exsim/internal/fuzzseed"
)

// requestBodies are the request bodies a server decodes, by a selector
// byte, with a seed each.
var requestBodies = []struct {
	new  func() Body
	seed Body
}{
	{func() Body { return &ConnectRequest{} }, &ConnectRequest{UserDN: "/o=Contoso/cn=alice", DefaultCodePage: 1252}},
	{func() Body { return &ExecuteRequest{} }, &ExecuteRequest{RopBuffer: seedROPBuffer(), MaxRopOut: 0x10000}},
	{func() Body { return &AuxRequest{} }, &AuxRequest{}},
	{func() Body { return &NotificationWaitRequest{} }, &NotificationWaitRequest{}},
	{func() Body { return &BindRequest{} }, &BindRequest{State: &Stat{CodePage: 1252}}},
	{func() Body { return &UnbindRequest{} }, &UnbindRequest{}},
	{func() Body { return &GetPropsRequest{} }, &GetPropsRequest{State: &Stat{CurrentRec: 0x100}, Tags: []PropTag{PidTagDisplayName}}},
	{func() Body { return &ABQueryRowsRequest{} }, &ABQueryRowsRequest{State: &Stat{}, RowCount: 10, Columns: []PropTag{PidTagDisplayName}}},
	{func() Body { return &ResolveNamesRequest{} }, &ResolveNamesRequest{Tags: []PropTag{PidTagEmailAddress}, Names: []string{"alice"}}},
	{func() Body { return &DNToMIdRequest{} }, &DNToMIdRequest{Names: []string{"/o=Contoso/cn=alice"}}},
	{func() Body { return &GetSpecialTableRequest{} }, &GetSpecialTableRequest{State: &Stat{}}},
	// The EMSMDB RPC stubs behind port 6001, and the answers a client
	// decodes from a server it does not trust.
	{func() Body { return &RPCConnectRequest{} }, &RPCConnectRequest{UserDN: "/o=Contoso/cn=alice", CodePage: 1252, MaxAuxOut: MaxAuxOut}},
	{func() Body { return &RPCExt2Request{} }, &RPCExt2Request{In: seedROPBuffer(), MaxOut: MaxRgbOut}},
	{func() Body { return &RPCDisconnect{} }, &RPCDisconnect{Handle: [20]byte{4: 1}}},
	{func() Body { return &RPCConnectResponse{} }, &RPCConnectResponse{DNPrefix: "/o=Contoso", DisplayName: "Alice", AuxOut: []byte{1}}},
	{func() Body { return &RPCExt2Response{} }, &RPCExt2Response{Out: seedROPBuffer()}},
	{func() Body { return &RPCDisconnect{Answer: true} }, &RPCDisconnect{Answer: true}},
}

func seedROPBuffer() []byte {
	rops := EncodeROPs([]ROP{
		&LogonRequest{LogonFlags: LogonPrivate, Essdn: "/o=Contoso/cn=alice"},
		&OpenFolderRequest{OutputHandleIndex: 1, FolderID: 0x0500000000000001},
		&TableRequest{ID: RopIDGetContentsTable, InputHandleIndex: 1, OutputHandleIndex: 2},
		&SetColumnsRequest{InputHandleIndex: 2, Columns: []PropTag{PidTagSubject}},
		&QueryRowsRequest{InputHandleIndex: 2, ForwardRead: true, RowCount: 10},
		&ReleaseRequest{InputHandleIndex: 2},
	})
	b, _ := JoinExt((&ROPBuffer{ROPs: rops, Handles: []uint32{0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF}}).Bytes())
	return b
}

// FuzzRequestBody attacks the decoders of every request body and, for
// Execute, of the ROP buffer inside: no input may panic, and what decodes
// must encode to bytes that decode to the same encoding again (flags
// such as Has* bytes are canonicalised to 0xFF on the way).
func FuzzRequestBody(f *testing.F) {
	for i, rb := range requestBodies {
		fuzzseed.Add(f, uint8(i), Marshal(rb.seed))
	}
	fuzzseed.Add(f, uint8(1), []byte{0, 0, 0, 0, 8, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, sel uint8, data []byte) {
		rb := requestBodies[int(sel)%len(requestBodies)]
		b := rb.new()
		if err := Unmarshal(data, b); err != nil {
			return
		}
		enc := Marshal(b)
		again := rb.new()
		if err := Unmarshal(enc, again); err != nil {
			t.Fatalf("%T: %x re-encoded as %x, which does not decode: %v", b, data, enc, err)
		}
		if got := Marshal(again); !bytes.Equal(got, enc) {
			t.Fatalf("%T: %x encodes as %x then %x", b, data, enc, got)
		}
		ex, ok := b.(*ExecuteRequest)
		if !ok {
			return
		}
		p, err := SplitExt(ex.RopBuffer)
		if err != nil {
			return
		}
		buf, err := ParseROPBuffer(p)
		if err != nil {
			return
		}
		rops, _ := DecodeRequests(buf.ROPs)
		first := EncodeROPs(rops)
		back, err := DecodeRequests(first)
		if err != nil {
			t.Fatalf("ROPs %x re-encode as %x, which does not decode: %v", buf.ROPs, first, err)
		}
		if second := EncodeROPs(back); !bytes.Equal(second, first) {
			t.Fatalf("ROPs %x encode as %x then %x", buf.ROPs, first, second)
		}
	})
}
