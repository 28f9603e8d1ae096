package httpd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"

	"github.com/exsim/exsim/internal/dcerpc"
	"github.com/exsim/exsim/internal/mapi"
)

// EMSMDB over RPC (MS-OXCRPC), behind Outlook Anywhere's port 6001: the
// same Session Contexts and ROPs as MAPI/HTTP's Execute, reached by
// EcDoConnectEx, EcDoRpcExt2 and EcDoDisconnect. Other operations
// (EcRRegisterPushNotification, EcDoAsyncConnectEx...) fault with
// nca_s_op_rng_error.

// Operation numbers (MS-OXCRPC 3.1.4), shared with the client.
const (
	opEcDoDisconnect = mapi.OpEcDoDisconnect
	opEcDoConnectEx  = mapi.OpEcDoConnectEx
	opEcDoRpcExt2    = mapi.OpEcDoRpcExt2
	maxRgbOut        = mapi.MaxRgbOut
	maxAuxOut        = mapi.MaxAuxOut
)

// emsmdbRPC serves the EMSMDB interface of one handler.
type emsmdbRPC struct{ h *Handler }

func (h *Handler) emsmdbInterface() dcerpc.Interface {
	e := &emsmdbRPC{h: h}
	return dcerpc.Interface{UUID: dcerpc.UUIDBytes(mapi.EMSMDBUUID), Major: mapi.EMSMDBMajor, Minor: mapi.EMSMDBMinor, Call: e.call}
}

func (e *emsmdbRPC) call(ctx context.Context, opnum uint16, stub []byte) ([]byte, error) {
	var resp mapi.Body
	var err error
	switch opnum {
	case opEcDoConnectEx:
		var req mapi.RPCConnectRequest
		if err = mapi.Unmarshal(stub, &req); err == nil {
			resp = e.connect(ctx, &req)
		}
	case opEcDoRpcExt2:
		var req mapi.RPCExt2Request
		if err = mapi.Unmarshal(stub, &req); err == nil {
			resp, err = e.rpcExt2(ctx, &req)
		}
	case opEcDoDisconnect:
		req := mapi.RPCDisconnect{}
		if err = mapi.Unmarshal(stub, &req); err == nil {
			resp, err = e.disconnect(ctx, &req)
		}
	default:
		return nil, dcerpc.FaultOpRangeError
	}
	var fault dcerpc.Fault
	switch {
	case errors.As(err, &fault):
		return nil, err
	case err != nil:
		return nil, dcerpc.FaultNDR
	}
	return mapi.Marshal(resp), nil
}

// connect is EcDoConnectEx (MS-OXCRPC 3.1.4.1): a Session Context for
// the association's NTLM account, whose DN szUserDN must be.
func (e *emsmdbRPC) connect(ctx context.Context, req *mapi.RPCConnectRequest) *mapi.RPCConnectResponse {
	log := e.h.cfg.log.With("server", e.h.cfg.ServerName, "proto", "rpc/emsmdb")
	resp := &mapi.RPCConnectResponse{Code: mapi.ErrLoginFailure, PollsMax: mapiMaxPollingInterval,
		Retry: mapiMaxRetryCount, RetryDelay: mapiRetryDelay, TimeStamp: req.TimeStamp}
	var u *User
	if acct := dcerpc.AccountFromContext(ctx); acct != "" {
		var err error
		if u, err = e.h.b.FindUser(ctx, acct); err != nil {
			log.Info("emsmdb: account has no mailbox", "rcpt", acct, "err", err)
			u = nil
		}
	}
	if u != nil {
		var store *ropSession
		if store, resp.Code = e.h.connectStore(u, req.UserDN, log); resp.Code == mapi.Success {
			rand.Read(resp.Handle[4:])
			ms := e.h.mapi.add("rpc", u.Address, hex.EncodeToString(resp.Handle[4:]))
			ms.store = store
			e.h.mapi.release(ms)
			log.Info("emsmdb connect", "rcpt", u.Address)
			resp.DNPrefix, resp.DisplayName = e.h.cfg.dnPrefix(), u.DisplayName
		}
	}
	// The version in the normalised form of MS-OXCRPC 3.1.4.1.3: major
	// and minor in the first word, 0x8000 | build, revision.
	v := e.h.cfg.ver
	resp.ServerVersion = [3]uint16{uint16(v.Major<<8 | v.Minor), uint16(0x8000 | v.Build&0x7fff), uint16(v.Revision)}
	resp.BestVersion = resp.ServerVersion
	return resp
}

// session is the Session Context of a CXH, busy (release it), or nil.
func (e *emsmdbRPC) session(ctx context.Context, h [20]byte) *mapiSession {
	return e.h.mapi.get(hex.EncodeToString(h[4:]), "rpc", dcerpc.AccountFromContext(ctx))
}

// rpcExt2 is EcDoRpcExt2 (MS-OXCRPC 3.1.4.2): a ROP buffer, as
// MAPI/HTTP's Execute carries it.
func (e *emsmdbRPC) rpcExt2(ctx context.Context, req *mapi.RPCExt2Request) (*mapi.RPCExt2Response, error) {
	ms := e.session(ctx, req.Handle)
	if ms == nil {
		return nil, dcerpc.FaultContext
	}
	defer e.h.mapi.release(ms)
	log := e.h.cfg.log.With("server", e.h.cfg.ServerName, "proto", "rpc/emsmdb", "rcpt", ms.owner)
	resp := &mapi.RPCExt2Response{Handle: req.Handle, Flags: req.Flags}
	rr, err := parseROPRequest(req.In)
	if err == nil {
		resp.Out, err = rr.run(ctx, ropEnv{e.h, log}, ms.store)
	}
	switch {
	case err != nil:
		log.Info("emsmdb: ROP buffer refused", "err", err)
		resp.Code, resp.Out = mapi.ErrRpcFormat, nil
	case len(resp.Out) > int(min(req.MaxOut, maxRgbOut)):
		resp.Code, resp.Out = mapi.ErrBufferTooSmal, nil
	}
	return resp, nil
}

// disconnect is EcDoDisconnect (MS-OXCRPC 3.1.4.3): the context ends and
// its handle comes back zeroed.
func (e *emsmdbRPC) disconnect(ctx context.Context, req *mapi.RPCDisconnect) (*mapi.RPCDisconnect, error) {
	ms := e.session(ctx, req.Handle)
	if ms == nil {
		return nil, dcerpc.FaultContext
	}
	e.h.mapi.release(ms)
	e.h.mapi.remove(ms)
	return &mapi.RPCDisconnect{Answer: true}, nil
}
