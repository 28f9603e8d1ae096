package easclient

import (
	"context"
	"encoding/base64"
	"fmt"
	"strconv"

	"github.com/exsim/exsim/internal/wbxml"
)

const policyType = "MS-EAS-Provisioning-WBXML"

// Provision runs the policy key dance (MS-ASPROV 3.1.5.1): ask for the
// policy, acknowledge its temporary key, keep the final key.
func (c *Client) Provision(ctx context.Context) error {
	c.mu.Lock()
	c.policyKey = ""
	c.mu.Unlock()
	ask := wbxml.E("Provision:Provision",
		wbxml.E("Settings:DeviceInformation", wbxml.E("Settings:Set",
			wbxml.T("Settings:Model", "exsim"), wbxml.T("Settings:FriendlyName", "exsim ActiveSync client"),
			wbxml.T("Settings:OS", "Go"), wbxml.T("Settings:UserAgent", "exsim-easclient/1.0"))),
		wbxml.E("Provision:Policies", wbxml.E("Provision:Policy", wbxml.T("Provision:PolicyType", policyType))))
	resp, err := c.do(ctx, "Provision", ask, params{})
	if err != nil {
		return err
	}
	policy := resp.root.Path("Policies", "Policy")
	if err := statusOf("Provision", resp.root.Value("Status"), "1"); err != nil {
		return err
	}
	if err := statusOf("Provision", policy.Value("Status"), "1"); err != nil {
		return err
	}
	temp := policy.Value("PolicyKey")
	if temp == "" || !policy.Has("Data") {
		return fmt.Errorf("activesync: Provision: no policy or temporary key in the answer")
	}
	ack := wbxml.E("Provision:Provision", wbxml.E("Provision:Policies", wbxml.E("Provision:Policy",
		wbxml.T("Provision:PolicyType", policyType), wbxml.T("Provision:PolicyKey", temp), wbxml.T("Provision:Status", "1"))))
	c.mu.Lock()
	c.policyKey = temp // the acknowledgement carries the temporary key
	c.mu.Unlock()
	if resp, err = c.do(ctx, "Provision", ack, params{}); err != nil {
		return err
	}
	policy = resp.root.Path("Policies", "Policy")
	if err := statusOf("Provision", policy.Value("Status"), "1"); err != nil {
		return err
	}
	c.mu.Lock()
	c.policyKey = policy.Value("PolicyKey")
	c.mu.Unlock()
	return nil
}

// FolderSync brings the folder hierarchy up to date and returns it.
func (c *Client) FolderSync(ctx context.Context) ([]Folder, error) {
	c.mu.Lock()
	key := c.folderKey
	c.mu.Unlock()
	if key == "" {
		key = "0"
	}
	resp, err := c.do(ctx, "FolderSync", wbxml.E("FolderHierarchy:FolderSync", wbxml.T("FolderHierarchy:SyncKey", key)), params{})
	if err != nil {
		return nil, err
	}
	if err := statusOf("FolderSync", resp.root.Value("Status"), "1"); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if key == "0" {
		c.folders, c.keys = nil, nil
	}
	c.folderKey = resp.root.Value("SyncKey")
	for _, ch := range resp.root.Path("Changes").Elements() {
		id := ch.Value("ServerId")
		for i := 0; i < len(c.folders); i++ {
			if c.folders[i].ServerID == id {
				c.folders = append(c.folders[:i], c.folders[i+1:]...)
				i--
			}
		}
		if ch.Tag == "Add" || ch.Tag == "Update" {
			t, _ := strconv.Atoi(ch.Value("Type"))
			c.folders = append(c.folders, Folder{ServerID: id, ParentID: ch.Value("ParentId"), DisplayName: ch.Value("DisplayName"), Type: t})
		}
	}
	return append([]Folder(nil), c.folders...), nil
}

// FolderOfType is the first folder of a type (TypeInbox...), from the last FolderSync.
func (c *Client) FolderOfType(t int) (Folder, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, f := range c.folders {
		if f.Type == t {
			return f, true
		}
	}
	return Folder{}, false
}

// Item is an item a Sync brought.
type Item struct {
	ServerID string
	Data     *wbxml.Node // ApplicationData
}

// Value is one element of the item ("Email:Subject").
func (it Item) Value(name string) string { return it.Data.Value(name) }

