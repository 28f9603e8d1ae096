package mapi

import (
	"errors"
	"fmt"
)

// The EMSMDB interface over DCE/RPC (MS-OXCRPC section 3.1.4): the NDR
// 2.0 stubs of the three operations a mailbox session needs, one
// structure per direction with one codec method, so the server
// (servers/httpd, behind Outlook Anywhere's port 6001) and the client
// (internal/mapiclient) share each definition. Top-level [in] pointers
// are [ref] (no referent id); the [out, string] unsigned char**
// parameters are unique pointers.

// RPC operation numbers of the EMSMDB interface (MS-OXCRPC 3.1.4).
const (
	OpEcDoDisconnect = 1
	OpEcDoConnectEx  = 10
	OpEcDoRpcExt2    = 11
)

// EMSMDBUUID is the EMSMDB interface; version 0.81 (MS-OXCRPC 1.9).
const (
	EMSMDBUUID                      = "A4F1DB00-CA47-1067-B31F-00DD010662DA"
	EMSMDBMajor, EMSMDBMinor        = 0, 81
	MaxRgbOut, MaxAuxOut            = 0x40000, 0x1008 // the IDL's range attributes
	MaxRPCInput                     = 0x40000
	RPCNoCompression, RPCNoXorMagic = 0x00000001, 0x00000002 // pulFlags
)

// errNDR is a stub that does not decode as the operation's NDR.
var errNDR = errors.New("mapi: malformed NDR stub")

// ndrU32 is an aligned unsigned long.
func (c *Codec) ndrU32(v *uint32) {
	c.Align(4)
	c.U32(v)
}

// ndrString is a [string] unsigned char*: a conformant varying string
// (C706 14.3.4.2) of 8-bit characters with its null.
func (c *Codec) ndrString(v *string) {
	size := uint32(len(*v) + 1)
	n, zero := size, uint32(0)
	c.ndrU32(&size) // maximum count
	c.ndrU32(&zero) // offset
	k := c.Count(&n, 1)
	if c.enc {
		c.b = append(append(c.b, *v...), 0)
		return
	}
	if c.err != nil || zero != 0 || k == 0 || n > size {
		c.Fail(fmt.Errorf("%w: bad string", errNDR))
		return
	}
	b := make([]byte, k)
	c.Fixed(b)
	if c.err == nil && b[k-1] != 0 {
		c.Fail(fmt.Errorf("%w: string without its null", errNDR))
		return
	}
	*v = string(b[:k-1])
}

// ndrUniqueString is a unique pointer to a [string] unsigned char*: a
// null pointer is the empty string (a decoder reads both as "").
func (c *Codec) ndrUniqueString(v *string, ref uint32, present bool) {
	if c.enc && !present {
		ref = 0
	}
	c.ndrU32(&ref)
	if ref != 0 {
		c.ndrString(v)
	}
}

// ndrConformant is a [size_is(n)] unsigned char[] of at most max bytes:
// a conformant array.
func (c *Codec) ndrConformant(v *[]byte, max int) {
	n := uint32(len(*v))
	c.Align(4)
	k := c.Count(&n, 1)
	if k > max {
		c.Fail(fmt.Errorf("%w: array of %d bytes over its range %d", errNDR, k, max))
		return
	}
	c.raw(v, k)
}

// ndrVarying is a [length_is, size_is] unsigned char[] of at most max
// bytes: a conformant varying array.
func (c *Codec) ndrVarying(v *[]byte, max int) {
	n, zero := uint32(len(*v)), uint32(0)
	size := n
	c.ndrU32(&size)
	c.ndrU32(&zero)
	k := c.Count(&n, 1)
	if !c.enc && (zero != 0 || n > size || k > max) {
		c.Fail(fmt.Errorf("%w: varying array of %d bytes (size %d, offset %d)", errNDR, n, size, zero))
		return
	}
	c.raw(v, k)
}

// ndrSized is an array and the unsigned long after it that gives its
// length (cbIn, cbAuxIn, *pcbOut, *pcbAuxOut): a conformant array, or a
// conformant varying one as [out] buffers are. A decoder checks that the
// two agree.
func (c *Codec) ndrSized(v *[]byte, max int, varying bool) {
	if varying {
		c.ndrVarying(v, max)
	} else {
		c.ndrConformant(v, max)
	}
	n := uint32(len(*v))
	c.ndrU32(&n)
	if !c.enc && c.err == nil && int(n) != len(*v) {
		c.Fail(fmt.Errorf("%w: length %d for an array of %d bytes", errNDR, n, len(*v)))
	}
}

