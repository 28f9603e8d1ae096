package mapiclient

import (
	"context"
	"fmt"
	"time"

	"github.com/exsim/exsim/internal/mapi"
)

// EMSMDB over DCE/RPC (MS-OXCRPC), as Outlook Anywhere carries it to port
// 6001: EcDoConnectEx, EcDoRpcExt2 with the same ROP buffers as
// MAPI/HTTP's Execute, EcDoDisconnect. The stubs are internal/mapi's
// (shared with the server); the association is the caller's: an
// internal/rpchclient virtual connection bound to mapi.EMSMDBUUID
// version mapi.EMSMDBMajor.EMSMDBMinor, or any other that carries calls.
//
// The client binds at RPC_C_AUTHN_LEVEL_CONNECT (rpchclient's NTLM): an
// Exchange whose RPC Client Access requires encryption (the default,
// Set-RpcClientAccess -EncryptionRequired) answers EcDoConnectEx with
// ecNotEncrypted, which DialRPC reports as such.

// Caller runs one RPC call on a bound EMSMDB presentation context and
// returns the response stub (rpchclient.Conn is one).
type Caller interface {
	Call(ctx context.Context, opnum uint16, stub []byte) ([]byte, error)
}

// clientVersion is rgwClientVersion in the normalised form of MS-OXCRPC
// 3.1.4.1.3 (major<<8|minor, 0x8000|build, revision): Outlook
// 16.0.17928.20114, the build X-ClientApplication names. Exchange refuses
// clients older than Outlook 2007 (ecVersionMismatch).
var clientVersion = [3]uint16{16 << 8, 0x8000 | 17928, 20114}

// rpcContext is an EMSMDB Session Context handle (CXH) over a Caller.
type rpcContext struct {
	c      Caller
	handle [20]byte
}

// DialRPC connects to the mailbox of userDN (its legacyExchangeDN, as
// Autodiscover's User LegacyDN gives it) with EcDoConnectEx over c and
// logs on (RopLogon). The Session lists folders and tables as one over
// MAPI/HTTP does; it has no address book (ResolveNames, Ping and
// WaitForMail are MAPI/HTTP requests).
func DialRPC(ctx context.Context, c Caller, userDN string) (*Session, error) {
	req := &mapi.RPCConnectRequest{UserDN: userDN, CodePage: 1252, LcidString: 0x409, LcidSort: 0x409,
		Icxr: 0xFFFFFFFF, CanConvertCodePages: 1, ClientVersion: clientVersion, MaxAuxOut: mapi.MaxAuxOut}
	var resp mapi.RPCConnectResponse
	if err := call(ctx, c, "EcDoConnectEx", mapi.OpEcDoConnectEx, req, &resp); err != nil {
		return nil, err
	}
	if resp.Code != mapi.Success {
		if resp.Code == mapi.ErrNotEncrypted {
			return nil, fmt.Errorf("mapiclient: EcDoConnectEx: %w (the server requires RPC encryption, packet privacy, which this client does not negotiate)", resp.Code)
		}
		return nil, fmt.Errorf("mapiclient: EcDoConnectEx: %w", resp.Code)
	}
	s := &Session{rpc: &rpcContext{c: c, handle: resp.Handle}, DN: userDN, DisplayName: resp.DisplayName,
		MaxPollingInterval: time.Duration(resp.PollsMax) * time.Millisecond}
	if err := s.logon(ctx); err != nil {
		s.rpc.disconnect(ctx)
		return nil, err
	}
	return s, nil
}

// call runs one EMSMDB operation: req encoded, the answer decoded into
// resp.
func call(ctx context.Context, c Caller, name string, opnum uint16, req, resp mapi.Body) error {
	out, err := c.Call(ctx, opnum, mapi.Marshal(req))
	if err != nil {
		return fmt.Errorf("mapiclient: %s: %w", name, err)
	}
	if err := mapi.Unmarshal(out, resp); err != nil {
		return fmt.Errorf("mapiclient: %s answer: %w", name, err)
	}
	return nil
}

// rpcExt2 is EcDoRpcExt2 with an RPC_HEADER_EXT chain; it returns the
// answer's chain. The server is asked not to compress or obfuscate it.
func (x *rpcContext) rpcExt2(ctx context.Context, in []byte) ([]byte, error) {
	req := &mapi.RPCExt2Request{Handle: x.handle, Flags: mapi.RPCNoCompression | mapi.RPCNoXorMagic, In: in,
		MaxOut: mapi.MaxRgbOut, MaxAuxOut: mapi.MaxAuxOut}
	var resp mapi.RPCExt2Response
	if err := call(ctx, x.c, "EcDoRpcExt2", mapi.OpEcDoRpcExt2, req, &resp); err != nil {
		return nil, err
	}
	if resp.Code != mapi.Success {
		return nil, fmt.Errorf("mapiclient: EcDoRpcExt2: %w", resp.Code)
	}
	x.handle = resp.Handle
	return resp.Out, nil
}

// disconnect is EcDoDisconnect.
func (x *rpcContext) disconnect(ctx context.Context) error {
	resp := mapi.RPCDisconnect{Answer: true}
	if err := call(ctx, x.c, "EcDoDisconnect", mapi.OpEcDoDisconnect, &mapi.RPCDisconnect{Handle: x.handle}, &resp); err != nil {
		return err
	}
	if resp.Code != mapi.Success {
		return fmt.Errorf("mapiclient: EcDoDisconnect: %w", resp.Code)
	}
	x.handle = resp.Handle
	return nil
}
