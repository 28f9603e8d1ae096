package httpd

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// A folder key names a folder of the EWS tree: a backend folder name, or
// "\x00" and the distinguished id of a folder the backend does not keep
// (the root, Top of Information Store, Recoverable Items, Finder).
const virtualKey = "\x00"

// ewsWellKnown are the distinguished folders of an Exchange 2016/2019
// mailbox (types.xsd DistinguishedFolderIdNameType) that exsim's mailboxes
// have, with the parent each hangs under, the element EWS shows it as and
// its folder class. The archive* ids name the archive mailbox; exsim's
// mailboxes have none, so they answer ErrorFolderNotFound, as Exchange
// does for a mailbox without an archive.
var ewsWellKnown = []struct{ ID, Key, Parent, Name, Elem, Class string }{
	{"root", virtualKey + "root", "", "", "Folder", ""},
	{"msgfolderroot", virtualKey + "msgfolderroot", virtualKey + "root", "Top of Information Store", "Folder", "IPF.Note"},
	{"inbox", FolderInbox, "", "Inbox", "Folder", "IPF.Note"},
	{"outbox", "Outbox", "", "Outbox", "Folder", "IPF.Note"},
	{"sentitems", FolderSentItems, "", "Sent Items", "Folder", "IPF.Note"},
	{"drafts", FolderDrafts, "", "Drafts", "Folder", "IPF.Note"},
	{"deleteditems", FolderDeletedItems, "", "Deleted Items", "Folder", "IPF.Note"},
	{"junkemail", FolderJunkEmail, "", "Junk Email", "Folder", "IPF.Note"},
	{"calendar", "Calendar", "", "Calendar", "CalendarFolder", "IPF.Appointment"},
	{"contacts", "Contacts", "", "Contacts", "ContactsFolder", "IPF.Contact"},
	{"tasks", "Tasks", "", "Tasks", "TasksFolder", "IPF.Task"},
	{"notes", "Notes", "", "Notes", "Folder", "IPF.StickyNote"},
	{"journal", "Journal", "", "Journal", "Folder", "IPF.Journal"},
	{"searchfolders", virtualKey + "searchfolders", virtualKey + "root", "Finder", "Folder", ""},
	{"recoverableitemsroot", virtualKey + "recoverableitemsroot", virtualKey + "root", "Recoverable Items", "Folder", ""},
	{"recoverableitemsdeletions", virtualKey + "recoverableitemsdeletions", virtualKey + "recoverableitemsroot", "Deletions", "Folder", ""},
	{"recoverableitemspurges", virtualKey + "recoverableitemspurges", virtualKey + "recoverableitemsroot", "Purges", "Folder", ""},
	{"recoverableitemsversions", virtualKey + "recoverableitemsversions", virtualKey + "recoverableitemsroot", "Versions", "Folder", ""},
}

// ewsFolderNode is one folder of a mailbox's EWS tree.
type ewsFolderNode struct {
	Key, Parent   string
	Distinguished string
	Name          string // display name
	Elem, Class   string
	Total, Unread int
	Children      int
}

// virtual reports whether the backend does not keep the folder.
func (n *ewsFolderNode) virtual() bool { return strings.HasPrefix(n.Key, virtualKey) }

type folderTree struct {
	nodes []*ewsFolderNode // parents before children
	byKey map[string]*ewsFolderNode
}

func (t *folderTree) get(key string) *ewsFolderNode { return t.byKey[strings.ToLower(key)] }

// children are the direct children of key, in tree order.
func (t *folderTree) children(key string) []*ewsFolderNode {
	var out []*ewsFolderNode
	for _, n := range t.nodes {
		if strings.EqualFold(n.Parent, key) {
			out = append(out, n)
		}
	}
	return out
}

// descendants are the folders under key, depth first.
func (t *folderTree) descendants(key string) []*ewsFolderNode {
	var out []*ewsFolderNode
	for _, c := range t.children(key) {
		out = append(out, c)
		out = append(out, t.descendants(c.Key)...)
	}
	return out
}

