package mapi

import "encoding/binary"

// Request types of the X-RequestType header (MS-OXCMAPIHTTP 2.2.3.3.1).
const (
	ReqConnect          = "Connect"
	ReqExecute          = "Execute"
	ReqDisconnect       = "Disconnect"
	ReqNotificationWait = "NotificationWait"
	ReqPing             = "PING"
	ReqBind             = "Bind"
	ReqUnbind           = "Unbind"
	ReqGetProps         = "GetProps"
	ReqQueryRows        = "QueryRows"
	ReqResolveNames     = "ResolveNames"
	ReqDNToMId          = "DNToMId"
	ReqGetSpecialTable  = "GetSpecialTable"
)

// ResponseCode is the X-ResponseCode header (MS-OXCMAPIHTTP 2.2.3.3.3).
type ResponseCode int

const (
	RespSuccess              ResponseCode = 0
	RespUnknownFailure       ResponseCode = 1
	RespInvalidVerb          ResponseCode = 2
	RespInvalidPath          ResponseCode = 3
	RespInvalidHeader        ResponseCode = 4
	RespInvalidRequestType   ResponseCode = 5
	RespInvalidContextCookie ResponseCode = 6
	RespMissingHeader        ResponseCode = 7
	RespAnonymousNotAllowed  ResponseCode = 8
	RespTooLarge             ResponseCode = 9
	RespContextNotFound      ResponseCode = 10
	RespNoPrivilege          ResponseCode = 11
	RespInvalidRequestBody   ResponseCode = 12
	RespMissingCookie        ResponseCode = 13
	RespInvalidSequence      ResponseCode = 15
	RespEndpointDisabled     ResponseCode = 16
	RespInvalidResponse      ResponseCode = 17
	RespEndpointShuttingDown ResponseCode = 18
)

var responseNames = map[ResponseCode]string{
	RespSuccess: "Success", RespUnknownFailure: "Unknown Failure", RespInvalidVerb: "Invalid Verb",
	RespInvalidPath: "Invalid Path", RespInvalidHeader: "Invalid Header", RespInvalidRequestType: "Invalid Request Type",
	RespInvalidContextCookie: "Invalid Context Cookie", RespMissingHeader: "Missing Header",
	RespAnonymousNotAllowed: "Anonymous Not Allowed", RespTooLarge: "Too Large", RespContextNotFound: "Context Not Found",
	RespNoPrivilege: "No Privilege", RespInvalidRequestBody: "Invalid Request Body", RespMissingCookie: "Missing Cookie",
	RespInvalidSequence: "Invalid Sequence", RespEndpointDisabled: "Endpoint Disabled",
	RespInvalidResponse: "Invalid Response", RespEndpointShuttingDown: "Endpoint Shutting Down",
}

// String is the code's name in the specification's table.
func (r ResponseCode) String() string {
	if s, ok := responseNames[r]; ok {
		return s
	}
	return "Unknown Failure"
}

// Meta-tags of a response body (MS-OXCMAPIHTTP 2.2.7): the lines before
// the additional headers and the binary body.
const (
	MetaProcessing = "PROCESSING"
	MetaPending    = "PENDING"
	MetaDone       = "DONE"
)

// ContentType is the media type of request and response bodies.
const ContentType = "application/mapi-http"

// status runs StatusCode and ErrorCode, the two fields every response
// starts with; StatusCode is always 0 on the wire (MS-OXCMAPIHTTP
// 2.2.4.1.2). After a non-zero ErrorCode a server may send the whole
// structure (exsim does; warnings such as ErrorsReturned need it) or
// leave all but the auxiliary buffer out: a decoder that finds only an
// auxiliary buffer left reports false, and the caller reads just that.
func (c *Codec) status(code *ErrorCode) bool {
	var sc uint32
	c.U32(&sc)
	u := uint32(*code)
	c.U32(&u)
	*code = ErrorCode(u)
	if c.err == nil && !c.enc && *code != Success && c.restIsAux() {
		return false
	}
	return c.err == nil
}

