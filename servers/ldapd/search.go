package ldapd

import (
	"slices"
	"strconv"
	"strings"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"

	"github.com/exsim/exsim/store/directory"
)

// searchRequest is a decoded SearchRequest (RFC 4511 section 4.5.1).
type searchRequest struct {
	base      string
	scope     directory.Scope
	sizeLimit int64
	typesOnly bool
	filter    *ber.Packet
	attrs     []string
}

func decodeSearch(req *ber.Packet) (*searchRequest, error) {
	if err := application(req, 8, "search"); err != nil {
		return nil, err
	}
	var r searchRequest
	var err error
	if r.base, err = octetString(req.Children[0], "base object"); err != nil {
		return nil, err
	}
	scope, err := integer(req.Children[1], ber.TagEnumerated, "scope")
	if err != nil || scope < int64(directory.ScopeBaseObject) || scope > int64(directory.ScopeWholeSubtree) {
		return nil, malformed("scope")
	}
	r.scope = directory.Scope(scope)
	if _, err := integer(req.Children[2], ber.TagEnumerated, "derefAliases"); err != nil {
		return nil, err
	}
	if r.sizeLimit, err = integer(req.Children[3], ber.TagInteger, "sizeLimit"); err != nil {
		return nil, err
	}
	if _, err := integer(req.Children[4], ber.TagInteger, "timeLimit"); err != nil {
		return nil, err
	}
	to, ok := req.Children[5].Value.(bool)
	if !ok || req.Children[5].Tag != ber.TagBoolean {
		return nil, malformed("typesOnly")
	}
	r.typesOnly = to
	r.filter = req.Children[6]
	attrs := req.Children[7]
	if err := sequence(attrs, ber.TagSequence, 0, "attributes"); err != nil {
		return nil, err
	}
	for _, a := range attrs.Children {
		s, err := octetString(a, "attribute selector")
		if err != nil {
			return nil, err
		}
		r.attrs = append(r.attrs, s)
	}
	return &r, nil
}

// search answers a SearchRequest (RFC 4511 section 4.5).
func (c *conn) search(m *message) bool {
	r, err := decodeSearch(m.request())
	if err != nil {
		return c.refuse("search", err)
	}
	controls, err := m.controls()
	if err != nil {
		return c.refuse("search", err)
	}
	var f filter
	s, ferr := ldap.DecompileFilter(r.filter)
	if ferr == nil {
		f, ferr = compileFilter(s)
	} else {
		ferr = &directory.Error{Code: directory.ResultProtocolError, Diagnostic: textFilter}
	}
	sel := newSelector(r.attrs, r.typesOnly)

	// The RootDSE is readable before any bind (RFC 4512 section 5.1), as on
	// AD, so that clients can discover the naming contexts.
	if strings.TrimSpace(r.base) == "" && r.scope == directory.ScopeBaseObject {
		if ferr != nil {
			return c.reply(m, opSearchDone, ferr)
		}
		if e := c.s.rootDSE(); f.Matches(e) && !c.send(encodeEntry(m.id, e.DN, sel.project(e)), false) {
			return false
		}
		return c.reply(m, opSearchDone, nil)
	}
	if c.account == "" {
		return c.reply(m, opSearchDone, errBindRequired())
	}
	if ferr != nil {
		return c.reply(m, opSearchDone, ferr)
	}

	limit := c.s.opts.MaxEntries
	if r.sizeLimit > 0 && r.sizeLimit < int64(limit) {
		limit = int(r.sizeLimit)
	}
	paging, offset, perr := pagingRequest(controls)
	if perr != nil {
		return c.reply(m, opSearchDone, perr)
	}
	if paging != nil {
		if paging.PagingSize == 0 { // the client abandons the paged search (RFC 2696 section 3)
			return c.send(envelope(m.id, result(opSearchDone, directory.ResultSuccess, "", ""), ldap.NewControlPaging(0).Encode()), true)
		}
		limit = min(int(paging.PagingSize), c.s.opts.MaxEntries)
	}

	// An entry the account may not read does not exist for it, as on AD.
	if !c.s.opts.Authorizer.Allowed(c.account, r.base, directory.RightRead) {
		return c.reply(m, opSearchDone, directory.NoSuchObject(""))
	}
	// Collect the matches first; authorization (which reads group
	// membership from the directory) and the answer come after the tree's
	// read lock is released: a Search callback must not call back into the
	// directory, and a slow client must not hold the lock.
	var matched []*directory.Entry
	err = c.s.dir.Search(r.base, r.scope, func(e *directory.Entry) bool {
		if f.Matches(e) {
			matched = append(matched, e)
		}
		return true
	})
	if err != nil {
		return c.reply(m, opSearchDone, err)
	}
	var hits []*directory.Entry
	more, seen := false, 0
	for _, e := range matched {
		if !c.s.opts.Authorizer.Allowed(c.account, e.DN, directory.RightRead) {
			continue
		}
		seen++
		if seen <= offset {
			continue
		}
		if len(hits) == limit {
			more = true
			break
		}
		hits = append(hits, e)
	}
	for _, e := range hits {
		if !c.send(encodeEntry(m.id, e.DN, sel.project(e)), false) {
			return false
		}
	}
	c.log.Debug("search "+r.base, "code", directory.ResultSuccess)
	switch {
	case paging != nil:
		pc := ldap.NewControlPaging(0)
		if more {
			pc.SetCookie([]byte(strconv.Itoa(offset + len(hits))))
		}
		return c.send(envelope(m.id, result(opSearchDone, directory.ResultSuccess, "", ""), pc.Encode()), true)
	case more:
		return c.reply(m, opSearchDone, &directory.Error{Code: directory.ResultSizeLimitExceeded})
	}
	return c.reply(m, opSearchDone, nil)
}

// pagingRequest finds the simple paged results control (RFC 2696) and the
// offset its cookie carries (the cookie is the number of entries already
// returned).
func pagingRequest(controls []ldap.Control) (*ldap.ControlPaging, int, error) {
	for _, c := range controls {
		p, ok := c.(*ldap.ControlPaging)
		if !ok {
			continue
		}
		if len(p.Cookie) == 0 {
			return p, 0, nil
		}
		off, err := strconv.Atoi(string(p.Cookie))
		if err != nil || off < 0 {
			return nil, 0, directory.DecodingError()
		}
		return p, off, nil
	}
	return nil, 0, nil
}

// selector is the attribute selection of a search (RFC 4511 section
// 4.5.1.8).
type selector struct {
	all       bool
	names     []string
	typesOnly bool
}

func newSelector(attrs []string, typesOnly bool) selector {
	s := selector{typesOnly: typesOnly, all: len(attrs) == 0}
	for _, a := range attrs {
		switch a {
		case "*":
			s.all = true
		case "1.1", "+": // no attributes; no operational attributes beyond the stored ones
		default:
			s.names = append(s.names, a)
		}
	}
	return s
}

// project returns the attributes of e the client asked for. Password
// attributes are never returned.
func (s selector) project(e *directory.Entry) []directory.Attribute {
	var out []directory.Attribute
	for _, a := range e.Attributes {
		if directory.IsPasswordAttribute(a.Name) {
			continue
		}
		if !s.all && !slices.ContainsFunc(s.names, func(n string) bool { return strings.EqualFold(n, a.Name) }) {
			continue
		}
		vals := a.Values
		if s.typesOnly {
			vals = nil
		}
		out = append(out, directory.Attribute{Name: a.Name, Values: vals})
	}
	return out
}