// Body is the item's airsyncbase:Body Data.
func (it Item) Body() string { return it.Data.Path("AirSyncBase:Body").Value("AirSyncBase:Data") }

// SyncResult is what one Sync of one collection brought.
type SyncResult struct {
	Added, Changed []Item
	Deleted        []string
	MoreAvailable  bool
	Responses      []*wbxml.Node // the answers to the device's own commands
}

// SyncOptions are the Options of a collection's Sync.
type SyncOptions struct {
	BodyType   int // 1 plain text (the default), 2 HTML, 4 MIME
	Truncation int // bytes; 0 none
	WindowSize int // 0: the server's default
	// Commands are the device's own changes (AirSync:Add, Change,
	// Delete, Fetch elements).
	Commands []*wbxml.Node
}

// Sync synchronizes one collection. The first Sync of a collection
// primes it with SyncKey 0 and then asks for its items.
func (c *Client) Sync(ctx context.Context, collectionID string, o SyncOptions) (*SyncResult, error) {
	c.mu.Lock()
	key := c.keys[collectionID]
	c.mu.Unlock()
	if key == "" {
		if _, err := c.syncOnce(ctx, collectionID, "0", o, false); err != nil {
			return nil, err
		}
	}
	c.mu.Lock()
	key = c.keys[collectionID]
	c.mu.Unlock()
	return c.syncOnce(ctx, collectionID, key, o, true)
}

// Add is the AirSync:Add element of a device's new item.
func Add(clientID string, data ...*wbxml.Node) *wbxml.Node {
	return wbxml.E("AirSync:Add", wbxml.T("AirSync:ClientId", clientID), wbxml.E("AirSync:ApplicationData", data...))
}

// Change is the AirSync:Change element of a device's change.
func Change(serverID string, data ...*wbxml.Node) *wbxml.Node {
	return wbxml.E("AirSync:Change", wbxml.T("AirSync:ServerId", serverID), wbxml.E("AirSync:ApplicationData", data...))
}

// Delete is the AirSync:Delete element of a device's deletion.
func Delete(serverID string) *wbxml.Node {
	return wbxml.E("AirSync:Delete", wbxml.T("AirSync:ServerId", serverID))
}

func (c *Client) syncOnce(ctx context.Context, collectionID, key string, o SyncOptions, withOptions bool) (*SyncResult, error) {
	col := wbxml.E("AirSync:Collection", wbxml.T("AirSync:SyncKey", key), wbxml.T("AirSync:CollectionId", collectionID))
	if withOptions {
		col.Add(wbxml.E("AirSync:GetChanges"))
		if o.WindowSize > 0 {
			col.Add(wbxml.T("AirSync:WindowSize", strconv.Itoa(o.WindowSize)))
		}
		bt := o.BodyType
		if bt == 0 {
			bt = 1
		}
		bp := wbxml.E("AirSyncBase:BodyPreference", wbxml.T("AirSyncBase:Type", strconv.Itoa(bt)))
		if o.Truncation > 0 {
			bp.Add(wbxml.T("AirSyncBase:TruncationSize", strconv.Itoa(o.Truncation)))
		}
		opts := wbxml.E("AirSync:Options", bp)
		if bt == 4 {
			opts.Add(wbxml.T("AirSync:MIMESupport", "2"))
		}
		col.Add(opts)
		if len(o.Commands) > 0 {
			col.Add(wbxml.E("AirSync:Commands", o.Commands...))
		}
	}
	resp, err := c.do(ctx, "Sync", wbxml.E("AirSync:Sync", wbxml.E("AirSync:Collections", col)), params{})
	if err != nil {
		return nil, err
	}
	if resp.root == nil {
		return &SyncResult{}, nil // no changes (MS-ASCMD 2.2.2.20)
	}
	if st := resp.root.Value("Status"); st != "" {
		return nil, statusOf("Sync", st, "1")
	}
	rc := resp.root.Path("Collections", "Collection")
	if rc == nil {
		return nil, fmt.Errorf("activesync: Sync: no collection in the answer: %s", resp.root.XML())
	}
	if err := statusOf("Sync", rc.Value("Status"), "1"); err != nil {
		if rc.Value("Status") == "3" { // invalid key: start over next time
			c.mu.Lock()
			delete(c.keys, collectionID)
			c.mu.Unlock()
		}
		return nil, err
	}
	c.mu.Lock()
	if c.keys == nil {
		c.keys = map[string]string{}
	}
	c.keys[collectionID] = rc.Value("SyncKey")
	c.mu.Unlock()
	out := &SyncResult{MoreAvailable: rc.Has("MoreAvailable")}
	for _, cmd := range rc.Path("Commands").Elements() {
		it := Item{ServerID: cmd.Value("ServerId"), Data: cmd.Child("ApplicationData")}
		switch cmd.Tag {
		case "Add":
			out.Added = append(out.Added, it)
		case "Change":
			out.Changed = append(out.Changed, it)
		case "Delete", "SoftDelete":
			out.Deleted = append(out.Deleted, it.ServerID)
		}
	}
	if r := rc.Child("Responses"); r != nil {
		out.Responses = r.Elements()
	}
	return out, nil
}

