// Package dcerpc is the server side of connection-oriented DCE/RPC
// (C706 chapter 12, with Microsoft's extensions of MS-RPCE): PDU framing,
// bind and alter context with NDR 2.0, NTLM authentication (RPC_C_AUTHN_WINNT)
// at connect, packet integrity and packet privacy level through bind and
// AUTH3, request reassembly, response fragmentation and faults.
//
// A Conn is one association: feed it the client's PDUs in order and send
// back what it returns. It knows nothing of the transport, so RPC over HTTP
// (servers/httpd/rpch) and a plain TCP endpoint can share it. The
// interfaces a Conn serves are given as Interface values whose Call gets
// the NDR stub of a request and returns the stub of the response.
// ParseRTS and BuildRTS are the RTS PDUs of RPC over HTTP v2 (MS-RPCH),
// shared by its server (servers/httpd/rpch) and its client
// (internal/rpchclient).
package dcerpc
