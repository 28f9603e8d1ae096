// Package ldapd is the Edge Transport server's AD LDS instance: a small LDAP
// v3 server (RFC 4511) that Mailbox servers push EdgeSync data to over
// secure LDAP on TCP 50636, and that the Edge reads locally on 50389
// (EXCHANGE.md sections 1 and 7).
//
// What it serves: simple bind (RFC 4513 section 5.1), search with base, one
// and subtree scope, the usual filters, attribute selection, size limits and
// the simple paged results control (RFC 2696), add, modify, delete, abandon,
// unbind and an AD-LDS-like RootDSE. SASL binds are refused with
// authMethodNotSupported, compare and modify DN with unwillingToPerform,
// extended operations with protocolError, as unknown OIDs are. Anonymous
// bind succeeds, as on AD, but every operation other than reading the
// RootDSE is then refused with AD's "000004DC" text. Errors carry Active
// Directory's diagnostic texts (errors.go, and store/directory for the
// directory's own refusals).
//
// The server serves any net.Listener it is handed (Serve): a TLS listener
// for 50636, a plain loopback one for 50389, 127.0.0.1:0 in tests. It frames
// each LDAPMessage itself (frame.go: definite lengths only, at most
// Options.MaxMessageBytes, nesting bounded before decoding), decodes it with
// github.com/go-asn1-ber/asn1-ber and dispatches on its protocolOp (conn.go)
// to one file per operation (bind.go, search.go, write.go). Each connection
// has one goroutine that answers one request at a time, in order; a request
// that cannot be framed or decoded ends the connection with a Notice of
// Disconnection (protocolError), as AD does.
//
// What it serves is a Backend (backend.go), the narrow view the server needs
// of the directory; *directory.Tree from store/directory is the one exsim
// uses. Authentication and authorization are the caller's too: an
// Authenticator checks binds (directory.DirectoryAuthenticator checks
// userPassword and accountExpires entries as AD LDS does) and an Authorizer
// (directory.ACL) says who may read and write which subtree.
package ldapd
