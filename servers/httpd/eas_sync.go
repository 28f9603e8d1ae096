package httpd

import (
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/exsim/exsim/internal/wbxml"
)

// Sync windows (MS-ASCMD 2.2.3.199.2: default 100, at most 512).
const (
	defaultWindowSize = 100
	maxWindowSize     = 512
)

// sync is MS-ASCMD 2.2.2.20: per collection, the device's changes are
// applied, then the server's changes since its SyncKey are sent, at most
// WindowSize of them.
func (c *easCall) sync() *wbxml.Node {
	req := c.body
	if req == nil {
		// An empty Sync repeats the last one with the current keys
		// (MS-ASCMD 2.2.2.20, "Empty Sync Request").
		if c.dev.lastSyncParams == nil {
			return c.status(syncIncomplete)
		}
		req, _ = wbxml.Decode(c.dev.lastSyncParams)
		for _, col := range req.Path("Collections").All("Collection") {
			if st := c.dev.collections[col.Value("CollectionId")]; st != nil {
				col.Child("SyncKey").Text = st.key(c.dev.gen)
			}
			col.Children = slices.DeleteFunc(col.Children, func(n *wbxml.Node) bool { return n.Tag == "Commands" })
		}
	} else if req.Tag != "Sync" {
		return c.status(syncProtocolError)
	} else {
		c.dev.lastSyncParams = c.raw
	}
	cols := req.Path("Collections").All("Collection")
	if len(cols) == 0 {
		return c.status(syncProtocolError)
	}
	wait, bad := syncWait(req)
	if bad != nil {
		return bad
	}
	window := windowSize(req.Value("WindowSize"), maxWindowSize)
	out := wbxml.E("AirSync:Collections")
	for _, col := range cols {
		out.Add(c.syncCollection(col, window))
	}
	if wait == 0 || !quietSync(cols, out) {
		return wbxml.E("AirSync:Sync", out)
	}
	// Nothing to say: wait for a change as Ping does (MS-ASCMD 2.2.3.198,
	// 2.2.3.86.2), then answer the Sync afresh, or with an empty body when
	// the interval passes.
	ids := make([]string, len(cols))
	for i, col := range cols {
		ids[i] = col.Value("CollectionId")
	}
	changed, _, gone := c.awaitChange("sync", ids, wait, nil)
	if gone || len(changed) == 0 {
		c.wrote = gone
		return nil
	}
	out = wbxml.E("AirSync:Collections")
	for _, col := range cols {
		out.Add(c.syncCollection(col, window))
	}
	return wbxml.E("AirSync:Sync", out)
}

// syncWait is how long a Sync may wait for changes: Wait in minutes
// (1-59) or HeartbeatInterval in seconds (60-3540); 0 for no wait. Out
// of range it is Status 14 with the Limit (MS-ASCMD 2.2.3.100).
func syncWait(req *wbxml.Node) (int, *wbxml.Node) {
	secs, lo, hi, scale := 0, 0, 0, 1
	if v := req.Value("Wait"); v != "" {
		secs, _ = strconv.Atoi(v)
		lo, hi, scale = 1, 59, 60
	} else if v := req.Value("HeartbeatInterval"); v != "" {
		secs, _ = strconv.Atoi(v)
		lo, hi = minHeartbeat, maxHeartbeat
	} else {
		return 0, nil
	}
	if secs < lo || secs > hi {
		return 0, wbxml.E("AirSync:Sync", wbxml.T("AirSync:Status", strconv.Itoa(syncBadWait)),
			wbxml.T("AirSync:Limit", strconv.Itoa(max(lo, min(secs, hi)))))
	}
	return secs * scale, nil
}

