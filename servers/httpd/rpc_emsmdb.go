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

// emsmdbUUID is the EMSMDB interface, version 0.81 (MS-OXCRPC 1.9).
const emsmdbUUID = "A4F1DB00-CA47-1067-B31F-00DD010662DA"

// Operation numbers (MS-OXCRPC 3.1.4).
const (
	opEcDoDisconnect = 1
	opEcDoConnectEx  = 10
	opEcDoRpcExt2    = 11
)

// Bounds of the RPC buffers (the IDL's range attributes).
const (
	maxRgbOut   = 0x40000
	maxAuxOut   = 0x1008
	maxRPCInput = 0x40000
)

// emsmdbRPC serves the EMSMDB interface of one handler.
type emsmdbRPC struct{ h *Handler }

func (h *Handler) emsmdbInterface() dcerpc.Interface {
	e := &emsmdbRPC{h: h}
	return dcerpc.Interface{UUID: dcerpc.UUIDBytes(emsmdbUUID), Major: 0, Minor: 81, Call: e.call}
}

func (e *emsmdbRPC) call(ctx context.Context, opnum uint16, stub []byte) ([]byte, error) {
	in := mapi.NewDecoder(stub)
	out := mapi.NewEncoder()
	var err error
	switch opnum {
	case opEcDoConnectEx:
		err = e.connect(ctx, in, out)
	case opEcDoRpcExt2:
		err = e.rpcExt2(ctx, in, out)
	case opEcDoDisconnect:
		err = e.disconnect(ctx, in, out)
	default:
		return nil, dcerpc.FaultOpRangeError
	}
	if err != nil {
		return nil, err
	}
	if in.Err() != nil || in.Remaining() != 0 {
		return nil, dcerpc.FaultNDR
	}
	return out.Bytes(), nil
}

// ndrString reads a [string] unsigned char*: a conformant varying
// string (C706 14.3.4.2) of 8-bit characters with its null.
func ndrString(c *mapi.Codec) string {
	var maxCount, offset, actual uint32
	c.Align(4)
	c.U32(&maxCount)
	c.U32(&offset)
	n := c.Count(&actual, 1)
	if c.Err() != nil || offset != 0 || actual > maxCount || n == 0 {
		c.Fail(errors.New("ndr: bad string"))
		return ""
	}
	b := make([]byte, n)
	c.Fixed(b)
	if b[n-1] != 0 {
		c.Fail(errors.New("ndr: string without its null"))
		return ""
	}
	return string(b[:n-1])
}

// ndrOutString writes a [out, string] unsigned char**: a unique pointer
// and the conformant varying string.
func ndrOutString(c *mapi.Codec, ref uint32, s string) {
	c.Align(4)
	n := uint32(len(s) + 1)
	var zero uint32
	c.U32(&ref)
	c.U32(&n)
	c.U32(&zero)
	c.U32(&n)
	c.Fixed(append([]byte(s), 0))
}

// ndrBytesIn reads a [in, size_is(n)] unsigned char[]: a conformant array.
func ndrBytesIn(c *mapi.Codec, max int) []byte {
	var n uint32
	c.Align(4)
	k := c.Count(&n, 1)
	if k > max {
		c.Fail(errors.New("ndr: array over its range"))
		return nil
	}
	b := make([]byte, k)
	c.Fixed(b)
	return b
}

// ndrBytesOut writes a [out, length_is, size_is] unsigned char[]: a
// conformant varying array.
func ndrBytesOut(c *mapi.Codec, b []byte) {
	c.Align(4)
	n, zero := uint32(len(b)), uint32(0)
	c.U32(&n)
	c.U32(&zero)
	c.U32(&n)
	c.Fixed(b)
}

func u32(c *mapi.Codec) uint32 {
	var v uint32
	c.Align(4)
	c.U32(&v)
	return v
}

func putU32(c *mapi.Codec, v uint32) {
	c.Align(4)
	c.U32(&v)
}

