package imapd

import (
	"errors"

	"github.com/emersion/go-imap/v2"

	"github.com/exsim/exsim/store"
)

// errInsufficientResources answers an APPEND the in-flight budget cannot
// hold.
var errInsufficientResources = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeLimit, Text: "Insufficient system resources."}

// storeRefusals are the store's sentinel errors and the NO each becomes,
// with the RFC 5530 response code that fits, first match first.
var storeRefusals = []struct {
	err  error
	code imap.ResponseCode
	text string
}{
	{store.ErrNoFolder, imap.ResponseCodeNonExistent, "The requested item could not be found."},
	{store.ErrFolderExists, imap.ResponseCodeAlreadyExists, "Mailbox already exists."},
	{store.ErrDefaultFolder, imap.ResponseCodeCannot, "Default folders cannot be deleted or renamed."},
	{store.ErrHasChildren, imap.ResponseCodeHasChildren, "Mailbox has subfolders."},
	{store.ErrBadName, imap.ResponseCodeCannot, "Invalid mailbox name."},
	{store.ErrSameFolder, imap.ResponseCodeCannot, "Source and destination mailboxes are the same."},
	{store.ErrTooLarge, imap.ResponseCodeTooBig, "Message too large."},
	{store.ErrNoMailbox, imap.ResponseCodeNonExistent, "Mailbox not found."},
	{store.ErrClosed, imap.ResponseCodeUnavailable, "Server Unavailable. 15"},
}

// storeError turns store errors into IMAP status responses (storeRefusals;
// a damaged store answers as ErrClosed does, with CORRUPTION). Unknown
// errors pass through; imapserver logs them and answers NO [SERVERBUG].
func storeError(err error) error {
	if err == nil {
		return nil
	}
	for _, r := range storeRefusals {
		if errors.Is(err, r.err) {
			return &imap.Error{Type: imap.StatusResponseTypeNo, Code: r.code, Text: r.text}
		}
	}
	if ce := (*store.CorruptError)(nil); errors.As(err, &ce) {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCorruption, Text: "Server Unavailable. 15"}
	}
	return err
}

// tryCreate marks a missing destination of APPEND, COPY or MOVE
// (RFC 9051 section 6.3.12).
func tryCreate(err error) error {
	if errors.Is(err, store.ErrNoFolder) {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeTryCreate, Text: "The requested item could not be found."}
	}
	return storeError(err)
}

var errReadOnly = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: "The mailbox is read-only."}

var errFolderGone = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeNonExistent, Text: "The selected mailbox has been deleted."}
