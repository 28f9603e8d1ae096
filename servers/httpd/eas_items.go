package httpd

import (
	"html"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/exsim/exsim/internal/wbxml"
)

// Body types of MS-ASAIRS 2.2.2.22.
const (
	easBodyPlain = 1
	easBodyHTML  = 2
	easBodyMIME  = 4
)

// easBodyPref is what the client asked of bodies (airsyncbase:
// BodyPreference, airsync:MIMESupport).
type easBodyPref struct {
	Type      int
	Trunc     int // bytes; 0: no truncation
	AllOrNone bool
	Preview   int // characters of airsyncbase:Preview; 0: none
}

// bodyPref reads the body options of a Sync collection's Options or an
// ItemOperations Fetch's Options. Without any, the plain text body is
// sent whole.
func bodyPref(opts *wbxml.Node) easBodyPref {
	mime := opts.Value("MIMESupport") == "2"
	p := easBodyPref{Type: easBodyPlain}
	prefs := opts.All("AirSyncBase:BodyPreference")
	for _, bp := range prefs {
		t, _ := strconv.Atoi(bp.Value("Type"))
		if t == easBodyMIME && !mime {
			continue
		}
		if t != easBodyPlain && t != easBodyHTML && t != easBodyMIME {
			continue
		}
		p.Type = t
		p.Trunc, _ = strconv.Atoi(bp.Value("TruncationSize"))
		p.AllOrNone = bp.Value("AllOrNone") == "1"
		p.Preview, _ = strconv.Atoi(bp.Value("Preview"))
		if t == easBodyMIME {
			break // MIME wins when the client supports it for every message
		}
	}
	if p.Trunc < 0 {
		p.Trunc = 0
	}
	return p
}

var (
	htmlDropped = regexp.MustCompile(`(?is)<(script|style)[^>]*>.*?</(script|style)>`)
	htmlBreaks  = regexp.MustCompile(`(?i)<(br|/p|/div|/h[1-6]|/li|/tr)\b[^>]*>`)
	htmlTags    = regexp.MustCompile(`<[^>]*>`)
)

// htmlToText is the text of an HTML body, for a client that wants plain
// text: scripts and styles dropped, block ends as line breaks.
func htmlToText(s string) string {
	s = htmlBreaks.ReplaceAllString(htmlDropped.ReplaceAllString(s, ""), "\n")
	return strings.TrimSpace(html.UnescapeString(htmlTags.ReplaceAllString(s, "")))
}

// truncate cuts s to at most n bytes on a character boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// easBody is the airsyncbase:Body of a message in the preferred type
// (MS-ASAIRS 2.2.2.9), and its preview when asked.
func easBody(m *shownMessage, raw []byte, p easBodyPref) *wbxml.Node {
	var data string
	typ := p.Type
	switch {
	case typ == easBodyMIME:
		data = string(raw)
	case typ == easBodyHTML && m.HTML != "":
		data = m.HTML
	case typ == easBodyHTML:
		data = "<html><body><pre>" + html.EscapeString(m.Text) + "</pre></body></html>"
	default:
		typ = easBodyPlain
		data = m.Text
		if data == "" && m.HTML != "" {
			data = htmlToText(m.HTML)
		}
	}
	size := len(data)
	truncated := p.Trunc > 0 && size > p.Trunc
	if truncated {
		if p.AllOrNone {
			data = ""
		} else {
			data = truncate(data, p.Trunc)
		}
	}
	b := wbxml.E("AirSyncBase:Body", wbxml.T("AirSyncBase:Type", strconv.Itoa(typ)),
		wbxml.T("AirSyncBase:EstimatedDataSize", strconv.Itoa(size)))
	if truncated {
		b.Add(wbxml.T("AirSyncBase:Truncated", "1"))
	}
	if data != "" {
		if strings.IndexByte(data, 0) >= 0 {
			b.Add(wbxml.O("AirSyncBase:Data", []byte(data)))
		} else {
			b.Add(wbxml.T("AirSyncBase:Data", data))
		}
	}
	if p.Preview > 0 {
		text := m.Text
		if text == "" {
			text = htmlToText(m.HTML)
		}
		b.Add(wbxml.T("AirSyncBase:Preview", truncate(strings.Join(strings.Fields(text), " "), p.Preview)))
	}
	return b
}

// easDateLayout is a dateTime as MS-ASDTYPE 2.3 writes it in email and
// settings elements.
const easDateLayout = "2006-01-02T15:04:05.000Z"