// quietSync reports whether a Sync brought nothing: no device commands,
// and every collection answered Status 1 with its key unchanged and no
// commands or responses.
func quietSync(cols []*wbxml.Node, out *wbxml.Node) bool {
	for i, r := range out.Children {
		if cols[i].Has("Commands") || r.Value("Status") != "1" || r.Value("SyncKey") != cols[i].Value("SyncKey") ||
			r.Has("Commands") || r.Has("Responses") || r.Has("MoreAvailable") {
			return false
		}
	}
	return true
}

func windowSize(v string, dflt int) int {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return dflt
	}
	return min(n, maxWindowSize)
}

func (c *easCall) syncCollection(col *wbxml.Node, reqWindow int) *wbxml.Node {
	id, key := col.Value("CollectionId"), col.Value("SyncKey")
	resp := wbxml.E("AirSync:Collection")
	fail := func(st int) *wbxml.Node {
		return resp.Add(wbxml.T("AirSync:SyncKey", key), wbxml.T("AirSync:CollectionId", id), wbxml.T("AirSync:Status", strconv.Itoa(st)))
	}
	f, ok, err := c.folder(id)
	switch {
	case err != nil:
		c.log.Error("activesync: list folders", "err", err)
		return fail(syncServerError)
	case !ok:
		return fail(syncHierarchyChange)
	}
	dev := c.dev
	if key == "0" {
		if col.Has("Commands") {
			return fail(syncProtocolError)
		}
		st := &easCollection{}
		st.advance(map[string]string{})
		dev.collections[id] = st
		return resp.Add(wbxml.T("AirSync:SyncKey", st.key(dev.gen)), wbxml.T("AirSync:CollectionId", id),
			wbxml.T("AirSync:Status", "1"))
	}
	st := dev.collections[id]
	var have map[string]string
	if st != nil {
		have = st.state(dev.gen, key)
	}
	if have == nil {
		c.log.Info("activesync: Sync with an unknown key", "sync_key", key, "collection", id)
		return resp.Add(wbxml.T("AirSync:SyncKey", "0"), wbxml.T("AirSync:CollectionId", id),
			wbxml.T("AirSync:Status", strconv.Itoa(syncInvalidKey)))
	}
	if key != st.key(dev.gen) { // the device lost our last answer: answer its key anew
		st.n, st.items = st.prevN, st.prevItem
	}
	opts := col.Child("Options")
	base := maps.Clone(have)
	touched, responses := c.applyClientCommands(f, col, opts)
	l, err := c.listing(f, opts.Value("FilterType"))
	if err != nil {
		c.log.Error("activesync: list folder", "folder", f.Path, "err", err)
		return fail(syncServerError)
	}
	for _, k := range touched { // the device has its own changes already
		if s, ok := l.stamps[k]; ok {
			base[k] = s
		} else {
			delete(base, k)
		}
	}
	commands := wbxml.E("AirSync:Commands")
	more := false
	if getChanges(col) {
		more = c.serverChanges(f, l, base, commands, windowSize(col.Value("WindowSize"), reqWindow), bodyPref(opts))
	}
	newKey := key
	if len(commands.Children) > 0 || len(touched) > 0 || !maps.Equal(base, have) {
		st.advance(base)
		newKey = st.key(dev.gen)
	}
	resp.Add(wbxml.T("AirSync:SyncKey", newKey), wbxml.T("AirSync:CollectionId", id), wbxml.T("AirSync:Status", "1"))
	if more {
		resp.Add(wbxml.E("AirSync:MoreAvailable"))
	}
	if len(commands.Children) > 0 {
		resp.Add(commands)
	}
	if len(responses.Children) > 0 {
		resp.Add(responses)
	}
	return resp
}

// getChanges: GetChanges is true unless it says 0 (MS-ASCMD 2.2.3.84:
// from 12.1 on, the default for a non-zero SyncKey is true).
func getChanges(col *wbxml.Node) bool {
	g := col.Child("GetChanges")
	return g == nil || g.Text != "0"
}