// folderInfos lists the mailbox's folders with their counts: the
// MailStore's, or without one the distinguished mail folders that
// ListFolder serves (EWS and MAPI/HTTP build their trees on it).
func (h *Handler) folderInfos(ctx context.Context, u *User) ([]FolderInfo, error) {
	if ms, ok := h.b.(MailStore); ok {
		return ms.Folders(ctx, u.Address)
	}
	var infos []FolderInfo
	for _, f := range distinguishedFolders {
		msgs, err := h.b.ListFolder(ctx, u.Address, f.Store)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		infos = append(infos, FolderInfo{Name: f.Store, Total: len(msgs), Unread: countUnread(msgs)})
	}
	return infos, nil
}

// folderTree reads the mailbox's folders. Without a MailStore the tree
// holds the distinguished mail folders that ListFolder serves.
func (h *Handler) folderTree(ctx context.Context, u *User) (*folderTree, error) {
	infos, err := h.folderInfos(ctx, u)
	if err != nil {
		return nil, err
	}
	t := &folderTree{byKey: map[string]*ewsFolderNode{}}
	addNode := func(n *ewsFolderNode) {
		t.nodes = append(t.nodes, n)
		t.byKey[strings.ToLower(n.Key)] = n
	}
	have := map[string]FolderInfo{}
	for _, fi := range infos {
		have[strings.ToLower(fi.Name)] = fi
	}
	for _, w := range ewsWellKnown {
		n := &ewsFolderNode{Key: w.Key, Parent: w.Parent, Distinguished: w.ID, Name: w.Name, Elem: w.Elem, Class: w.Class}
		if fi, ok := have[strings.ToLower(FolderRecoverableDeletions)]; ok && w.ID == "recoverableitemsdeletions" {
			// Soft-deleted items, once there are any (softDelete).
			n.Key, n.Total, n.Unread = FolderRecoverableDeletions, fi.Total, fi.Unread
		} else if !n.virtual() {
			fi, ok := have[strings.ToLower(w.Key)]
			if !ok {
				continue
			}
			n.Parent, n.Total, n.Unread = virtualKey+"msgfolderroot", fi.Total, fi.Unread
		}
		addNode(n)
	}
	slices.SortFunc(infos, func(a, b FolderInfo) int { return strings.Compare(a.Name, b.Name) }) // parents first
	for _, fi := range infos {
		if t.get(fi.Name) != nil || strings.EqualFold(fi.Name, recoverableItems) {
			continue
		}
		parent, name := virtualKey+"msgfolderroot", fi.Name
		if i := strings.LastIndex(fi.Name, "/"); i >= 0 {
			parent, name = fi.Name[:i], fi.Name[i+1:]
		}
		if p := t.get(parent); p != nil {
			parent = p.Key
		}
		addNode(&ewsFolderNode{Key: fi.Name, Parent: parent, Name: name, Elem: "Folder", Class: "IPF.Note", Total: fi.Total, Unread: fi.Unread})
	}
	for _, n := range t.nodes {
		if p := t.get(n.Parent); p != nil {
			p.Children++
		}
	}
	return t, nil
}

// resolve finds the folder a request names.
func (t *folderTree) resolve(u *User, f folderRef) (*ewsFolderNode, *responseMessage) {
	if f.Mailbox != "" && !strings.EqualFold(f.Mailbox, u.Address) {
		return nil, &ewsAccessDenied
	}
	if f.Distinguished != "" {
		for _, n := range t.nodes {
			if strings.EqualFold(n.Distinguished, f.Distinguished) {
				return n, nil
			}
		}
		return nil, &ewsFolderNotFound
	}
	key, ok := decodeFolderID(f.ID)
	if !ok {
		return nil, &ewsIDMalformed
	}
	if n := t.get(key); n != nil {
		return n, nil
	}
	return nil, &ewsFolderNotFound
}

