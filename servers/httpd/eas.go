package httpd

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/exsim/exsim/internal/wbxml"
)

// Exchange ActiveSync's OPTIONS answer (MS-ASHTTP section 2.2.4; the
// command list of Exchange 2016/2019 with protocol 16.1).
const (
	easProtocolVersions = "2.5,12.0,12.1,14.0,14.1,16.0,16.1"
	easProtocolCommands = "Sync,SendMail,SmartForward,SmartReply,GetAttachment,GetHierarchy,CreateCollection,DeleteCollection,MoveCollection,FolderSync,FolderCreate,FolderDelete,FolderUpdate,MoveItems,GetItemEstimate,MeetingResponse,Search,Settings,Ping,ItemOperations,Provision,ResolveRecipients,ValidateCert,Find"
	easContentType      = "application/vnd.ms-sync.wbxml"
	// maxEASRequest is the ActiveSync virtual directory's
	// maxRequestLength in Exchange's web.config (10240 KB).
	maxEASRequest = 10240 << 10
)

// easSimulated are the protocol versions whose commands exsim answers:
// the WBXML forms of 12.1 to 16.1. 2.5 and 12.0 are advertised, as
// Exchange does, but their commands are not simulated.
var easSimulated = map[string]bool{"12.1": true, "14.0": true, "14.1": true, "16.0": true, "16.1": true}

// easRoots are each command's response root element, which also carries
// a command-level Status (MS-ASCMD 2.2.2).
var easRoots = map[string]string{
	"Sync": "AirSync:Sync", "FolderSync": "FolderHierarchy:FolderSync", "GetItemEstimate": "GetItemEstimate:GetItemEstimate",
	"ItemOperations": "ItemOperations:ItemOperations", "SendMail": "ComposeMail:SendMail", "SmartReply": "ComposeMail:SmartReply",
	"SmartForward": "ComposeMail:SmartForward", "MoveItems": "Move:MoveItems", "Ping": "Ping:Ping", "Provision": "Provision:Provision",
	"FolderCreate": "FolderHierarchy:FolderCreate", "FolderDelete": "FolderHierarchy:FolderDelete", "FolderUpdate": "FolderHierarchy:FolderUpdate",
	"Settings": "Settings:Settings",
}

// easCall is one ActiveSync command being answered.
type easCall struct {
	h     *Handler
	w     http.ResponseWriter
	r     *http.Request
	q     *easRequest
	u     *User
	dev   *easDevice
	store ActiveSyncStore
	body  *wbxml.Node // the decoded WBXML request; nil when there was none
	raw   []byte      // the request body as sent
	log   *slog.Logger
	wrote bool // the command wrote its own answer
}

// version14 reports whether the client speaks 14.0 or later, whose
// provisioning errors travel as statuses rather than HTTP 449.
func (c *easCall) version14() bool { return c.q.Version >= "14.0" }

// serveActiveSync is /Microsoft-Server-ActiveSync (MS-ASHTTP).
func (h *Handler) serveActiveSync(w http.ResponseWriter, r *http.Request, rest string, log *slog.Logger) {
	u := h.authenticateAt(w, r, h.cfg.vdirActiveSync(), log, rest, "", "/", "/default.eas")
	if u == nil {
		return
	}
	hd := w.Header()
	hd.Set("Cache-Control", "private")
	setRaw(hd, "MS-Server-ActiveSync", fmt.Sprintf("%d.%d", h.cfg.ver.Major, h.cfg.ver.Minor))
	switch r.Method {
	case http.MethodOptions:
		hd.Set("Allow", "OPTIONS,POST")
		setRaw(hd, "MS-ASProtocolVersions", easProtocolVersions)
		setRaw(hd, "MS-ASProtocolCommands", easProtocolCommands)
		hd.Set("Public", "OPTIONS,POST")
		hd.Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
	case http.MethodPost:
		h.serveEASCommand(w, r, u, log.With("proto", "eas"))
	default:
		allow(w, r, h.cfg, http.MethodOptions, http.MethodPost)
	}
}

func easEmpty(w http.ResponseWriter, code int) {
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(code)
}