func easDate(t time.Time) string { return t.UTC().Format(easDateLayout) }

// easAddresses turns "Bob <bob@x>; carol@y" (addressHeader's form) into
// the comma-separated RFC 5322 list ActiveSync sends, and the display
// names for DisplayTo.
func easAddresses(list string) (header, display string) {
	if list == "" {
		return "", ""
	}
	var hs, ds []string
	for _, a := range strings.Split(list, "; ") {
		name, addr, ok := strings.Cut(a, " <")
		if !ok {
			hs = append(hs, a)
			ds = append(ds, a)
			continue
		}
		addr = strings.TrimSuffix(addr, ">")
		hs = append(hs, strconv.Quote(name)+" <"+addr+">")
		ds = append(ds, name)
	}
	return strings.Join(hs, ", "), strings.Join(ds, "; ")
}

// easEmail is a message's ApplicationData in the Email class
// (MS-ASEMAIL 2.2.2), elements in the schema's order.
func easEmail(serverID string, mi MessageInfo, m *shownMessage, raw []byte, p easBodyPref) []*wbxml.Node {
	to, displayTo := easAddresses(m.To)
	cc, _ := easAddresses(m.Cc)
	from, _ := easAddresses(m.From)
	read := "0"
	if mi.Read {
		read = "1"
	}
	out := []*wbxml.Node{wbxml.T("Email:To", to)}
	if cc != "" {
		out = append(out, wbxml.T("Email:Cc", cc))
	}
	out = append(out, wbxml.T("Email:From", from), wbxml.T("Email:Subject", m.Subject),
		wbxml.T("Email:DateReceived", easDate(mi.Date)), wbxml.T("Email:DisplayTo", displayTo),
		wbxml.T("Email:ThreadTopic", m.Subject), wbxml.T("Email:Importance", "1"), wbxml.T("Email:Read", read))
	if len(m.Attachments) > 0 {
		atts := wbxml.E("AirSyncBase:Attachments")
		for i, a := range m.Attachments {
			at := wbxml.E("AirSyncBase:Attachment", wbxml.T("AirSyncBase:DisplayName", a.Name),
				wbxml.T("AirSyncBase:FileReference", serverID+":"+strconv.Itoa(i)),
				wbxml.T("AirSyncBase:Method", "1"), wbxml.T("AirSyncBase:EstimatedDataSize", strconv.FormatInt(a.Size, 10)))
			if a.ContentID != "" {
				at.Add(wbxml.T("AirSyncBase:ContentId", a.ContentID))
			}
			if a.Inline {
				at.Add(wbxml.T("AirSyncBase:IsInline", "1"))
			}
			atts.Add(at)
		}
		out = append(out, atts)
	}
	native := easBodyPlain
	if m.HTML != "" {
		native = easBodyHTML
	}
	flag := wbxml.E("Email:Flag")
	if mi.Flagged {
		flag.Add(wbxml.T("Email:Status", "2"), wbxml.T("Email:FlagType", "Flag for follow up"))
	}
	return append(out, easBody(m, raw, p), wbxml.T("Email:MessageClass", "IPM.Note"),
		wbxml.T("Email:InternetCPID", "65001"), flag,
		wbxml.T("Email:ContentClass", "urn:content-classes:message"),
		wbxml.T("AirSyncBase:NativeBodyType", strconv.Itoa(native)))
}

// easItemData is an item's ApplicationData for its folder's class.
func (c *easCall) easItemData(f easFolderEntry, key string, mi MessageInfo, p easBodyPref) (*wbxml.Node, error) {
	raw, err := c.store.GetMessage(c.r.Context(), c.u.Address, f.Path, mi.ID)
	if err != nil {
		return nil, err
	}
	m, err := parseMessage(raw)
	if err != nil {
		return nil, err
	}
	ad := wbxml.E("AirSync:ApplicationData")
	switch easClass(f.Type) {
	case "Calendar":
		ad.Add(easCalendarItem(m, raw, mi)...)
	case "Contacts":
		ad.Add(easContactItem(m, raw)...)
	case "Tasks":
		ad.Add(wbxml.T("Tasks:Subject", m.Subject))
	case "Notes":
		ad.Add(wbxml.T("Notes:Subject", m.Subject), wbxml.T("Notes:MessageClass", "IPM.StickyNote"))
	default:
		ad.Add(easEmail(f.ID+":"+key, mi, m, raw, p)...)
	}
	return ad, nil
}
