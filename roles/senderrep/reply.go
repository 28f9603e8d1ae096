package senderrep

import (
	"fmt"
	"net/netip"
)

// What a blocked sender hears. On an Edge, sender reputation blocks a sender
// by adding it to the Connection Filtering agent's IP Block list as a
// machine-generated entry for SenderBlockingPeriod (sender-reputation.md,
// "Setting the SRL block threshold"). Connection filtering then rejects the
// sender's MAIL FROM with 550 5.7.1 and the IP Block list's
// MachineEntryRejectionResponse, whose default text (IPBlockListConfig's
// DefaultMachineRejectionResponse; Set-IPBlockListConfig
// -MachineEntryRejectionResponse changes it) is BlockedRejectionText.
const (
	BlockedReplyCode     = 550
	BlockedReplyEnhanced = "5.7.1"
	// BlockedRejectionText takes the sender's IP address.
	BlockedRejectionText = "External client with IP address %s does not have permissions to submit to this server. Visit http://support.microsoft.com/kb/928123 for more information."
)

// RejectError is the SMTP reply to a sender that sender reputation blocked.
type RejectError struct {
	Code     int    // 550
	Enhanced string // 5.7.1
	Text     string
}

// BlockedReply is the reply to MAIL FROM of a blocked sender addr.
func BlockedReply(addr netip.Addr) *RejectError {
	return &RejectError{Code: BlockedReplyCode, Enhanced: BlockedReplyEnhanced, Text: fmt.Sprintf(BlockedRejectionText, addr.Unmap())}
}

// Error is the reply line without CRLF: "550 5.7.1 External client ...".
func (e *RejectError) Error() string {
	return fmt.Sprintf("%d %s %s", e.Code, e.Enhanced, e.Text)
}

var _ error = (*RejectError)(nil)