func (h *Handler) serveEASCommand(w http.ResponseWriter, r *http.Request, u *User, log *slog.Logger) {
	q, err := parseEASRequest(r)
	if err != nil {
		// MS-ASHTTP 3.1.5.2: a malformed request line is 400 Bad Request.
		log.Info("activesync: bad request", "code", http.StatusBadRequest, "err", err)
		easEmpty(w, http.StatusBadRequest)
		return
	}
	log = log.With("cmd", q.Cmd, "device", q.DeviceID, "eas_version", q.Version)
	if !easSimulated[q.Version] {
		log.Info("activesync: protocol version not simulated", "code", http.StatusBadRequest)
		easEmpty(w, http.StatusBadRequest)
		return
	}
	st, ok := h.b.(ActiveSyncStore)
	handler := easCommands[q.Cmd]
	if !ok || handler == nil {
		log.Info("activesync command not simulated", "code", http.StatusNotImplemented)
		easEmpty(w, http.StatusNotImplemented)
		return
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxEASRequest))
	if err != nil {
		log.Info("activesync: request too large", "code", http.StatusRequestEntityTooLarge)
		easEmpty(w, http.StatusRequestEntityTooLarge)
		return
	}
	c := &easCall{h: h, w: w, r: r, q: q, u: u, store: st, raw: raw, log: log}
	c.dev = h.easDevices.device(u.Address, q.DeviceID, h.cfg.Now())
	if len(raw) > 0 && strings.HasPrefix(r.Header.Get("Content-Type"), easContentType) {
		if c.body, err = wbxml.Decode(raw); err != nil {
			log.Info("activesync: invalid WBXML", "err", err)
			c.reply(c.status(easInvalidWBXML))
			return
		}
		log.Debug("activesync request", "wbxml", c.body.XML())
	}
	if q.Cmd != "Provision" && !c.provisioned() {
		return
	}
	var resp *wbxml.Node
	if q.Cmd == "Ping" {
		resp = c.ping() // locks the device itself: it must not hold it while waiting
	} else {
		c.dev.mu.Lock()
		resp = handler(c)
		c.dev.mu.Unlock()
	}
	if !c.wrote {
		c.reply(resp)
	}
}

// easCommands are the commands exsim answers. Ping is run apart.
var easCommands = map[string]func(*easCall) *wbxml.Node{
	"Provision": (*easCall).provision, "FolderSync": (*easCall).folderSync, "Sync": (*easCall).sync,
	"GetItemEstimate": (*easCall).getItemEstimate, "ItemOperations": (*easCall).itemOperations, "SendMail": (*easCall).sendMail,
	"SmartReply": (*easCall).smartReply, "SmartForward": (*easCall).smartForward, "MoveItems": (*easCall).moveItems,
	"FolderCreate": (*easCall).folderCreate, "FolderDelete": (*easCall).folderDelete, "FolderUpdate": (*easCall).folderUpdate,
	"Settings": (*easCall).settings,
	"Ping":     func(*easCall) *wbxml.Node { return nil },
}

// provisioned checks the policy key (MS-ASPROV 3.2.5.1). A device that
// has none, or an old one, is told to provision: HTTP 449 before 14.0,
// Status 142 or 144 in the command's answer from 14.0 on.
func (c *easCall) provisioned() bool {
	c.dev.mu.Lock()
	key := c.dev.policyKey
	c.dev.mu.Unlock()
	if key != 0 && c.q.PolicyKey == strconv.FormatUint(uint64(key), 10) {
		return true
	}
	status := easDeviceNotProvisioned
	if c.q.PolicyKey != "" && c.q.PolicyKey != "0" {
		status = easInvalidPolicyKey
	}
	c.log.Info("activesync: device not provisioned", "status", status, "policy_key", c.q.PolicyKey)
	if !c.version14() {
		easEmpty(c.w, 449) // Retry With
		return false
	}
	c.reply(c.status(status))
	return false
}

// asks reports whether the request body is the command's element.
func (c *easCall) asks(tag string) bool { return c.body != nil && c.body.Tag == tag }

// status is the command's root element holding only a Status.
func (c *easCall) status(code int) *wbxml.Node {
	root, ok := easRoots[c.q.Cmd]
	if !ok {
		root = "AirSync:Sync"
	}
	return wbxml.E(root, wbxml.T(statusName(root), strconv.Itoa(code)))
}

// statusName is the Status element of a root's code page.
func statusName(root string) string {
	page, _, _ := strings.Cut(root, ":")
	return page + ":Status"
}

// reply writes resp as WBXML; nil is an empty 200 (SendMail's success).
func (c *easCall) reply(resp *wbxml.Node) {
	if resp == nil {
		easEmpty(c.w, http.StatusOK)
		return
	}
	b, err := wbxml.Encode(resp)
	if err != nil {
		c.log.Error("activesync: encode response", "err", err)
		easEmpty(c.w, http.StatusInternalServerError)
		return
	}
	c.log.Debug("activesync response", "wbxml", resp.XML())
	c.w.Header().Set("Content-Type", easContentType)
	c.w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	c.w.WriteHeader(http.StatusOK)
	c.w.Write(b)
}
