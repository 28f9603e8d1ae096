package imapd

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"

	"github.com/exsim/exsim/store"
)

// maxSearchText bounds how much of a body a text search reads.
const maxSearchText = 4 << 20

func (s *session) Search(kind imapserver.NumKind, criteria *imap.SearchCriteria, _ *imap.SearchOptions) (*imap.SearchData, error) {
	v, err := s.selected(false)
	if err != nil {
		return nil, err
	}
	r := searchResult{kind: kind}
	sc := &scratch{br: bufio.NewReaderSize(nil, 4096), headers: &s.b.headers}
	// One pass over the folder in one store transaction, in UID order (so
	// sequence order); a body is read only if a header or text criterion
	// asks for it.
	err = v.folder.Scan(func(info *store.MessageInfo, body func() []byte) error {
		if i, ok := v.index(imap.UID(info.UID)); ok {
			r.test(&candidate{v: v, seq: uint32(i) + 1, info: info, read: body, scratch: sc}, criteria)
		}
		return nil
	})
	if err != nil {
		return nil, storeError(err)
	}
	return r.data(), nil
}

// searchResult collects the matches of a SEARCH.
type searchResult struct {
	kind   imapserver.NumKind
	d      imap.SearchData
	seqSet imap.SeqSet
	uidSet imap.UIDSet
}

func (r *searchResult) test(c *candidate, criteria *imap.SearchCriteria) {
	if !c.match(criteria) {
		return
	}
	num := c.seq
	if r.kind == imapserver.NumKindUID {
		num = c.info.UID
		r.uidSet.AddNum(imap.UID(num))
	} else {
		r.seqSet.AddNum(num)
	}
	if r.d.Min == 0 || num < r.d.Min {
		r.d.Min = num
	}
	if num > r.d.Max {
		r.d.Max = num
	}
	r.d.Count++
}

func (r *searchResult) data() *imap.SearchData {
	if r.kind == imapserver.NumKindUID {
		r.d.All = r.uidSet
	} else {
		r.d.All = r.seqSet
	}
	return &r.d
}

// candidate is one message under test. Its text, when the criteria need
// it, is read from the store on first use (valid during the search only);
// the header is parsed once, and only if a header criterion cannot be
// decided on the raw bytes.
type candidate struct {
	v      *view
	seq    uint32
	info   *store.MessageInfo
	read   func() []byte // from store.Folder.Scan
	body   []byte
	loaded bool
	header *mail.Header
	*scratch
}

// scratch is what the candidates of one SEARCH share, one after another.
type scratch struct {
	br       *bufio.Reader // parses headers and entities
	headers  *headerCache
	patterns map[string][]byte // the criteria's patterns in lower case
}

func (c *candidate) text() []byte {
	if !c.loaded {
		c.body, c.loaded = c.read(), true
	}
	return c.body
}

func (c *candidate) entity() *gomessage.Entity {
	c.br.Reset(bytes.NewReader(c.text()))
	e, _ := gomessage.Read(c.br) // a *bufio.Reader of 4096 bytes is used as it is
	if e == nil {
		e, _ = gomessage.New(gomessage.Header{}, bytes.NewReader(nil))
	}
	return e
}

// parsedHeader is the message's header, parsed on first use.
func (c *candidate) parsedHeader() *mail.Header {
	if c.header == nil {
		c.br.Reset(bytes.NewReader(c.text()))
		h, err := textproto.ReadHeader(c.br)
		if err != nil {
			h = textproto.Header{} // unreadable: no field matches, as for an unreadable entity
		}
		c.header = &mail.Header{Header: gomessage.Header{Header: h}}
	}
	return c.header
}

