package httpd

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Extended (MAPI) properties that EWS clients read instead of the named
// ones: DavMail builds its IMAP view from them (the IMAP UID is
// PR_INTERNET_ARTICLE_NUMBER, flags PR_MESSAGE_FLAGS and PR_FLAG_STATUS),
// and sorts and restricts by them. Tags from [MS-OXPROPS].

// extPath is the path a FieldURI or ExtendedFieldURI child of n names:
// the FieldURI itself, or "ext:0x0e23" for a tagged property
// ("ext:" and the property set and name for a named one).
func extPath(n *xnode) string {
	if f := n.child("FieldURI"); f != nil {
		return f.attr("FieldURI")
	}
	e := n.child("ExtendedFieldURI")
	if e == nil {
		return ""
	}
	if tag := e.attr("PropertyTag"); tag != "" {
		if v, err := strconv.ParseUint(tag, 0, 16); err == nil {
			return fmt.Sprintf("ext:0x%04x", v)
		}
		return "ext:" + strings.ToLower(tag)
	}
	return "ext:" + strings.ToLower(e.attr("DistinguishedPropertySetId")+e.attr("PropertySetId")+":"+e.attr("PropertyName")+e.attr("PropertyId"))
}

// MAPI property tags exsim answers.
const (
	tagMessageDeliveryTime = "ext:0x0e06" // PR_MESSAGE_DELIVERY_TIME
	tagMessageFlags        = "ext:0x0e07" // PR_MESSAGE_FLAGS
	tagMessageSize         = "ext:0x0e08" // PR_MESSAGE_SIZE
	tagArticleNumber       = "ext:0x0e23" // PR_INTERNET_ARTICLE_NUMBER: the IMAP UID
	tagRecordKey           = "ext:0x0ff9" // PR_RECORD_KEY
	tagFlagStatus          = "ext:0x1090" // PR_FLAG_STATUS
	tagURLCompName         = "ext:0x10f3" // PR_URL_COMP_NAME
	tagLastModified        = "ext:0x3008" // PR_LAST_MODIFICATION_TIME
)

// extValue is a message's value of an extended property: an int64, a
// time, a string or []byte; ok false for one exsim does not keep.
func extValue(mi *MessageInfo, folder, path string) (v any, ok bool) {
	switch path {
	case tagArticleNumber:
		n, err := strconv.ParseInt(mi.ID, 10, 64)
		return n, err == nil
	case tagMessageSize:
		return mi.Size, true
	case tagMessageDeliveryTime, tagLastModified:
		return mi.Date, true
	case tagMessageFlags:
		var f int64
		if mi.Read {
			f |= 0x1 // MSGFLAG_READ
		}
		if strings.EqualFold(folder, FolderDrafts) {
			f |= 0x8 // MSGFLAG_UNSENT
		}
		return f, true
	case tagFlagStatus:
		if mi.Flagged {
			return int64(2), true // followupFlagged
		}
		return int64(0), true
	case tagURLCompName:
		return mi.ID + ".EML", true
	case tagRecordKey:
		return []byte(folder + "\x00" + mi.ID), true
	}
	return nil, false
}

// extPropsXML renders the ExtendedProperty elements shape s asks for,
// each with the ExtendedFieldURI as the client sent it.
func extPropsXML(it *ewsItem, s ewsShape) []*el {
	var out []*el
	for _, e := range s.Ext {
		v, ok := extValue(&it.mi, it.folder, extPath(&xnode{Kids: []*xnode{e}}))
		if !ok {
			continue
		}
		var text string
		switch x := v.(type) {
		case int64:
			text = strconv.FormatInt(x, 10)
		case time.Time:
			text = ewsTime(x)
		case []byte:
			text = base64.StdEncoding.EncodeToString(x)
		case string:
			text = x
		}
		uri := E("t:ExtendedFieldURI")
		for _, a := range e.Attr {
			uri.A(a.Name.Local, a.Value)
		}
		out = append(out, E("t:ExtendedProperty", uri, T("t:Value", text)))
	}
	return out
}

func anys(els []*el) []any {
	out := make([]any, len(els))
	for i, e := range els {
		out[i] = e
	}
	return out
}

// extCompare is the sort comparison of an extended property, or nil.
func extCompare(path string) func(a, b *MessageInfo) int {
	if _, ok := extValue(&MessageInfo{ID: "0"}, "", path); !ok {
		return nil
	}
	return func(a, b *MessageInfo) int {
		x, _ := extValue(a, "", path)
		y, _ := extValue(b, "", path)
		return compareValues(x, y)
	}
}
