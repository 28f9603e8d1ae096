package httpd

import (
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-message/mail"
)

// The distinguished folders OWA shows, in its order, with their EWS
// DistinguishedFolderId names and the backend's folder names.
var distinguishedFolders = []struct{ ID, Name, Store string }{
	{"inbox", "Inbox", FolderInbox},
	{"drafts", "Drafts", FolderDrafts},
	{"sentitems", "Sent Items", FolderSentItems},
	{"deleteditems", "Deleted Items", FolderDeletedItems},
	{"junkemail", "Junk Email", FolderJunkEmail},
}

func folderByID(id string) (name, store string, ok bool) {
	for _, f := range distinguishedFolders {
		if strings.EqualFold(f.ID, id) {
			return f.Name, f.Store, true
		}
	}
	return "", "", false
}

func folderIDOf(store string) string {
	for _, f := range distinguishedFolders {
		if f.Store == store {
			return f.ID
		}
	}
	return ""
}

// An item id names a message in a folder, for OWA's URLs and EWS's ItemId.
func encodeItemID(folder, id string) string {
	return base64.StdEncoding.EncodeToString([]byte(folder + "\x00" + id))
}

// splitItemID undoes encodeItemID for an id of at most max characters.
func splitItemID(s string, max int) (folder, id string, ok bool) {
	if len(s) > max {
		return "", "", false
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return "", "", false
	}
	folder, id, ok = strings.Cut(string(b), "\x00")
	if !ok || id == "" {
		return "", "", false
	}
	return folder, id, true
}

// decodeItemID is an OWA item id: its folder is one OWA shows.
func decodeItemID(s string) (folder, id string, ok bool) {
	folder, id, ok = splitItemID(s, 1024)
	if !ok || folderIDOf(folder) == "" {
		return "", "", false
	}
	return folder, id, true
}

const owaPageSize = 50

const htmlDefaultStyle = `<meta charset="utf-8"><style>body{font-family:Calibri,"Segoe UI",Arial,sans-serif;font-size:15px;color:#333;margin:0;word-wrap:break-word}</style>`

type folderLink struct {
	ID, Name, URL string
	Unread        int
	Selected      bool
}

type itemRow struct {
	URL, Who, Subject, Received, Preview, Group string
	Unread, Selected                            bool
}

type readingPane struct {
	Subject, From, To, Cc, When, Text, HTML string
	Attachments                             []attachmentView
	Truncated                               bool
}

type attachmentView struct{ Name, SizeText string }

type composeForm struct {
	To, Cc, Subject, Body, Error string
}

type mailboxPage struct {
	pageBase
	User             User
	Canary           string
	Favorites        []folderLink
	Folders          []folderLink
	Folder           folderLink
	Items            []itemRow
	PrevURL, NextURL string
	PageText, Notice string
	// OOF is the notice that the user's automatic replies are on.
	OOF     string
	Reading *readingPane
	Compose *composeForm
}

func folderURL(id string) string {
	return "/owa/?ae=Folder&t=IPF.Note&id=" + url.QueryEscape(id)
}

