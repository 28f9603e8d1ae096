package directory

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// GeneralizedTimeLayout is how AD writes whenCreated and whenChanged
// (RFC 4517 section 3.3.13).
const GeneralizedTimeLayout = "20060102150405.0Z"

// Tree is an in-memory Directory. With a path (OpenTree) every Apply batch is
// on disk before Apply returns (persist.go); NewTree keeps everything in
// memory.
type Tree struct {
	path string

	mu      sync.RWMutex
	nodes   map[string]*node // by canonical DN
	roots   []*node          // naming contexts without a parent, sorted
	usn     int64            // update sequence number of the last change
	pending []journalRecord  // applied batches not yet on disk, in order

	disk diskState // guarded by its own mutex
}

type node struct {
	name     name
	entry    *Entry // replaced on change, never modified once stored
	parent   *node
	children []*node // sorted by first RDN
	nc       bool    // root of a naming context
}

var _ Directory = (*Tree)(nil)

// NewTree returns an empty directory that lives in memory only.
func NewTree() *Tree {
	return &Tree{nodes: make(map[string]*node)}
}

// Get returns a copy of the entry named dn.
func (t *Tree) Get(dn string) (*Entry, error) {
	n, err := parseName(dn)
	if err != nil {
		return nil, errInvalidDN(dn)
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	nd, ok := t.nodes[n.key()]
	if !ok {
		return nil, NoSuchObject(t.matchedLocked(n))
	}
	return nd.entry.Clone(), nil
}

// Search implements Directory. An empty base stands for the root: its one
// level is the naming contexts and its subtree is everything.
func (t *Tree) Search(base string, scope Scope, fn func(*Entry) bool) error {
	n, err := parseName(base)
	if err != nil {
		return errInvalidDN(base)
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	if n.isRoot() {
		if scope == ScopeBaseObject {
			return nil
		}
		for _, r := range t.roots {
			if !walk(r, scope == ScopeWholeSubtree, fn) {
				return nil
			}
		}
		return nil
	}
	nd, ok := t.nodes[n.key()]
	if !ok {
		return NoSuchObject(t.matchedLocked(n))
	}
	switch scope {
	case ScopeBaseObject:
		fn(nd.entry)
	case ScopeSingleLevel:
		for _, c := range nd.children {
			if !fn(c.entry) {
				return nil
			}
		}
	default:
		walk(nd, true, fn)
	}
	return nil
}

// walk visits nd and, when deep, its descendants in pre-order; false when fn
// asked to stop.
func walk(nd *node, deep bool, fn func(*Entry) bool) bool {
	if !fn(nd.entry) {
		return false
	}
	if !deep {
		return true
	}
	for _, c := range nd.children {
		if !walk(c, true, fn) {
			return false
		}
	}
	return true
}

// NamingContexts returns the DNs of the naming contexts, sorted.
func (t *Tree) NamingContexts() []string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	var out []string
	for _, nd := range t.nodes {
		if nd.nc {
			out = append(out, nd.entry.DN)
		}
	}
	slices.SortFunc(out, func(a, b string) int { return cmp.Compare(strings.ToLower(a), strings.ToLower(b)) })
	return out
}

// USN returns the update sequence number of the last change (AD's
// highestCommittedUSN).
func (t *Tree) USN() int64 {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.usn
}

// Len returns the number of entries.
func (t *Tree) Len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.nodes)
}

// matchedLocked returns the DN of the deepest existing ancestor of n.
func (t *Tree) matchedLocked(n name) string {
	for i := 1; i < len(n.rdns); i++ {
		if nd, ok := t.nodes[strings.Join(n.rdns[i:], ",")]; ok {
			return nd.entry.DN
		}
	}
	return ""
}

