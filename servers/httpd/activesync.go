package httpd

import (
	"fmt"
	"log/slog"
	"net/http"
)

// Exchange ActiveSync's OPTIONS answer (MS-ASHTTP section 2.2.4; the
// command list of Exchange 2016/2019 with protocol 16.1).
const (
	easProtocolVersions = "2.5,12.0,12.1,14.0,14.1,16.0,16.1"
	easProtocolCommands = "Sync,SendMail,SmartForward,SmartReply,GetAttachment,GetHierarchy,CreateCollection,DeleteCollection,MoveCollection,FolderSync,FolderCreate,FolderDelete,FolderUpdate,MoveItems,GetItemEstimate,MeetingResponse,Search,Settings,Ping,ItemOperations,Provision,ResolveRecipients,ValidateCert,Find"
)

// serveActiveSync is /Microsoft-Server-ActiveSync. OPTIONS after logon
// answers the protocol versions and commands; the WBXML commands
// themselves are not simulated and get 501 Not Implemented (MS-ASHTTP
// 2.2.2: the server does not support the command).
func (h *Handler) serveActiveSync(w http.ResponseWriter, r *http.Request, rest string, log *slog.Logger) {
	if h.authenticateAt(w, r, h.cfg.vdirActiveSync(), log, rest, "", "/", "/default.eas") == nil {
		return
	}
	hd := w.Header()
	hd.Set("Cache-Control", "private")
	switch r.Method {
	case http.MethodOptions:
		hd.Set("Allow", "OPTIONS,POST")
		setRaw(hd, "MS-Server-ActiveSync", fmt.Sprintf("%d.%d", h.cfg.ver.Major, h.cfg.ver.Minor))
		setRaw(hd, "MS-ASProtocolVersions", easProtocolVersions)
		setRaw(hd, "MS-ASProtocolCommands", easProtocolCommands)
		hd.Set("Public", "OPTIONS,POST")
		hd.Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
	case http.MethodPost, http.MethodGet:
		log.Info("activesync command not simulated", "proto", "eas", "code", http.StatusNotImplemented)
		hd.Set("Content-Length", "0")
		w.WriteHeader(http.StatusNotImplemented)
	default:
		allow(w, r, h.cfg, http.MethodOptions, http.MethodPost)
	}
}