// RPCConnectRequest is EcDoConnectEx's [in] stub (MS-OXCRPC 3.1.4.1).
type RPCConnectRequest struct {
	UserDN                                                     string
	Flags, ConMod, Limit, CodePage, LcidString, LcidSort, Icxr uint32
	CanConvertCodePages                                        uint16
	ClientVersion                                              [3]uint16
	TimeStamp                                                  uint32
	AuxIn                                                      []byte
	MaxAuxOut                                                  uint32 // pcbAuxOut
}

func (r *RPCConnectRequest) Codec(c *Codec) {
	c.ndrString(&r.UserDN)
	for _, v := range []*uint32{&r.Flags, &r.ConMod, &r.Limit, &r.CodePage, &r.LcidString, &r.LcidSort, &r.Icxr} {
		c.ndrU32(v)
	}
	c.U16(&r.CanConvertCodePages)
	for i := range r.ClientVersion {
		c.U16(&r.ClientVersion[i])
	}
	c.ndrU32(&r.TimeStamp)
	c.ndrSized(&r.AuxIn, MaxAuxOut, false)
	c.ndrU32(&r.MaxAuxOut)
}

// RPCConnectResponse is EcDoConnectEx's [out] stub. Without success the
// server sends null DNPrefix and DisplayName.
type RPCConnectResponse struct {
	Handle                      [20]byte // the CXH context handle
	PollsMax, Retry, RetryDelay uint32   // milliseconds, count, milliseconds
	Icxr                        uint16
	DNPrefix, DisplayName       string
	ServerVersion, BestVersion  [3]uint16
	TimeStamp                   uint32
	AuxOut                      []byte
	Code                        ErrorCode
}

func (r *RPCConnectResponse) Codec(c *Codec) {
	c.Fixed(r.Handle[:])
	for _, v := range []*uint32{&r.PollsMax, &r.Retry, &r.RetryDelay} {
		c.ndrU32(v)
	}
	c.U16(&r.Icxr)
	ok := r.Code == Success
	c.ndrUniqueString(&r.DNPrefix, 0x00020000, ok)
	c.ndrUniqueString(&r.DisplayName, 0x00020004, ok)
	for _, w := range []*[3]uint16{&r.ServerVersion, &r.BestVersion} {
		for i := range w {
			c.U16(&w[i])
		}
	}
	c.ndrU32(&r.TimeStamp)
	c.ndrSized(&r.AuxOut, MaxAuxOut, true)
	code := uint32(r.Code)
	c.ndrU32(&code)
	r.Code = ErrorCode(code)
}

// RPCExt2Request is EcDoRpcExt2's [in] stub (MS-OXCRPC 3.1.4.2): In is
// the RPC_HEADER_EXT chain of a ROP request buffer.
type RPCExt2Request struct {
	Handle    [20]byte
	Flags     uint32
	In        []byte
	MaxOut    uint32 // pcbOut
	AuxIn     []byte
	MaxAuxOut uint32 // pcbAuxOut
}

func (r *RPCExt2Request) Codec(c *Codec) {
	c.Fixed(r.Handle[:])
	c.ndrU32(&r.Flags)
	c.ndrSized(&r.In, MaxRPCInput, false)
	c.ndrU32(&r.MaxOut)
	c.ndrSized(&r.AuxIn, MaxAuxOut, false)
	c.ndrU32(&r.MaxAuxOut)
}

// RPCExt2Response is EcDoRpcExt2's [out] stub: Out is the RPC_HEADER_EXT
// chain of the ROP responses.
type RPCExt2Response struct {
	Handle    [20]byte
	Flags     uint32
	Out       []byte
	AuxOut    []byte
	TransTime uint32
	Code      ErrorCode
}

func (r *RPCExt2Response) Codec(c *Codec) {
	c.Fixed(r.Handle[:])
	c.ndrU32(&r.Flags)
	c.ndrSized(&r.Out, MaxRgbOut, true)
	c.ndrSized(&r.AuxOut, MaxAuxOut, true)
	c.ndrU32(&r.TransTime)
	code := uint32(r.Code)
	c.ndrU32(&code)
	r.Code = ErrorCode(code)
}

// RPCDisconnect is EcDoDisconnect's stub both ways (MS-OXCRPC 3.1.4.3):
// the [in, out] CXH, and the return value in the answer (the server
// zeroes the handle).
type RPCDisconnect struct {
	Handle [20]byte
	Answer bool // the [out] stub: the handle and the return value
	Code   ErrorCode
}

func (r *RPCDisconnect) Codec(c *Codec) {
	c.Fixed(r.Handle[:])
	if r.Answer {
		code := uint32(r.Code)
		c.ndrU32(&code)
		r.Code = ErrorCode(code)
	}
}