// serveMailbox is /owa/ after logon, with OWA's light-version URL scheme:
//
//	/owa/                                     the Inbox
//	/owa/?ae=Folder&t=IPF.Note&id=sentitems   a folder
//	/owa/?ae=Item&t=IPM.Note&id=<item id>     a message in the reading pane
//	/owa/?ae=Item&a=New&t=IPM.Note            a new message
//	POST /owa/?ae=PreFormAction&a=Send&t=IPM.Note   send it
func (h *Handler) serveMailbox(w http.ResponseWriter, r *http.Request, ss *session, log *slog.Logger) {
	q := r.URL.Query()
	ae, action := strings.ToLower(q.Get("ae")), strings.ToLower(q.Get("a"))
	if r.Method == http.MethodPost {
		if ae == "preformaction" && action == "send" {
			h.serveSend(w, r, ss, log)
			return
		}
		w.Header().Set("Allow", "GET, HEAD")
		h.cfg.writeIISError(w, r, errMethod)
		return
	}
	if !allow(w, r, h.cfg, http.MethodGet, http.MethodHead) {
		return
	}
	page := h.newMailboxPage(ss)
	folderID := "inbox"
	switch {
	case ae == "item" && action == "new":
		page.Compose = &composeForm{}
	case ae == "item":
		folder, id, ok := decodeItemID(q.Get("id"))
		if !ok {
			h.cfg.writeIISError(w, r, errNotFound)
			return
		}
		folderID = folderIDOf(folder)
		rp, err := h.readMessage(r, ss, folder, id, log)
		if errors.Is(err, ErrNotFound) {
			h.cfg.writeIISError(w, r, errNotFound)
			return
		}
		if err != nil {
			log.Error("owa: read message", "err", err)
			h.cfg.writeIISError(w, r, errInternal)
			return
		}
		page.Reading = rp
	case ae == "folder" && q.Get("id") != "":
		folderID = strings.ToLower(q.Get("id"))
	}
	if q.Get("sent") == "1" {
		page.Notice = "Your message has been sent."
	}
	page.OOF = h.oofNotice(r, &ss.user, log)
	pageNo, _ := strconv.Atoi(q.Get("page"))
	if err := h.fillFolder(r, ss, &page, folderID, q.Get("id"), pageNo); err != nil {
		if errors.Is(err, ErrNotFound) {
			h.cfg.writeIISError(w, r, errNotFound)
			return
		}
		log.Error("owa: list folder", "err", err)
		h.cfg.writeIISError(w, r, errInternal)
		return
	}
	h.render(w, r, "mailbox.html", page, log)
}

// oofNotice is the bar Outlook on the web shows above the mailbox while
// automatic replies are on ("" when they are off). Its wording has no
// public source; this is exsim's.
func (h *Handler) oofNotice(r *http.Request, u *User, log *slog.Logger) string {
	ar, ok := h.b.(AutomaticReplies)
	if !ok {
		return ""
	}
	s, err := ar.OOF(r.Context(), u.Address)
	if err != nil {
		log.Warn("owa: OOF settings", "err", err)
		return ""
	}
	if !s.Active(h.cfg.Now()) {
		return ""
	}
	return "Automatic replies are turned on for your account."
}

func (h *Handler) newMailboxPage(ss *session) mailboxPage {
	return mailboxPage{
		pageBase: pageBase{Title: ss.user.DisplayName + " - Outlook", Build: h.cfg.ver.short()},
		User:     ss.user,
		Canary:   ss.canary,
	}
}

// fillFolder lists folderID into the page's folder pane and message list.
// selected is the item id shown in the reading pane, if any.
func (h *Handler) fillFolder(r *http.Request, ss *session, page *mailboxPage, folderID, selected string, pageNo int) error {
	name, store, ok := folderByID(folderID)
	if !ok {
		return fmt.Errorf("httpd: folder %q: %w", folderID, ErrNotFound)
	}
	ctx := r.Context()
	msgs, err := h.b.ListFolder(ctx, ss.user.Address, store)
	if errors.Is(err, ErrNotFound) {
		msgs, err = nil, nil // a folder the store does not have is empty
	}
	if err != nil {
		return fmt.Errorf("httpd: list %s: %w", store, err)
	}
	slices.SortStableFunc(msgs, func(a, b MessageInfo) int { return b.Date.Compare(a.Date) })
	inboxUnread := 0
	if store == FolderInbox {
		inboxUnread = countUnread(msgs)
	} else if inbox, err := h.b.ListFolder(ctx, ss.user.Address, FolderInbox); err == nil {
		inboxUnread = countUnread(inbox)
	}
	for _, f := range distinguishedFolders {
		l := folderLink{ID: f.ID, Name: f.Name, URL: folderURL(f.ID), Selected: f.ID == folderID}
		if f.Store == FolderInbox {
			l.Unread = inboxUnread
		}
		page.Folders = append(page.Folders, l)
		if f.Store == FolderInbox || f.Store == FolderSentItems || f.Store == FolderDrafts {
			page.Favorites = append(page.Favorites, l)
		}
	}
	page.Folder = folderLink{ID: folderID, Name: name, URL: folderURL(folderID)}

	pages := max(1, (len(msgs)+owaPageSize-1)/owaPageSize)
	pageNo = min(max(pageNo, 1), pages)
	start := (pageNo - 1) * owaPageSize
	end := min(start+owaPageSize, len(msgs))
	if pageNo > 1 {
		page.PrevURL = folderURL(folderID) + "&page=" + strconv.Itoa(pageNo-1)
	}
	if pageNo < pages {
		page.NextURL = folderURL(folderID) + "&page=" + strconv.Itoa(pageNo+1)
	}
	if pages > 1 {
		page.PageText = fmt.Sprintf("%d-%d of %d", start+1, end, len(msgs))
	}
	now := h.cfg.Now()
	lastGroup := ""
	for _, m := range msgs[start:end] {
		id := encodeItemID(store, m.ID)
		row := itemRow{
			URL:      "/owa/?ae=Item&t=IPM.Note&id=" + url.QueryEscape(id),
			Who:      displayName(m.From),
			Subject:  m.Subject,
			Received: listDate(m.Date, now),
			Preview:  m.Preview,
			Unread:   !m.Read,
			Selected: id == selected,
		}
		if store == FolderSentItems || store == FolderDrafts {
			row.Who = displayName(m.To)
		}
		if g := dateGroup(m.Date, now); g != lastGroup {
			row.Group, lastGroup = g, g
		}
		page.Items = append(page.Items, row)
	}
	return nil
}

