package directory

import (
	"slices"
	"strings"
)

// Scope is a search scope (RFC 4511 section 4.5.1.2).
type Scope int

const (
	ScopeBaseObject   Scope = 0
	ScopeSingleLevel  Scope = 1
	ScopeWholeSubtree Scope = 2
)

// Attribute is one attribute of an entry. Names compare case-insensitively.
type Attribute struct {
	Name   string   `json:"name"`
	Values []string `json:"values"`
}

// Entry is a directory entry: its DN as written when it was added and its
// attributes in order.
type Entry struct {
	DN         string      `json:"dn"`
	Attributes []Attribute `json:"attributes"`
}

// Get returns the values of attribute attr (nil when absent).
func (e *Entry) Get(attr string) []string {
	if i := e.index(attr); i >= 0 {
		return e.Attributes[i].Values
	}
	return nil
}

// First returns the first value of attr, or "".
func (e *Entry) First(attr string) string {
	if v := e.Get(attr); len(v) > 0 {
		return v[0]
	}
	return ""
}

// Set replaces the values of attr; no values removes it.
func (e *Entry) Set(attr string, values ...string) {
	i := e.index(attr)
	switch {
	case len(values) == 0 && i >= 0:
		e.Attributes = slices.Delete(e.Attributes, i, i+1)
	case len(values) == 0:
	case i >= 0:
		e.Attributes[i].Values = slices.Clone(values)
	default:
		e.Attributes = append(e.Attributes, Attribute{Name: attr, Values: slices.Clone(values)})
	}
}

// Clone returns a deep copy of e.
func (e *Entry) Clone() *Entry {
	c := &Entry{DN: e.DN, Attributes: make([]Attribute, len(e.Attributes))}
	for i, a := range e.Attributes {
		c.Attributes[i] = Attribute{Name: a.Name, Values: slices.Clone(a.Values)}
	}
	return c
}

func (e *Entry) index(attr string) int {
	for i, a := range e.Attributes {
		if strings.EqualFold(a.Name, attr) {
			return i
		}
	}
	return -1
}

// ModOp is a modify operation (RFC 4511 section 4.6).
type ModOp int

const (
	ModAdd     ModOp = 0
	ModDelete  ModOp = 1
	ModReplace ModOp = 2
)

// Modification changes one attribute. ModDelete without values removes the
// attribute; ModReplace without values removes it if present.
type Modification struct {
	Op     ModOp
	Attr   string
	Values []string
}

// ChangeKind says what a Change does.
type ChangeKind int

const (
	ChangeAdd ChangeKind = iota
	ChangeModify
	ChangeDelete
)

// Change is one write: add Entry, modify DN with Mods, or delete DN.
type Change struct {
	Kind  ChangeKind
	DN    string // ChangeModify, ChangeDelete
	Entry *Entry // ChangeAdd
	Mods  []Modification
	// NamingContext adds Entry as the root of a naming context, which has
	// no parent entry (CN=Configuration,CN={GUID}, OU=MSExchangeGateway).
	// Only the directory's owner does this, never an LDAP client.
	NamingContext bool
}

// Directory is what the ACL, the DirectoryAuthenticator and EdgeSync read
// and write; Tree is the implementation. Names compare case-insensitively.
// Refusals are *Error values, which an LDAP server hands its client as they
// are.
type Directory interface {
	// Get returns a copy of the entry named dn.
	Get(dn string) (*Entry, error)
	// Search calls fn with each entry in scope under base, parents before
	// children and siblings in a stable order, until fn returns false. The
	// entries are shared and immutable: fn may keep them but must not
	// modify them, and must not call the directory (Tree holds its read
	// lock while it calls fn).
	Search(base string, scope Scope, fn func(*Entry) bool) error
	// Apply makes every change or none, then persists them as one batch.
	Apply(changes ...Change) error
}

// The directory's bookkeeping attributes, set by the directory and refused
// from clients (AD's whenCreated, whenChanged, uSNCreated, uSNChanged and
// distinguishedName behave this way).
var systemAttributes = []string{"distinguishedName", "whenCreated", "whenChanged", "uSNCreated", "uSNChanged"}

// IsSystemAttribute reports whether attr is maintained by the directory
// itself (clients cannot write it).
func IsSystemAttribute(attr string) bool {
	for _, s := range systemAttributes {
		if strings.EqualFold(s, attr) {
			return true
		}
	}
	return false
}
