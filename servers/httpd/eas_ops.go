package httpd

import (
	"encoding/base64"
	"encoding/binary"
	"net/http"
	"strconv"
	"strings"

	"github.com/exsim/exsim/internal/wbxml"
)

// itemOperations answers Fetch (MS-ASCMD 2.2.2.9) of a mailbox item by
// CollectionId and ServerId, or of an attachment by FileReference. With
// MS-ASAcceptMultiPart the attachments travel as parts of a multipart
// answer (MS-ASCMD 2.2.2.9.1) instead of base64 in the WBXML.
func (c *easCall) itemOperations() *wbxml.Node {
	if !c.asks("ItemOperations") {
		return c.status(ioProtocolError)
	}
	resp := wbxml.E("ItemOperations:Response")
	var parts [][]byte
	for _, op := range c.body.Children {
		if op.Tag != "Fetch" {
			// EmptyFolderContents and Move are not simulated.
			resp.Add(wbxml.E("ItemOperations:"+op.Tag, wbxml.T("ItemOperations:Status", strconv.Itoa(ioProtocolError))))
			continue
		}
		resp.Add(c.fetch(op, &parts))
	}
	root := wbxml.E("ItemOperations:ItemOperations", wbxml.T("ItemOperations:Status", "1"), resp)
	if !c.q.AcceptMultiPart {
		return root
	}
	part0, err := wbxml.Encode(root)
	if err != nil {
		c.log.Error("activesync: encode response", "err", err)
		return c.status(ioServerError)
	}
	all := append([][]byte{part0}, parts...)
	// Part count, then each part's offset and length, all 32-bit
	// little-endian, then the parts.
	off := 4 + 8*len(all)
	out := binary.LittleEndian.AppendUint32(nil, uint32(len(all)))
	for _, p := range all {
		out = binary.LittleEndian.AppendUint32(out, uint32(off))
		out = binary.LittleEndian.AppendUint32(out, uint32(len(p)))
		off += len(p)
	}
	for _, p := range all {
		out = append(out, p...)
	}
	c.w.Header().Set("Content-Type", "application/vnd.ms-sync.multipart")
	c.w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	c.w.WriteHeader(http.StatusOK)
	c.w.Write(out)
	c.wrote = true
	return nil
}

func (c *easCall) fetch(op *wbxml.Node, parts *[][]byte) *wbxml.Node {
	r := wbxml.E("ItemOperations:Fetch")
	fail := func(st int, ids ...*wbxml.Node) *wbxml.Node {
		return r.Add(wbxml.T("ItemOperations:Status", strconv.Itoa(st))).Add(ids...)
	}
	if s := op.Value("Store"); !strings.EqualFold(s, "Mailbox") {
		return fail(ioUnknownStore)
	}
	if ref := op.Value("AirSyncBase:FileReference"); ref != "" {
		id := wbxml.T("AirSyncBase:FileReference", ref)
		// FileReference is the item's ServerId and the attachment's
		// index: "5:12:0" (Exchange's own form is not documented).
		i := strings.LastIndexByte(ref, ':')
		n, err := strconv.Atoi(ref[i+1:])
		if i < 0 || err != nil || n < 0 {
			return fail(ioBadAttachment, id)
		}
		m, st := c.fetchItem(ref[:strings.IndexByte(ref, ':')], ref[:i])
		if st != ioSuccess {
			return fail(st, id)
		}
		if n >= len(m.msg.Attachments) {
			return fail(ioBadAttachment, id)
		}
		a := m.msg.Attachments[n]
		props := wbxml.E("ItemOperations:Properties", wbxml.T("AirSyncBase:ContentType", a.ContentType))
		if c.q.AcceptMultiPart {
			*parts = append(*parts, a.Data)
			props.Add(wbxml.T("ItemOperations:Part", strconv.Itoa(len(*parts))))
		} else {
			props.Add(wbxml.T("ItemOperations:Data", base64.StdEncoding.EncodeToString(a.Data)))
		}
		return r.Add(wbxml.T("ItemOperations:Status", "1"), id, props)
	}
	colID, sid := op.Value("AirSync:CollectionId"), op.Value("AirSync:ServerId")
	ids := []*wbxml.Node{wbxml.T("AirSync:CollectionId", colID), wbxml.T("AirSync:ServerId", sid)}
	m, st := c.fetchItem(colID, sid)
	if st != ioSuccess {
		return fail(st, ids...)
	}
	ad, err := c.easItemData(m.f, m.key, m.mi, bodyPref(op.Child("Options")))
	if err != nil {
		return fail(c.storeStatus(err, ioNotFound, ioServerError), ids...)
	}
	props := wbxml.E("ItemOperations:Properties")
	props.Children = ad.Children
	return r.Add(wbxml.T("ItemOperations:Status", "1")).Add(ids...).Add(wbxml.T("AirSync:Class", easClass(m.f.Type)), props)
}