// Apply implements Directory.
func (t *Tree) Apply(changes ...Change) error {
	if len(changes) == 0 {
		return nil
	}
	now := time.Now().UTC()
	t.mu.Lock()
	var undo []func()
	for i, c := range changes {
		u, err := t.applyLocked(c, now, t.usn+int64(i)+1)
		if err != nil {
			for j := len(undo) - 1; j >= 0; j-- {
				undo[j]()
			}
			t.mu.Unlock()
			return err
		}
		undo = append(undo, u)
	}
	t.usn += int64(len(changes))
	usn := t.usn
	if t.path != "" {
		t.pending = append(t.pending, journalRecord{USN: usn, ops: journalOps(changes, t.nodes)})
	}
	t.mu.Unlock()
	return t.persist(usn)
}

func (t *Tree) applyLocked(c Change, now time.Time, usn int64) (undo func(), err error) {
	switch c.Kind {
	case ChangeAdd:
		if c.Entry == nil {
			return nil, DecodingError()
		}
		return t.addLocked(c.Entry, c.NamingContext, now, usn)
	case ChangeModify:
		return t.modifyLocked(c.DN, c.Mods, now, usn)
	case ChangeDelete:
		return t.deleteLocked(c.DN)
	}
	return nil, DecodingError()
}

func (t *Tree) addLocked(in *Entry, namingContext bool, now time.Time, usn int64) (func(), error) {
	n, err := parseName(in.DN)
	if err != nil || n.isRoot() {
		return nil, errInvalidDN(in.DN)
	}
	if _, ok := t.nodes[n.key()]; ok {
		return nil, errEntryExists()
	}
	parent, ok := t.nodes[n.parent().key()]
	if !ok && !namingContext {
		return nil, NoSuchObject(t.matchedLocked(n))
	}
	e := &Entry{DN: strings.TrimSpace(in.DN)}
	for _, a := range in.Attributes {
		if IsSystemAttribute(a.Name) {
			continue
		}
		if len(a.Values) == 0 {
			return nil, DecodingError()
		}
		if e.index(a.Name) >= 0 || hasDuplicate(a.Values) {
			return nil, errAttributeExists(a.Name)
		}
		e.Attributes = append(e.Attributes, Attribute{Name: a.Name, Values: slices.Clone(a.Values)})
	}
	if len(e.Get("objectClass")) == 0 {
		return nil, errObjectClass()
	}
	// AD fills in the naming attribute from the RDN, under its schema name
	// (cn, ou, dc: lower case).
	for _, a := range n.first {
		if cur := e.Get(a.Type); !containsFold(cur, a.Value) {
			attr := strings.ToLower(a.Type)
			if i := e.index(a.Type); i >= 0 {
				attr = e.Attributes[i].Name
			}
			e.Set(attr, append(slices.Clone(cur), a.Value)...)
		}
	}
	ts := now.Format(GeneralizedTimeLayout)
	u := strconv.FormatInt(usn, 10)
	e.Set("distinguishedName", e.DN)
	e.Set("whenCreated", ts)
	e.Set("whenChanged", ts)
	e.Set("uSNCreated", u)
	e.Set("uSNChanged", u)

	nd := &node{name: n, entry: e, nc: namingContext}
	t.linkLocked(nd, parent)
	return func() { t.unlinkLocked(nd) }, nil
}

func (t *Tree) linkLocked(nd, parent *node) {
	t.nodes[nd.name.key()] = nd
	if parent == nil {
		t.roots = insertSorted(t.roots, nd)
		return
	}
	nd.parent = parent
	parent.children = insertSorted(parent.children, nd)
}

func (t *Tree) unlinkLocked(nd *node) {
	delete(t.nodes, nd.name.key())
	if nd.parent == nil {
		t.roots = removeSorted(t.roots, nd)
		return
	}
	nd.parent.children = removeSorted(nd.parent.children, nd)
}

func compareNodes(a, b *node) int { return cmp.Compare(a.name.key(), b.name.key()) }