// restIsAux says whether what a decoder has left is exactly one
// AuxiliaryBufferSize and its bytes.
func (c *Codec) restIsAux() bool {
	rest := c.b[c.off:]
	return len(rest) >= 4 && int(binary.LittleEndian.Uint32(rest)) == len(rest)-4
}

// ConnectRequest is the Connect request body (MS-OXCMAPIHTTP 2.2.4.1.1).
type ConnectRequest struct {
	UserDN                                       string
	Flags, DefaultCodePage, LcidSort, LcidString uint32
	Aux                                          []byte
}

func (r *ConnectRequest) Codec(c *Codec) {
	c.ASCIIZ(&r.UserDN)
	c.U32(&r.Flags)
	c.U32(&r.DefaultCodePage)
	c.U32(&r.LcidSort)
	c.U32(&r.LcidString)
	c.Blob32(&r.Aux)
}

// ConnectResponse is the Connect response body (2.2.4.1.2). Times are
// in milliseconds.
type ConnectResponse struct {
	ErrorCode                                     ErrorCode
	MaxPollingInterval, MaxRetryCount, RetryDelay uint32
	DNPrefix, DisplayName                         string
	Aux                                           []byte
}

func (r *ConnectResponse) Codec(c *Codec) {
	if c.status(&r.ErrorCode) {
		c.U32(&r.MaxPollingInterval)
		c.U32(&r.MaxRetryCount)
		c.U32(&r.RetryDelay)
		c.ASCIIZ(&r.DNPrefix)
		c.UTF16Z(&r.DisplayName)
	}
	c.Blob32(&r.Aux)
}

// ExecuteRequest is the Execute request body (2.2.4.2.1): RopBuffer is a
// chain of RPC_HEADER_EXT with their payloads.
type ExecuteRequest struct {
	Flags     uint32
	RopBuffer []byte
	MaxRopOut uint32
	Aux       []byte
}

func (r *ExecuteRequest) Codec(c *Codec) {
	c.U32(&r.Flags)
	c.Blob32(&r.RopBuffer)
	c.U32(&r.MaxRopOut)
	c.Blob32(&r.Aux)
}

// ExecuteResponse is the Execute response body (2.2.4.2.2).
type ExecuteResponse struct {
	ErrorCode ErrorCode
	Flags     uint32
	RopBuffer []byte
	Aux       []byte
}

func (r *ExecuteResponse) Codec(c *Codec) {
	if c.status(&r.ErrorCode) {
		c.U32(&r.Flags)
		c.Blob32(&r.RopBuffer)
	}
	c.Blob32(&r.Aux)
}

// AuxRequest is a request body that holds only the auxiliary buffer
// (Disconnect, 2.2.4.3.1).
type AuxRequest struct{ Aux []byte }

func (r *AuxRequest) Codec(c *Codec) { c.Blob32(&r.Aux) }

// StatusResponse is a response body of status, error code and auxiliary
// buffer (Disconnect 2.2.4.3.2, Unbind 2.2.5.2.2).
type StatusResponse struct {
	ErrorCode ErrorCode
	Aux       []byte
}

func (r *StatusResponse) Codec(c *Codec) {
	c.status(&r.ErrorCode)
	c.Blob32(&r.Aux)
}

// NotificationWaitRequest is its request body (2.2.4.4.1).
type NotificationWaitRequest struct {
	Flags uint32
	Aux   []byte
}

func (r *NotificationWaitRequest) Codec(c *Codec) {
	c.U32(&r.Flags)
	c.Blob32(&r.Aux)
}

// NotificationWaitResponse is its response body (2.2.4.4.2):
// EventPending is 1 when the client has events to fetch with Execute.
type NotificationWaitResponse struct {
	ErrorCode    ErrorCode
	EventPending uint32
	Aux          []byte
}

func (r *NotificationWaitResponse) Codec(c *Codec) {
	if c.status(&r.ErrorCode) {
		c.U32(&r.EventPending)
	}
	c.Blob32(&r.Aux)
}
