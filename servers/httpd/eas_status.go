package httpd

import "errors"

// The status codes ActiveSync answers, by command (MS-ASCMD 2.2.3.177
// and its subsections; MS-ASPROV 2.2.2.54 for Provision).
const (
	// Common status codes of MS-ASCMD 2.2.2 (Common Status Codes).
	easInvalidContent       = 101
	easInvalidWBXML         = 102
	easInvalidXML           = 103
	easServerError          = 110
	easMailSubmissionFailed = 120
	easDeviceNotProvisioned = 142
	easPolicyRefresh        = 143
	easInvalidPolicyKey     = 144
	easItemNotFound         = 150
	// ComposeMail statuses beyond the common ones (MS-ASCMD 2.2.2: common
	// status codes 107 InvalidMIME, 119 MessageHasNoRecipient).
	easInvalidMIME  = 107
	easNoRecipients = 119
	// FolderSync statuses (MS-ASCMD 2.2.3.177.4).
	folderSyncSuccess     = 1
	folderSyncServerError = 6
	folderSyncInvalidKey  = 9
	folderSyncBadRequest  = 10
	// FolderCreate, FolderDelete, FolderUpdate statuses (MS-ASCMD
	// 2.2.3.177.2, .3, .5), with FolderSync's 6, 9 and 10.
	folderExists        = 2
	folderSpecial       = 3
	folderNotFound      = 4
	folderParentMissing = 5
	// ItemOperations statuses (MS-ASCMD 2.2.3.177.8).
	ioSuccess       = 1
	ioProtocolError = 2
	ioServerError   = 3
	ioNotFound      = 6
	ioUnknownStore  = 9
	ioBadAttachment = 15
	// MoveItems statuses (MS-ASCMD 2.2.3.177.9).
	moveBadSource  = 1
	moveBadDest    = 2
	moveSuccess    = 3
	moveSameFolder = 4
	moveFailed     = 5
	// Ping statuses (MS-ASCMD 2.2.3.177.11).
	pingExpired       = 1
	pingChanges       = 2
	pingMissing       = 3
	pingBadInterval   = 5
	pingTooMany       = 6
	pingHierarchySync = 7
	pingServerError   = 8
	// Provision statuses (MS-ASPROV 2.2.2.54.1 for Provision, 2.2.2.54.2 for Policy).
	provSuccess       = 1
	provProtocolError = 2
	policyUnknownType = 3
	policyWrongKey    = 5
	// Settings statuses (MS-ASCMD 2.2.3.177.14).
	settingsSuccess       = 1
	settingsProtocolError = 2
	settingsUnavailable   = 4
	settingsInvalidArgs   = 5
	// Sync statuses (MS-ASCMD 2.2.3.177.17).
	syncSuccess         = 1
	syncInvalidKey      = 3
	syncProtocolError   = 4
	syncServerError     = 5
	syncConversionError = 6
	syncNotFound        = 8
	syncHierarchyChange = 12
	syncIncomplete      = 13
	syncBadWait         = 14
	// GetItemEstimate statuses (MS-ASCMD 2.2.3.177.6).
	estimateSuccess   = 1
	estimateBadFolder = 2
	estimateNotPrimed = 3
	estimateBadKey    = 4
)

// storeStatus maps a backend error to a command status: not found, or a
// server error (logged).
func (c *easCall) storeStatus(err error, notFound, serverError int) int {
	if errors.Is(err, ErrNotFound) {
		return notFound
	}
	c.log.Error("activesync: store", "err", err)
	return serverError
}