// GetItemEstimate is how many changes the next Sync of a collection brings.
func (c *Client) GetItemEstimate(ctx context.Context, collectionID string) (int, error) {
	c.mu.Lock()
	key := c.keys[collectionID]
	c.mu.Unlock()
	if key == "" {
		key = "0"
	}
	req := wbxml.E("GetItemEstimate:GetItemEstimate", wbxml.E("GetItemEstimate:Collections", wbxml.E("GetItemEstimate:Collection",
		wbxml.T("AirSync:SyncKey", key), wbxml.T("GetItemEstimate:CollectionId", collectionID))))
	resp, err := c.do(ctx, "GetItemEstimate", req, params{})
	if err != nil {
		return 0, err
	}
	r := resp.root.Child("Response")
	if err := statusOf("GetItemEstimate", r.Value("Status"), "1"); err != nil {
		return 0, err
	}
	return strconv.Atoi(r.Path("Collection").Value("Estimate"))
}

// Fetch gets one item whole through ItemOperations; bodyType as in SyncOptions.
func (c *Client) Fetch(ctx context.Context, collectionID, serverID string, bodyType int) (Item, error) {
	if bodyType == 0 {
		bodyType = 1
	}
	req := wbxml.E("ItemOperations:ItemOperations", wbxml.E("ItemOperations:Fetch",
		wbxml.T("ItemOperations:Store", "Mailbox"), wbxml.T("AirSync:CollectionId", collectionID), wbxml.T("AirSync:ServerId", serverID),
		fetchOptions(bodyType)))
	resp, err := c.do(ctx, "ItemOperations", req, params{})
	if err != nil {
		return Item{}, err
	}
	f := resp.root.Path("Response", "Fetch")
	if err := statusOf("ItemOperations", f.Value("Status"), "1"); err != nil {
		return Item{}, err
	}
	return Item{ServerID: serverID, Data: f.Child("Properties")}, nil
}

// fetchOptions asks for one body type; MIME needs MIMESupport too
// (MS-ASCMD 2.2.3.108.2).
func fetchOptions(bodyType int) *wbxml.Node {
	o := wbxml.E("ItemOperations:Options")
	if bodyType == 4 {
		o.Add(wbxml.T("AirSync:MIMESupport", "2"))
	}
	return o.Add(wbxml.E("AirSyncBase:BodyPreference", wbxml.T("AirSyncBase:Type", strconv.Itoa(bodyType))))
}

// FetchAttachment gets an attachment by its FileReference, inline
// (base64 in the WBXML) or, with multipart, as a binary part.
func (c *Client) FetchAttachment(ctx context.Context, fileRef string, multipart bool) (contentType string, data []byte, err error) {
	req := wbxml.E("ItemOperations:ItemOperations", wbxml.E("ItemOperations:Fetch",
		wbxml.T("ItemOperations:Store", "Mailbox"), wbxml.T("AirSyncBase:FileReference", fileRef)))
	resp, err := c.do(ctx, "ItemOperations", req, params{acceptMultiPart: multipart})
	if err != nil {
		return "", nil, err
	}
	f := resp.root.Path("Response", "Fetch")
	if err := statusOf("ItemOperations", f.Value("Status"), "1"); err != nil {
		return "", nil, err
	}
	props := f.Child("Properties")
	if part := props.Value("Part"); part != "" {
		n, err := strconv.Atoi(part)
		if err != nil || n < 1 || n >= len(resp.parts) {
			return "", nil, fmt.Errorf("activesync: ItemOperations: part %q not in the answer", part)
		}
		return props.Value("AirSyncBase:ContentType"), resp.parts[n], nil
	}
	data, err = base64.StdEncoding.DecodeString(props.Value("Data"))
	return props.Value("AirSyncBase:ContentType"), data, err
}