// connect is EcDoConnectEx (MS-OXCRPC 3.1.4.1): a Session Context for
// the association's NTLM account, whose DN szUserDN must be.
func (e *emsmdbRPC) connect(ctx context.Context, in, out *mapi.Codec) error {
	dn := ndrString(in)
	for range 7 { // ulFlags, ulConMod, cbLimit, ulCpid, ulLcidString, ulLcidSort, ulIcxrLink
		u32(in)
	}
	var canConvert uint16
	var client [3]uint16
	in.U16(&canConvert)
	for i := range client {
		in.U16(&client[i])
	}
	timeStamp := u32(in)
	ndrBytesIn(in, maxAuxOut)
	u32(in) // cbAuxIn
	u32(in) // pcbAuxOut
	if in.Err() != nil {
		return dcerpc.FaultNDR
	}
	log := e.h.cfg.log.With("server", e.h.cfg.ServerName, "proto", "rpc/emsmdb")
	code := mapi.ErrLoginFailure
	var handle [20]byte
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
		if store, code = e.h.connectStore(u, dn, log); code == mapi.Success {
			rand.Read(handle[4:])
			ms := e.h.mapi.add("rpc", u.Address, hex.EncodeToString(handle[4:]))
			ms.store = store
			e.h.mapi.release(ms)
			log.Info("emsmdb connect", "rcpt", u.Address)
		}
	}
	out.Fixed(handle[:])
	ok := code == mapi.Success
	name, prefix := "", ""
	if ok {
		name, prefix = u.DisplayName, e.h.cfg.dnPrefix()
	}
	putU32(out, mapiMaxPollingInterval)
	putU32(out, mapiMaxRetryCount)
	putU32(out, mapiRetryDelay)
	var icxr uint16
	out.U16(&icxr)
	if ok {
		ndrOutString(out, 0x00020000, prefix)
		ndrOutString(out, 0x00020004, name)
	} else {
		putU32(out, 0) // null szDNPrefix
		putU32(out, 0) // null szDisplayName
	}
	// The version in the normalised form of MS-OXCRPC 3.1.4.1.3: major
	// and minor in the first word, 0x8000 | build, revision.
	v := e.h.cfg.ver
	server := [3]uint16{uint16(v.Major<<8 | v.Minor), uint16(0x8000 | v.Build&0x7fff), uint16(v.Revision)}
	for _, w := range [][3]uint16{server, server} { // rgwServerVersion, rgwBestVersion
		for i := range w {
			out.U16(&w[i])
		}
	}
	putU32(out, timeStamp)
	ndrBytesOut(out, nil) // rgbAuxOut
	putU32(out, 0)        // pcbAuxOut
	putU32(out, uint32(code))
	return nil
}

// session is the Session Context of a CXH, busy (release it), or nil.
func (e *emsmdbRPC) session(ctx context.Context, h [20]byte) *mapiSession {
	return e.h.mapi.get(hex.EncodeToString(h[4:]), "rpc", dcerpc.AccountFromContext(ctx))
}

// rpcExt2 is EcDoRpcExt2 (MS-OXCRPC 3.1.4.2): a ROP buffer, as
// MAPI/HTTP's Execute carries it.
func (e *emsmdbRPC) rpcExt2(ctx context.Context, in, out *mapi.Codec) error {
	var h [20]byte
	in.Fixed(h[:])
	flags := u32(in)
	rgbIn := ndrBytesIn(in, maxRPCInput)
	u32(in) // cbIn
	cbOut := u32(in)
	ndrBytesIn(in, maxAuxOut)
	u32(in) // cbAuxIn
	u32(in) // pcbAuxOut
	if in.Err() != nil {
		return dcerpc.FaultNDR
	}
	ms := e.session(ctx, h)
	if ms == nil {
		return dcerpc.FaultContext
	}
	defer e.h.mapi.release(ms)
	log := e.h.cfg.log.With("server", e.h.cfg.ServerName, "proto", "rpc/emsmdb", "rcpt", ms.owner)
	var rgbOut []byte
	code := mapi.Success
	rr, err := parseROPRequest(rgbIn)
	if err == nil {
		rgbOut, err = rr.run(ctx, ropEnv{e.h, log}, ms.store)
	}
	switch {
	case err != nil:
		log.Info("emsmdb: ROP buffer refused", "err", err)
		code, rgbOut = mapi.ErrRpcFormat, nil
	case len(rgbOut) > int(min(cbOut, maxRgbOut)):
		code, rgbOut = mapi.ErrBufferTooSmal, nil
	}
	out.Fixed(h[:])
	putU32(out, flags)
	ndrBytesOut(out, rgbOut)
	putU32(out, uint32(len(rgbOut)))
	ndrBytesOut(out, nil) // rgbAuxOut
	putU32(out, 0)        // pcbAuxOut
	putU32(out, 0)        // pulTransTime
	putU32(out, uint32(code))
	return nil
}

// disconnect is EcDoDisconnect (MS-OXCRPC 3.1.4.3): the context ends and
// its handle comes back zeroed.
func (e *emsmdbRPC) disconnect(ctx context.Context, in, out *mapi.Codec) error {
	var h [20]byte
	in.Fixed(h[:])
	if in.Err() != nil {
		return dcerpc.FaultNDR
	}
	ms := e.session(ctx, h)
	if ms == nil {
		return dcerpc.FaultContext
	}
	e.h.mapi.release(ms)
	e.h.mapi.remove(ms)
	out.Fixed(make([]byte, 20))
	putU32(out, 0)
	return nil
}
