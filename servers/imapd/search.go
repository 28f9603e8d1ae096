package imapd

import (
	"bytes"
	"io"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"

	"github.com/exsim/exsim/store"
)

// maxSearchText bounds how much of a body a text search reads.
const maxSearchText = 4 << 20

func (s *session) Search(kind imapserver.NumKind, criteria *imap.SearchCriteria, _ *imap.SearchOptions) (*imap.SearchData, error) {
	v, err := s.selected(false)
	if err != nil {
		return nil, err
	}
	infos, err := v.folder.Messages()
	if err != nil {
		return nil, storeError(err)
	}
	byUID := make(map[imap.UID]*store.MessageInfo, len(infos))
	for i := range infos {
		byUID[imap.UID(infos[i].UID)] = &infos[i]
	}
	var (
		data   imap.SearchData
		seqSet imap.SeqSet
		uidSet imap.UIDSet
	)
	for i, vm := range v.msgs {
		info := byUID[vm.uid]
		if info == nil {
			continue
		}
		c := candidate{v: v, seq: uint32(i) + 1, info: info}
		if !c.match(criteria) {
			continue
		}
		num := c.seq
		if kind == imapserver.NumKindUID {
			num = uint32(vm.uid)
			uidSet.AddNum(vm.uid)
		} else {
			seqSet.AddNum(c.seq)
		}
		if data.Min == 0 || num < data.Min {
			data.Min = num
		}
		if num > data.Max {
			data.Max = num
		}
		data.Count++
	}
	if kind == imapserver.NumKindUID {
		data.All = uidSet
	} else {
		data.All = seqSet
	}
	return &data, nil
}

// candidate is one message under test; its body is read only if a
// criterion needs it.
type candidate struct {
	v      *view
	seq    uint32
	info   *store.MessageInfo
	body   []byte
	loaded bool
}

func (c *candidate) entity() *gomessage.Entity {
	if !c.loaded {
		c.loaded = true
		c.body, _ = c.v.folder.Body(c.info.UID)
	}
	e, _ := gomessage.Read(bytes.NewReader(c.body))
	if e == nil {
		e, _ = gomessage.New(gomessage.Header{}, bytes.NewReader(nil))
	}
	return e
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
	if len(cr.Header) > 0 {
		h := mail.Header{Header: c.entity().Header}
		for _, hf := range cr.Header {
			if !matchHeaderFields(h.FieldsByKey(hf.Key), hf.Value) {
				return false
			}
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