// serverChanges adds to commands the changes the device lacks, at most
// window of them, and records them in base. It reports whether more wait.
func (c *easCall) serverChanges(f easFolderEntry, l *easListing, base map[string]string, commands *wbxml.Node, window int, p easBodyPref) bool {
	adds, changes, deletes := l.pending(base)
	n := 0
	for _, k := range deletes {
		if n == window {
			return true
		}
		commands.Add(wbxml.E("AirSync:Delete", wbxml.T("AirSync:ServerId", f.ID+":"+k)))
		delete(base, k)
		n++
	}
	for _, k := range changes {
		if n == window {
			return true
		}
		mi := l.infos[k]
		var ad *wbxml.Node
		if easClass(f.Type) == "Email" {
			flag := wbxml.E("Email:Flag")
			if mi.Flagged {
				flag.Add(wbxml.T("Email:Status", "2"), wbxml.T("Email:FlagType", "Flag for follow up"))
			}
			ad = wbxml.E("AirSync:ApplicationData", wbxml.T("Email:Read", yesNo(mi.Read)), flag)
		} else {
			var err error
			if ad, err = c.easItemData(f, k, mi, p); err != nil {
				c.log.Warn("activesync: item vanished while syncing", "folder", f.Path, "item", k, "err", err)
				continue
			}
		}
		commands.Add(wbxml.E("AirSync:Change", wbxml.T("AirSync:ServerId", f.ID+":"+k), ad))
		base[k] = l.stamps[k]
		n++
	}
	for _, k := range adds {
		if n == window {
			return true
		}
		ad, err := c.easItemData(f, k, l.infos[k], p)
		if err != nil {
			c.log.Warn("activesync: item vanished while syncing", "folder", f.Path, "item", k, "err", err)
			continue
		}
		commands.Add(wbxml.E("AirSync:Add", wbxml.T("AirSync:ServerId", f.ID+":"+k), ad))
		base[k] = l.stamps[k]
		n++
	}
	return false
}

// itemKey is the key part of a ServerId of folder f ("5:12" -> "12").
func itemKey(f easFolderEntry, serverID string) (string, bool) {
	return strings.CutPrefix(serverID, f.ID+":")
}

// getItemEstimate counts the changes a Sync from the given key would
// bring (MS-ASCMD 2.2.2.7).
func (c *easCall) getItemEstimate() *wbxml.Node {
	if !c.asks("GetItemEstimate") {
		return c.status(easInvalidXML)
	}
	resp := wbxml.E("GetItemEstimate:GetItemEstimate")
	for _, col := range c.body.Path("Collections").All("Collection") {
		id := col.Value("CollectionId")
		r := wbxml.E("GetItemEstimate:Response")
		resp.Add(r)
		fail := func(st int) {
			r.Add(wbxml.T("GetItemEstimate:Status", strconv.Itoa(st)), wbxml.E("GetItemEstimate:Collection",
				wbxml.T("GetItemEstimate:CollectionId", id)))
		}
		f, ok, err := c.folder(id)
		if err != nil || !ok {
			fail(estimateBadFolder)
			continue
		}
		key := col.Value("AirSync:SyncKey")
		st := c.dev.collections[id]
		if key == "0" || st == nil {
			fail(estimateNotPrimed)
			continue
		}
		have := st.state(c.dev.gen, key)
		if have == nil {
			fail(estimateBadKey)
			continue
		}
		l, err := c.listing(f, col.Path("AirSync:Options").Value("AirSync:FilterType"))
		if err != nil {
			c.log.Error("activesync: list folder", "folder", f.Path, "err", err)
			fail(estimateBadFolder)
			continue
		}
		adds, changes, deletes := l.pending(have)
		r.Add(wbxml.T("GetItemEstimate:Status", strconv.Itoa(estimateSuccess)), wbxml.E("GetItemEstimate:Collection",
			wbxml.T("GetItemEstimate:CollectionId", id),
			wbxml.T("GetItemEstimate:Estimate", strconv.Itoa(len(adds)+len(changes)+len(deletes)))))
	}
	return resp
}