func insertSorted(s []*node, nd *node) []*node {
	i, _ := slices.BinarySearchFunc(s, nd, compareNodes)
	return slices.Insert(s, i, nd)
}

func removeSorted(s []*node, nd *node) []*node {
	if i, ok := slices.BinarySearchFunc(s, nd, compareNodes); ok {
		return slices.Delete(s, i, i+1)
	}
	return s
}

// entryLocked is the node of the existing entry dn, which a change
// modifies or deletes: invalidDNSyntax for a name that does not parse or is
// the root, noSuchObject (with the matched DN) for one that is not there.
func (t *Tree) entryLocked(dn string) (*node, error) {
	n, err := parseName(dn)
	if err != nil || n.isRoot() {
		return nil, errInvalidDN(dn)
	}
	nd, ok := t.nodes[n.key()]
	if !ok {
		return nil, NoSuchObject(t.matchedLocked(n))
	}
	return nd, nil
}

func (t *Tree) modifyLocked(dn string, mods []Modification, now time.Time, usn int64) (func(), error) {
	nd, err := t.entryLocked(dn)
	if err != nil {
		return nil, err
	}
	e := nd.entry.Clone()
	for _, m := range mods {
		if IsSystemAttribute(m.Attr) {
			return nil, UnwillingToPerform()
		}
		if err := applyMod(e, m); err != nil {
			return nil, err
		}
	}
	for _, a := range nd.name.first {
		if !containsFold(e.Get(a.Type), a.Value) {
			return nil, errOnRDN()
		}
	}
	if len(e.Get("objectClass")) == 0 {
		return nil, errObjectClass()
	}
	e.Set("whenChanged", now.Format(GeneralizedTimeLayout))
	e.Set("uSNChanged", strconv.FormatInt(usn, 10))
	old := nd.entry
	nd.entry = e
	return func() { nd.entry = old }, nil
}

// applyMod applies one modification (RFC 4511 section 4.6) to e.
func applyMod(e *Entry, m Modification) error {
	cur := e.Get(m.Attr)
	switch m.Op {
	case ModAdd:
		if len(m.Values) == 0 || hasDuplicate(m.Values) {
			return errAttributeExists(m.Attr)
		}
		next := slices.Clone(cur)
		for _, v := range m.Values {
			if containsFold(cur, v) {
				return errAttributeExists(m.Attr)
			}
			next = append(next, v)
		}
		e.Set(m.Attr, next...)
	case ModDelete:
		if len(cur) == 0 {
			return NoSuchAttribute(m.Attr)
		}
		if len(m.Values) == 0 {
			e.Set(m.Attr)
			return nil
		}
		next := slices.Clone(cur)
		for _, v := range m.Values {
			i := slices.IndexFunc(next, func(x string) bool { return strings.EqualFold(x, v) })
			if i < 0 {
				return NoSuchAttribute(m.Attr)
			}
			next = slices.Delete(next, i, i+1)
		}
		e.Set(m.Attr, next...)
	case ModReplace:
		if hasDuplicate(m.Values) {
			return errAttributeExists(m.Attr)
		}
		e.Set(m.Attr, m.Values...)
	default:
		return DecodingError()
	}
	return nil
}

func (t *Tree) deleteLocked(dn string) (func(), error) {
	nd, err := t.entryLocked(dn)
	if err != nil {
		return nil, err
	}
	if len(nd.children) > 0 {
		return nil, errNonLeaf()
	}
	t.unlinkLocked(nd)
	return func() { t.linkLocked(nd, nd.parent) }, nil
}

func containsFold(values []string, v string) bool {
	return slices.ContainsFunc(values, func(x string) bool { return strings.EqualFold(x, v) })
}

func hasDuplicate(values []string) bool {
	seen := make(map[string]struct{}, len(values))
	for _, v := range values {
		k := strings.ToLower(v)
		if _, ok := seen[k]; ok {
			return true
		}
		seen[k] = struct{}{}
	}
	return false
}