type easFetched struct {
	f   easFolderEntry
	key string
	mi  MessageInfo
	msg *shownMessage
}

// fetchItem finds the item serverID of collection colID and parses it.
func (c *easCall) fetchItem(colID, serverID string) (*easFetched, int) {
	f, ok, err := c.folder(colID)
	if err != nil {
		return nil, c.storeStatus(err, ioNotFound, ioServerError)
	}
	if !ok {
		return nil, ioNotFound
	}
	key, ok := itemKey(f, serverID)
	if !ok {
		return nil, ioNotFound
	}
	l, err := c.listing(f, "")
	if err != nil {
		return nil, c.storeStatus(err, ioNotFound, ioServerError)
	}
	mi, ok := l.infos[key]
	if !ok {
		return nil, ioNotFound
	}
	raw, err := c.store.GetMessage(c.r.Context(), c.u.Address, f.Path, mi.ID)
	if err != nil {
		return nil, c.storeStatus(err, ioNotFound, ioServerError)
	}
	m, err := parseMessage(raw)
	if err != nil {
		return nil, ioServerError
	}
	return &easFetched{f: f, key: key, mi: mi, msg: m}, ioSuccess
}

// moveItems moves items between folders (MS-ASCMD 2.2.2.12); each item
// gets a new ServerId in its new folder.
func (c *easCall) moveItems() *wbxml.Node {
	if !c.asks("MoveItems") {
		return c.status(easInvalidXML)
	}
	resp := wbxml.E("Move:MoveItems")
	for _, mv := range c.body.All("Move") {
		src := mv.Value("SrcMsgId")
		r := wbxml.E("Move:Response", wbxml.T("Move:SrcMsgId", src))
		resp.Add(r)
		dstKey, st := c.moveOne(src, mv.Value("SrcFldId"), mv.Value("DstFldId"))
		r.Add(wbxml.T("Move:Status", strconv.Itoa(st)))
		if st == moveSuccess {
			r.Add(wbxml.T("Move:DstMsgId", dstKey))
		}
	}
	return resp
}

func (c *easCall) moveOne(src, srcFld, dstFld string) (string, int) {
	if srcFld == dstFld {
		return "", moveSameFolder
	}
	m, st := c.fetchItem(srcFld, src)
	if st != ioSuccess {
		return "", moveBadSource
	}
	dst, ok, err := c.folder(dstFld)
	if err != nil || !ok {
		return "", moveBadDest
	}
	id, err := c.store.Transfer(c.r.Context(), c.u.Address, m.f.Path, m.mi.ID, dst.Path, true)
	if err != nil {
		c.log.Warn("activesync: move failed", "err", err)
		return "", moveFailed
	}
	// A rewritten item keeps its alias in its new folder too.
	key := id
	if m.mi.Alias != "" {
		key = m.mi.Alias
	}
	return dst.ID + ":" + key, moveSuccess
}
