package ldapd

import (
	"strings"

	"github.com/exsim/exsim/store/directory"
)

// Backend is the directory the server serves: what it reads and writes on
// behalf of its clients. *directory.Tree is one. Names compare
// case-insensitively; an error that is a *directory.Error reaches the client
// as it is, any other error as AD's DIR_ERROR.
//
// A Backend that also has NamingContexts() []string and USN() int64 shows
// them in the RootDSE (namingContexts, highestCommittedUSN).
type Backend interface {
	// Get returns a copy of the entry named dn.
	Get(dn string) (*directory.Entry, error)
	// Search calls fn with each entry in scope under base, parents before
	// children, until fn returns false. fn must not modify the entries nor
	// call the Backend.
	Search(base string, scope directory.Scope, fn func(*directory.Entry) bool) error
	// Apply makes every change or none.
	Apply(changes ...directory.Change) error
}

// Authenticator checks the credentials of a simple bind (RFC 4513 section
// 5.1.3). It returns nil to accept, an error wrapping
// directory.ErrAccountExpired (the client gets AD's "data 701" text), or any
// other error (AD's "data 52e") to refuse. *directory.DirectoryAuthenticator
// is one.
type Authenticator interface {
	Bind(dn, password string) error
}

// Authorizer decides what a bound account may do. account is the DN the
// connection bound as; dn is the entry read or written (for an add, the new
// entry). *directory.ACL is one.
type Authorizer interface {
	Allowed(account, dn string, want directory.Rights) bool
}

var (
	_ Backend       = (*directory.Tree)(nil)
	_ Authenticator = (*directory.DirectoryAuthenticator)(nil)
	_ Authorizer    = (*directory.ACL)(nil)
)

// readOnly is the Authorizer used when Options.Authorizer is nil: every bound
// account may read everything and write nothing.
type readOnly struct{}

func (readOnly) Allowed(account, _ string, want directory.Rights) bool {
	return strings.TrimSpace(account) != "" && want == directory.RightRead
}