// SendMail sends a MIME message (MS-ASCMD 2.2.2.17).
func (c *Client) SendMail(ctx context.Context, clientID string, mime []byte, saveInSent bool) error {
	return c.compose(ctx, "SendMail", clientID, mime, saveInSent, nil)
}

// SmartReply replies to an item; the server adds the original.
func (c *Client) SmartReply(ctx context.Context, clientID, folderID, itemID string, mime []byte, saveInSent bool) error {
	return c.compose(ctx, "SmartReply", clientID, mime, saveInSent, source(folderID, itemID))
}

// SmartForward forwards an item; the server attaches the original.
func (c *Client) SmartForward(ctx context.Context, clientID, folderID, itemID string, mime []byte, saveInSent bool) error {
	return c.compose(ctx, "SmartForward", clientID, mime, saveInSent, source(folderID, itemID))
}

func source(folderID, itemID string) *wbxml.Node {
	return wbxml.E("ComposeMail:Source", wbxml.T("ComposeMail:FolderId", folderID), wbxml.T("ComposeMail:ItemId", itemID))
}

func (c *Client) compose(ctx context.Context, cmd, clientID string, mime []byte, saveInSent bool, src *wbxml.Node) error {
	req := wbxml.E("ComposeMail:"+cmd, wbxml.T("ComposeMail:ClientId", clientID), src)
	if saveInSent {
		req.Add(wbxml.E("ComposeMail:SaveInSentItems"))
	}
	req.Add(wbxml.O("ComposeMail:Mime", mime))
	resp, err := c.do(ctx, cmd, req, params{})
	if err != nil {
		return err
	}
	if resp.root != nil { // success is an empty answer
		return statusOf(cmd, resp.root.Value("Status"), "1")
	}
	return nil
}

// MoveItems moves an item and returns its ServerId in the new folder.
func (c *Client) MoveItems(ctx context.Context, serverID, srcFolder, dstFolder string) (string, error) {
	req := wbxml.E("Move:MoveItems", wbxml.E("Move:Move", wbxml.T("Move:SrcMsgId", serverID),
		wbxml.T("Move:SrcFldId", srcFolder), wbxml.T("Move:DstFldId", dstFolder)))
	resp, err := c.do(ctx, "MoveItems", req, params{})
	if err != nil {
		return "", err
	}
	r := resp.root.Child("Response")
	if err := statusOf("MoveItems", r.Value("Status"), "3"); err != nil {
		return "", err
	}
	return r.Value("DstMsgId"), nil
}

// Ping statuses a caller tells apart.
const (
	PingExpired = 1 // the heartbeat passed without a change
	PingChanges = 2 // the folders returned changed
)

// Ping waits up to heartbeat seconds for a change in the collections
// (MS-ASCMD 2.2.2.13) and returns the status and the changed folders.
func (c *Client) Ping(ctx context.Context, heartbeat int, class string, collectionIDs ...string) (int, []string, error) {
	fs := wbxml.E("Ping:Folders")
	for _, id := range collectionIDs {
		fs.Add(wbxml.E("Ping:Folder", wbxml.T("Ping:Id", id), wbxml.T("Ping:Class", class)))
	}
	req := wbxml.E("Ping:Ping", wbxml.T("Ping:HeartbeatInterval", strconv.Itoa(heartbeat)), fs)
	resp, err := c.do(ctx, "Ping", req, params{})
	if err != nil {
		return 0, nil, err
	}
	st, _ := strconv.Atoi(resp.root.Value("Status"))
	if st != PingExpired && st != PingChanges {
		return st, nil, &StatusError{Command: "Ping", Status: st}
	}
	var changed []string
	for _, f := range resp.root.Path("Folders").All("Folder") {
		changed = append(changed, f.Text)
	}
	return st, changed, nil
}