// ewsFolderID is the FolderId of a folder key.
func ewsFolderID(key string) string {
	return base64.StdEncoding.EncodeToString(append([]byte{1}, key...))
}

func decodeFolderID(id string) (string, bool) {
	if len(id) > 2048 {
		return "", false
	}
	b, err := base64.StdEncoding.DecodeString(id)
	if err != nil || len(b) < 2 || b[0] != 1 {
		return "", false
	}
	return string(b[1:]), true
}

// changeKey is a version stamp of a folder or item: it changes when what
// it covers changes, as Exchange's change keys do.
func changeKey(kind byte, parts ...string) string {
	h := fnv.New64a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return base64.StdEncoding.EncodeToString(append([]byte{kind, 0, 0, 0}, h.Sum(nil)...))
}

// folderXML renders a folder in shape s.
func folderXML(n *ewsFolderNode, s ewsShape) *el {
	id := ewsFolderID(n.Key)
	f := E("t:"+n.Elem, T("t:FolderId", "").A("Id", id).A("ChangeKey", changeKey(1, n.Key, strconv.Itoa(n.Total), strconv.Itoa(n.Unread), strconv.Itoa(n.Children))))
	if n.Parent != "" && s.wants("folder:ParentFolderId", false) {
		f.add(T("t:ParentFolderId", "").A("Id", ewsFolderID(n.Parent)).A("ChangeKey", changeKey(1, n.Parent)))
	}
	if n.Class != "" && s.wants("folder:FolderClass", false) {
		f.add(T("t:FolderClass", n.Class))
	}
	if s.wants("folder:DisplayName", true) {
		f.add(T("t:DisplayName", n.Name))
	}
	if s.wants("folder:TotalCount", true) {
		f.add(tInt("t:TotalCount", int64(n.Total)))
	}
	if s.wants("folder:ChildFolderCount", true) {
		f.add(tInt("t:ChildFolderCount", int64(n.Children)))
	}
	if s.wants("folder:EffectiveRights", false) {
		f.add(E("t:EffectiveRights", tBool("t:CreateAssociated", true), tBool("t:CreateContents", true),
			tBool("t:CreateHierarchy", true), tBool("t:Delete", true), tBool("t:Modify", true), tBool("t:Read", true), tBool("t:ViewPrivateItems", true)))
	}
	if n.Distinguished != "" && s.wants("folder:DistinguishedFolderId", false) {
		f.add(T("t:DistinguishedFolderId", n.Distinguished))
	}
	if (n.Elem == "Folder" || n.Elem == "TasksFolder") && s.wants("folder:UnreadCount", true) {
		f.add(tInt("t:UnreadCount", int64(n.Unread)))
	}
	return f
}

// treeOrFail reads the folder tree; on failure every folder of the
// request gets ErrorInternalServerError.
func (h *Handler) treeOrFail(r *http.Request, u *User, log *slog.Logger) *folderTree {
	t, err := h.folderTree(r.Context(), u)
	if err != nil {
		log.Error("ews: folder tree", "err", err)
		return nil
	}
	return t
}

// eachFolder is the response to op with one message for each folder refs
// name: fn's for a folder that resolves in t, the resolve error for one that
// does not, and ErrorInternalServerError for all when t could not be read
// (treeOrFail returned nil).
func eachFolder(op string, t *folderTree, u *User, refs []folderRef, fn func(n *ewsFolderNode) *el) *el {
	var msgs []*el
	for _, ref := range refs {
		if t == nil {
			msgs = append(msgs, respMsg(op, ewsInternal))
			continue
		}
		n, fail := t.resolve(u, ref)
		if fail != nil {
			msgs = append(msgs, respMsg(op, *fail))
			continue
		}
		msgs = append(msgs, fn(n))
	}
	return opResponse(op, msgs)
}

