package mapiclient

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/exsim/exsim/internal/mapi"
)

// fakeCaller answers each operation number with a canned stub.
type fakeCaller map[uint16][]byte

func (f fakeCaller) Call(_ context.Context, opnum uint16, _ []byte) ([]byte, error) {
	if b, ok := f[opnum]; ok {
		return b, nil
	}
	return nil, errors.New("no such operation")
}

// TestDialRPCRefusals: what a real Exchange may answer instead of a
// session reads as such: RPC encryption required, a malformed stub, a
// compressed ROP answer the client asked not to get.
func TestDialRPCRefusals(t *testing.T) {
	ctx := t.Context()
	_, err := DialRPC(ctx, fakeCaller{mapi.OpEcDoConnectEx: mapi.Marshal(&mapi.RPCConnectResponse{Code: mapi.ErrNotEncrypted})}, "/o=C/cn=a")
	if !errors.Is(err, mapi.ErrNotEncrypted) || !strings.Contains(err.Error(), "packet privacy") {
		t.Errorf("DialRPC against ecNotEncrypted = %v, want it named with the reason", err)
	}
	if _, err := DialRPC(ctx, fakeCaller{mapi.OpEcDoConnectEx: {1, 2, 3}}, "/o=C/cn=a"); err == nil || !strings.Contains(err.Error(), "EcDoConnectEx answer") {
		t.Errorf("DialRPC against a cut stub = %v, want a decoding error", err)
	}
	// A compressed RPC_HEADER_EXT (flags 0x0005): the logon cannot be read.
	compressed := []byte{0, 0, 5, 0, 2, 0, 2, 0, 0, 0}
	calls := fakeCaller{
		mapi.OpEcDoConnectEx:  mapi.Marshal(&mapi.RPCConnectResponse{Handle: [20]byte{4: 1}, DisplayName: "A", DNPrefix: "/o=C"}),
		mapi.OpEcDoRpcExt2:    mapi.Marshal(&mapi.RPCExt2Response{Out: compressed}),
		mapi.OpEcDoDisconnect: mapi.Marshal(&mapi.RPCDisconnect{Answer: true}),
	}
	if _, err := DialRPC(ctx, calls, "/o=C/cn=a"); !errors.Is(err, mapi.ErrCompressed) {
		t.Errorf("DialRPC with a compressed RopLogon answer = %v, want mapi.ErrCompressed", err)
	}
}
