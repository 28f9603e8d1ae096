// Package directory is the Edge Transport server's AD LDS directory model:
// the data that EdgeSync writes (configuration, accepted domains, connectors,
// hashed recipients, accounts and roles) and that the LDAP server in
// servers/ldapd serves.
//
// A Tree holds entries (Entry, Attribute) under case-insensitive
// distinguished names (RFC 4514) and changes them in all-or-nothing batches
// (Change, Modification). OpenTree persists it as JSON: a snapshot written
// atomically plus a journal with one fsynced line per change batch, folded
// into the snapshot as it grows (persist.go), so a batch is on disk before
// its writer hears of it and a write does not rewrite the whole tree. A
// damaged file is moved aside and reported, never fatal.
//
// Accounts and rights are directory data too: DirectoryAuthenticator checks
// a bind against an entry's userPassword (HashPassword) and accountExpires
// (FileTime), as AD LDS checks its own security principals, and an ACL of
// Grants says which account or role may read and write which subtree.
//
// Errors the tree returns are *Error values carrying the LDAP result code
// and Active Directory's diagnostic text, so that a protocol server can hand
// them to its client as they are.
package directory