func (h *Handler) ewsGetFolder(r *http.Request, u *User, op *xnode, log *slog.Logger) *el {
	refs := folderRefs(op.child("FolderIds"))
	shape := shapeOf(op.child("FolderShape"))
	return eachFolder("GetFolder", h.treeOrFail(r, u, log), u, refs, func(n *ewsFolderNode) *el {
		return respMsg("GetFolder", okMessage(), E("m:Folders", folderXML(n, shape)))
	})
}

func (h *Handler) ewsFindFolder(r *http.Request, u *User, op *xnode, log *slog.Logger) *el {
	shape := shapeOf(op.child("FolderShape"))
	view, _ := pageView(op.child("IndexedPageFolderView")) // validated
	deep := op.attr("Traversal") == "Deep"
	t := h.treeOrFail(r, u, log)
	return eachFolder("FindFolder", t, u, folderRefs(op.child("ParentFolderIds")), func(n *ewsFolderNode) *el {
		found := t.children(n.Key)
		if deep {
			found = t.descendants(n.Key)
		}
		start, end := view.window(len(found))
		folders := E("t:Folders")
		for _, c := range found[start:end] {
			folders.add(folderXML(c, shape))
		}
		return respMsg("FindFolder", okMessage(), view.rootFolder(end, len(found), folders))
	})
}

// EWS errors of folder changes (messages.xsd ResponseCodeType).
var (
	ewsFolderExists         = errMessage("ErrorFolderExists", "A folder with the specified name already exists.")
	ewsDeleteDistinguished  = errMessage("ErrorDeleteDistinguishedFolder", "Distinguished folders cannot be deleted.")
	ewsCannotCreateFolder   = errMessage("ErrorCannotCreateFolder", "The folder could not be created.")
	ewsFolderSaveNotAllowed = errMessage("ErrorInvalidOperation", "The operation isn't supported on this folder.")
)

func (h *Handler) ewsCreateFolder(r *http.Request, u *User, ms MailStore, op *xnode, log *slog.Logger) *el {
	t := h.treeOrFail(r, u, log)
	refs := folderRefs(op.child("ParentFolderId"))
	var msgs []*el
	for _, f := range op.child("Folders").Kids {
		name := strings.TrimSpace(f.text("DisplayName"))
		if t == nil || len(refs) != 1 {
			msgs = append(msgs, respMsg("CreateFolder", ewsInternal))
			continue
		}
		parent, fail := t.resolve(u, refs[0])
		switch {
		case fail != nil:
			msgs = append(msgs, respMsg("CreateFolder", *fail))
			continue
		case parent.virtual() && parent.Distinguished != "msgfolderroot":
			msgs = append(msgs, respMsg("CreateFolder", ewsFolderSaveNotAllowed))
			continue
		case name == "" || strings.Contains(name, "/"):
			msgs = append(msgs, respMsg("CreateFolder", ewsCannotCreateFolder))
			continue
		}
		store := name
		if !parent.virtual() {
			store = parent.Key + "/" + name
		}
		if err := ms.CreateFolder(r.Context(), u.Address, store); err != nil {
			if errors.Is(err, ErrFolderExists) {
				msgs = append(msgs, respMsg("CreateFolder", ewsFolderExists))
				continue
			}
			log.Error("ews: create folder", "err", err)
			msgs = append(msgs, respMsg("CreateFolder", ewsInternal))
			continue
		}
		elem := f.Name.Local
		if !slices.Contains([]string{"Folder", "CalendarFolder", "ContactsFolder", "TasksFolder", "SearchFolder"}, elem) {
			elem = "Folder"
		}
		n := &ewsFolderNode{Key: store, Name: name, Elem: elem}
		msgs = append(msgs, respMsg("CreateFolder", okMessage(), E("m:Folders", folderXML(n, ewsShape{BaseShape: "IdOnly"}))))
	}
	return opResponse("CreateFolder", msgs)
}

