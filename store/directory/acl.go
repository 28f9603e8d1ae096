package directory

import (
	"fmt"
)

// Rights are what an account may do on an entry.
type Rights uint8

const (
	// RightRead lets an account see an entry (search, compare).
	RightRead Rights = 1 << iota
	// RightWrite lets an account add, modify and delete an entry.
	RightWrite
)

// Grant gives Rights on the subtree Base ("" for every naming context) to a
// principal: an account DN, or a group DN whose member attribute lists
// accounts, as AD LDS roles (CN=Administrators,CN=Roles,...) do.
type Grant struct {
	Principal string
	Base      string
	Rights    Rights
}

// ACL says what a bound account may do, from a list of grants. A group's membership is read from the
// directory on every check, so adding an account to a role takes effect at
// once.
type ACL struct {
	dir    Directory
	grants []grant
}

type grant struct {
	principal     string // canonical
	principalName string // as written, to read the group entry
	base          name
	rights        Rights
}

// NewACL returns the ACL made of grants; dir resolves group membership.
func NewACL(dir Directory, grants ...Grant) (*ACL, error) {
	a := &ACL{dir: dir}
	for _, g := range grants {
		p, err := NormalizeDN(g.Principal)
		if err != nil || p == "" {
			return nil, fmt.Errorf("directory: acl principal %q: bad DN", g.Principal)
		}
		b, err := parseName(g.Base)
		if err != nil {
			return nil, fmt.Errorf("directory: acl base %q: bad DN", g.Base)
		}
		a.grants = append(a.grants, grant{principal: p, principalName: g.Principal, base: b, rights: g.Rights})
	}
	return a, nil
}

// Allowed reports whether account holds every right in want on dn. account
// is the DN a connection bound as; dn is the entry read or written (for an
// add, the new entry).
func (a *ACL) Allowed(account, dn string, want Rights) bool {
	acct, err := NormalizeDN(account)
	if err != nil || acct == "" {
		return false
	}
	target, err := parseName(dn)
	if err != nil {
		return false
	}
	var have Rights
	for _, g := range a.grants {
		if have&want == want {
			break
		}
		if g.rights&want == 0 || !target.under(g.base) {
			continue
		}
		if g.principal == acct || a.isMember(g.principalName, acct) {
			have |= g.rights
		}
	}
	return have&want == want
}

// isMember reports whether the group entry lists acct in its member
// attribute.
func (a *ACL) isMember(group, acct string) bool {
	found := false
	_ = a.dir.Search(group, ScopeBaseObject, func(e *Entry) bool {
		for _, m := range e.Get("member") {
			if k, err := NormalizeDN(m); err == nil && k == acct {
				found = true
				return false
			}
		}
		return false
	})
	return found
}