func countUnread(msgs []MessageInfo) int {
	n := 0
	for _, m := range msgs {
		if !m.Read {
			n++
		}
	}
	return n
}

// displayName is what the message list shows for an address header: the
// display names, or the addresses where there are none.
func displayName(header string) string {
	list, err := mail.ParseAddressList(header)
	if err != nil || len(list) == 0 {
		return header
	}
	names := make([]string, len(list))
	for i, a := range list {
		names[i] = a.Name
		if names[i] == "" {
			names[i] = a.Address
		}
	}
	return strings.Join(names, "; ")
}

// listDate is the message list's date column: the time today, the weekday
// and time this week, the date before.
func listDate(t, now time.Time) string {
	t = t.In(now.Location())
	switch {
	case sameDay(t, now):
		return t.Format("3:04 PM")
	case now.Sub(t) < 6*24*time.Hour && t.Before(now):
		return t.Format("Mon 3:04 PM")
	default:
		return t.Format("1/2/2006")
	}
}

func dateGroup(t, now time.Time) string {
	t = t.In(now.Location())
	switch {
	case sameDay(t, now):
		return "Today"
	case sameDay(t, now.AddDate(0, 0, -1)):
		return "Yesterday"
	case now.Sub(t) < 6*24*time.Hour && t.Before(now):
		return "This week"
	default:
		return "Older"
	}
}

func sameDay(a, b time.Time) bool {
	ay, am, ad := a.Date()
	by, bm, bd := b.Date()
	return ay == by && am == bm && ad == bd
}

// readMessage fetches, parses and marks read one message.
func (h *Handler) readMessage(r *http.Request, ss *session, folder, id string, log *slog.Logger) (*readingPane, error) {
	raw, err := h.b.GetMessage(r.Context(), ss.user.Address, folder, id)
	if err != nil {
		return nil, fmt.Errorf("httpd: get message %s/%s: %w", folder, id, err)
	}
	m, err := parseMessage(raw)
	if err != nil {
		return nil, err
	}
	if err := h.b.MarkRead(r.Context(), ss.user.Address, folder, id); err != nil {
		log.Warn("owa: mark read", "err", err)
	}
	rp := &readingPane{
		Subject: m.Subject, From: m.From, To: m.To, Cc: m.Cc,
		Text: m.Text, Truncated: m.Truncated,
	}
	if m.HTML != "" {
		// OWA's reading font for messages that set none; the message's
		// own styles, later in the document, win.
		rp.HTML = htmlDefaultStyle + m.HTML
	}
	if !m.Date.IsZero() {
		rp.When = m.Date.In(h.cfg.Now().Location()).Format("Mon 1/2/2006 3:04 PM")
	}
	for _, a := range m.Attachments {
		rp.Attachments = append(rp.Attachments, attachmentView{Name: a.Name, SizeText: sizeText(a.Size)})
	}
	return rp, nil
}

func sizeText(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%d KB", n>>10)
	default:
		return fmt.Sprintf("%d bytes", n)
	}
}