func (h *Handler) ewsDeleteFolder(r *http.Request, u *User, ms MailStore, op *xnode, log *slog.Logger) *el {
	t := h.treeOrFail(r, u, log)
	mode := op.attr("DeleteType")
	return eachFolder("DeleteFolder", t, u, folderRefs(op.child("FolderIds")), func(n *ewsFolderNode) *el {
		if n.Distinguished != "" || n.virtual() {
			return respMsg("DeleteFolder", ewsDeleteDistinguished)
		}
		var err error
		inTrash := strings.HasPrefix(strings.ToLower(n.Key), strings.ToLower(FolderDeletedItems)+"/")
		if mode == "MoveToDeletedItems" && !inTrash {
			err = ms.RenameFolder(r.Context(), u.Address, n.Key, FolderDeletedItems+"/"+n.Name)
		} else {
			err = ms.DeleteFolder(r.Context(), u.Address, n.Key)
		}
		switch {
		case errors.Is(err, ErrFolderExists):
			return respMsg("DeleteFolder", ewsFolderExists)
		case err != nil:
			log.Error("ews: delete folder", "err", err)
			return respMsg("DeleteFolder", ewsInternal)
		}
		return respMsg("DeleteFolder", okMessage())
	})
}

// folderRefs reads FolderIds / ParentFolderIds / ToFolderId.
func folderRefs(n *xnode) []folderRef {
	var out []folderRef
	if n == nil {
		return nil
	}
	for _, k := range n.Kids {
		switch k.Name.Local {
		case "DistinguishedFolderId":
			out = append(out, folderRef{Distinguished: k.attr("Id"), Mailbox: k.path("Mailbox").text("EmailAddress")})
		case "FolderId":
			out = append(out, folderRef{ID: k.attr("Id")})
		}
	}
	return out
}

// indexedView is an IndexedPageItemView or IndexedPageFolderView.
type indexedView struct {
	paged       bool
	max, offset int
	fromEnd     bool
}

func pageView(n *xnode) (indexedView, error) {
	v := indexedView{}
	if n == nil {
		return v, nil
	}
	v.paged = true
	var err error
	if s := n.attr("MaxEntriesReturned"); s != "" {
		if v.max, err = strconv.Atoi(s); err != nil || v.max < 1 {
			return v, errSchema{fmt.Sprintf("The 'MaxEntriesReturned' attribute is invalid - The value '%s' is invalid according to its datatype.", s)}
		}
	}
	if s := n.attr("Offset"); s != "" {
		if v.offset, err = strconv.Atoi(s); err != nil || v.offset < 0 {
			return v, errSchema{fmt.Sprintf("The 'Offset' attribute is invalid - The value '%s' is invalid according to its datatype.", s)}
		}
	}
	switch s := n.attr("BasePoint"); s {
	case "", "Beginning":
	case "End":
		v.fromEnd = true
	default:
		return v, errSchema{fmt.Sprintf("The 'BasePoint' attribute is invalid - The value '%s' is invalid according to its datatype.", s)}
	}
	return v, nil
}

// window is the [start, end) of a page over total entries, with EWS's
// 1000-entry cap.
func (v indexedView) window(total int) (start, end int) {
	n := maxEWSPage
	if v.max > 0 && v.max < n {
		n = v.max
	}
	start = min(v.offset, total)
	if v.fromEnd {
		start = max(0, total-v.offset-n)
	}
	return start, min(start+n, total)
}

// rootFolder is the m:RootFolder of a FindFolder or FindItem answer around
// list, the page that ends at end of total entries.
func (v indexedView) rootFolder(end, total int, list *el) *el {
	root := E("m:RootFolder")
	if v.paged {
		root.A("IndexedPagingOffset", strconv.Itoa(end))
	}
	return root.A("TotalItemsInView", strconv.Itoa(total)).A("IncludesLastItemInRange", strconv.FormatBool(end == total)).add(list)
}
