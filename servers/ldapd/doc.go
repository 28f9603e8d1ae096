// Package ldapd is the Edge Transport server's AD LDS instance: a small LDAP
// v3 directory server (RFC 4511) that Mailbox servers push EdgeSync data to
// over secure LDAP on TCP 50636, and that the Edge reads locally on 50389
// (EXCHANGE.md sections 1 and 7).
//
// What it serves: simple bind (RFC 4513 section 5.1), search with base, one
// and subtree scope, the usual filters, attribute selection, size limits and
// the simple paged results control (RFC 2696), add, modify, delete, unbind
// and an AD-LDS-like RootDSE. Anonymous bind succeeds, as on AD, but every
// operation other than reading the RootDSE is then refused with AD's
// "000004DC" text. Errors carry Active Directory's diagnostic texts
// (errors.go).
//
// The tree it serves is a Directory (directory.go); Tree is the in-memory
// implementation. OpenTree persists it as JSON: a snapshot written
// atomically plus a journal with one fsynced line per change batch, folded
// into the snapshot as it grows (persist.go), so a batch is on disk before
// the client hears of it and a write does not rewrite the whole tree. A
// damaged file is moved aside and reported, never fatal.
// Authentication and authorization are the caller's: an Authenticator checks
// binds (DirectoryAuthenticator checks userPassword and accountExpires
// entries as AD LDS does) and an Authorizer (ACL) says who may read and write
// which subtree.
//
// # Why a front end in front of gldap
//
// The protocol is decoded and answered by github.com/jimlambrt/gldap. Its
// v0.1.14 API has no way to serve a listener it did not open itself
// (Server.Run(addr) calls net.Listen), and its request and connection types
// cannot be built outside its own accept loop. It also has no idle timeout
// (its read timeout is one deadline for the whole connection), no message
// size limit other than the package-global asn1-ber one, runs the requests
// of a connection concurrently, and its Stop waits forever for idle clients.
//
// So Serve keeps the "caller hands the listener" shape with a thin front end
// (front.go): it accepts on the caller's listener (TLS for 50636, plain
// loopback for 50389), frames each LDAP message itself (size limit, idle
// timeout, protocolError notices, one request in flight per connection) and
// relays it over a private loopback connection to a gldap server the package
// runs on 127.0.0.1 with an ephemeral port. The first message on every
// private connection is a bind carrying a per-process random secret, which
// ties the gldap connection to the front connection's session (remote
// address, listener, bind state); a connection to the private port that does
// not come from the front end has no session and is refused everything.
package ldapd