// headerCannotHold reports whether no header field of the message can
// contain pattern, judged on the raw header: only when that is certain (an
// ASCII pattern without spaces, a header without encoded words or non-ASCII
// bytes, where the decoded text is the raw text); otherwise the header is
// parsed. Most messages of a SEARCH SUBJECT/FROM are settled this way, from
// the Backend's headerCache once the folder was searched.
func (c *candidate) headerCannotHold(pattern string) bool {
	lp, ok := c.patterns[pattern]
	if !ok {
		if c.patterns == nil {
			c.patterns = make(map[string][]byte)
		}
		lp = nil // not decidable on raw bytes
		if pattern != "" && !strings.ContainsFunc(pattern, func(r rune) bool { return r >= 0x80 || r == ' ' || r == '\t' }) {
			lp = []byte(strings.ToLower(pattern))
		}
		c.patterns[pattern] = lp
	}
	if lp == nil {
		return false
	}
	k := headerKey(c.v.uidValidity, c.info.UID)
	h, ok := c.headers.get(k)
	if !ok {
		h = lowerHeader(c.text())
		c.headers.put(k, h)
	}
	return h.usable && !bytes.Contains(h.lower, lp)
}

// match implements RFC 9051 section 6.4.4 search keys.
func (c *candidate) match(cr *imap.SearchCriteria) bool {
	for _, set := range cr.SeqNum {
		if !seqSetContains(set, c.seq, uint32(len(c.v.msgs))) {
			return false
		}
	}
	for _, set := range cr.UID {
		if imap.IsSearchRes(set) || !c.v.uidSetContains(set, imap.UID(c.info.UID)) {
			return false
		}
	}
	if !matchDate(c.info.InternalDate, cr.Since, cr.Before) {
		return false
	}
	for _, f := range cr.Flag {
		if !c.info.HasFlag(string(f)) {
			return false
		}
	}
	for _, f := range cr.NotFlag {
		if c.info.HasFlag(string(f)) {
			return false
		}
	}
	if cr.Larger != 0 && c.info.Size <= cr.Larger {
		return false
	}
	if cr.Smaller != 0 && c.info.Size >= cr.Smaller {
		return false
	}
	if !cr.SentSince.IsZero() || !cr.SentBefore.IsZero() {
		if c.info.Date.IsZero() || !matchDate(c.info.Date, cr.SentSince, cr.SentBefore) {
			return false
		}
	}
	for _, hf := range cr.Header {
		if c.headerCannotHold(hf.Value) || !matchHeaderFields(c.parsedHeader().FieldsByKey(hf.Key), hf.Value) {
			return false
		}
	}
	for _, text := range cr.Text {
		if !matchEntity(c.entity(), text, true) {
			return false
		}
	}
	for _, text := range cr.Body {
		if !matchEntity(c.entity(), text, false) {
			return false
		}
	}
	for i := range cr.Not {
		if c.match(&cr.Not[i]) {
			return false
		}
	}
	for i := range cr.Or {
		if !c.match(&cr.Or[i][0]) && !c.match(&cr.Or[i][1]) {
			return false
		}
	}
	return true
}

// matchDate compares dates only, ignoring time and zone (RFC 9051 section
// 6.4.4).
func matchDate(t, since, before time.Time) bool {
	d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	if !since.IsZero() && d.Before(since) {
		return false
	}
	if !before.IsZero() && !d.Before(before) {
		return false
	}
	return true
}

func matchHeaderFields(fields gomessage.HeaderFields, pattern string) bool {
	if pattern == "" {
		return fields.Len() > 0
	}
	pattern = strings.ToLower(pattern)
	for fields.Next() {
		v, _ := fields.Text()
		if strings.Contains(strings.ToLower(v), pattern) {
			return true
		}
	}
	return false
}

func matchEntity(e *gomessage.Entity, pattern string, withHeader bool) bool {
	if pattern == "" {
		return true
	}
	if withHeader && matchHeaderFields(e.Header.Fields(), pattern) {
		return true
	}
	if mr := e.MultipartReader(); mr != nil {
		for {
			part, err := mr.NextPart()
			if err != nil {
				return false
			}
			if matchEntity(part, pattern, withHeader) {
				return true
			}
		}
	}
	t, _, err := e.Header.ContentType()
	if err != nil && e.Header.Has("Content-Type") {
		return false
	}
	if t != "" && !strings.HasPrefix(t, "text/") && !strings.HasPrefix(t, "message/") {
		return false
	}
	buf, err := io.ReadAll(io.LimitReader(e.Body, maxSearchText))
	if err != nil {
		return false
	}
	return bytes.Contains(bytes.ToLower(buf), bytes.ToLower([]byte(pattern)))
}
