package ldapd

import (
	"slices"
	"strconv"
	"strings"

	"github.com/jimlambrt/gldap"
)

func (h *handlers) search(w *gldap.ResponseWriter, r *gldap.Request) {
	m, err := r.GetSearchMessage()
	if err != nil {
		h.result(w, r, nil, opSearchDone, &Error{Code: ResultProtocolError, Diagnostic: textDecoding})
		return
	}
	sess := h.b.session(r.ConnectionID())
	if sess == nil {
		h.result(w, r, nil, opSearchDone, errBindRequired())
		return
	}
	f, ferr := compileFilter(m.Filter)
	sel := newSelector(m.Attributes, m.TypesOnly)

	// The RootDSE is readable before any bind (RFC 4512 section 5.1), as on
	// AD, so that clients can discover the naming contexts.
	if trimmed(m.BaseDN) == "" && m.Scope == gldap.BaseObject {
		if ferr != nil {
			h.result(w, r, sess, opSearchDone, ferr)
			return
		}
		if e := h.rootDSE(); f.Matches(e) {
			h.sendEntry(w, r, sess, e, sel)
		}
		h.result(w, r, sess, opSearchDone, nil)
		return
	}
	acct := sess.bound()
	if acct == "" {
		h.result(w, r, sess, opSearchDone, errBindRequired())
		return
	}
	if ferr != nil {
		h.result(w, r, sess, opSearchDone, ferr)
		return
	}

	limit := h.s.opts.MaxEntries
	if m.SizeLimit > 0 && m.SizeLimit < int64(limit) {
		limit = int(m.SizeLimit)
	}
	paging, offset, perr := pagingRequest(m.Controls)
	if perr != nil {
		h.result(w, r, sess, opSearchDone, perr)
		return
	}
	if paging != nil {
		if paging.PagingSize == 0 { // the client abandons the paged search (RFC 2696 section 3)
			done := r.NewSearchDoneResponse(gldap.WithResponseCode(ResultSuccess))
			done.SetControls(&gldap.ControlPaging{})
			h.reply(w, done, sess.log)
			return
		}
		limit = min(int(paging.PagingSize), h.s.opts.MaxEntries)
	}

	// An entry the account may not read does not exist for it, as on AD.
	if !h.s.opts.Authorizer.Allowed(acct, m.BaseDN, RightRead) {
		h.result(w, r, sess, opSearchDone, errNoSuchObject(""))
		return
	}
	// Collect the matches first; authorization (which reads group
	// membership from the directory) and the answer come after the tree's
	// read lock is released: a Search callback must not call back into the
	// directory, and a slow client must not hold the lock.
	var matched []*Entry
	err = h.s.dir.Search(m.BaseDN, Scope(m.Scope), func(e *Entry) bool {
		if f.Matches(e) {
			matched = append(matched, e)
		}
		return true
	})
	if err != nil {
		h.result(w, r, sess, opSearchDone, err)
		return
	}
	var hits []*Entry
	more, seen := false, 0
	for _, e := range matched {
		if !h.isAllowedToRead(acct, e) {
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
		h.sendEntry(w, r, sess, e, sel)
	}
	done := r.NewSearchDoneResponse(gldap.WithResponseCode(ResultSuccess))
	switch {
	case paging != nil:
		c := &gldap.ControlPaging{}
		if more {
			c.Cookie = []byte(strconv.Itoa(offset + len(hits)))
		}
		done.SetControls(c)
	case more:
		done.SetResultCode(ResultSizeLimitExceeded)
	}
	sess.log.Debug("search "+m.BaseDN, "code", ResultSuccess)
	h.reply(w, done, sess.log)
}

// pagingRequest finds the simple paged results control (RFC 2696) and the
// offset its cookie carries (the cookie is the number of entries already
// returned).
func pagingRequest(controls []gldap.Control) (*gldap.ControlPaging, int, error) {
	for _, c := range controls {
		p, ok := c.(*gldap.ControlPaging)
		if !ok {
			continue
		}
		if len(p.Cookie) == 0 {
			return p, 0, nil
		}
		off, err := strconv.Atoi(string(p.Cookie))
		if err != nil || off < 0 {
			return nil, 0, &Error{Code: ResultProtocolError, Diagnostic: textDecoding}
		}
		return p, off, nil
	}
	return nil, 0, nil
}

func (h *handlers) sendEntry(w *gldap.ResponseWriter, r *gldap.Request, sess *session, e *Entry, sel selector) {
	resp := r.NewSearchResponseEntry(e.DN)
	for _, a := range sel.project(e) {
		resp.AddAttribute(a.Name, a.Values)
	}
	h.reply(w, resp, sess.log)
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
func (s selector) project(e *Entry) []Attribute {
	var out []Attribute
	for _, a := range e.Attributes {
		if IsPasswordAttribute(a.Name) {
			continue
		}
		if !s.all && !slices.ContainsFunc(s.names, func(n string) bool { return strings.EqualFold(n, a.Name) }) {
			continue
		}
		vals := a.Values
		if s.typesOnly {
			vals = nil
		}
		out = append(out, Attribute{Name: a.Name, Values: vals})
	}
	return out
}
