package imapd

import (
	"errors"

	"github.com/emersion/go-imap/v2"

	"github.com/exsim/exsim/store"
)

// errInsufficientResources answers an APPEND the in-flight budget cannot
// hold.
var errInsufficientResources = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeLimit, Text: "Insufficient system resources."}

// storeError turns store errors into IMAP status responses with the RFC 5530
// response code that fits. Unknown errors pass through; imapserver logs them
// and answers NO [SERVERBUG].
func storeError(err error) error {
	no := func(code imap.ResponseCode, text string) error {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: code, Text: text}
	}
	var ce *store.CorruptError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNoFolder):
		return no(imap.ResponseCodeNonExistent, "The requested item could not be found.")
	case errors.Is(err, store.ErrFolderExists):
		return no(imap.ResponseCodeAlreadyExists, "Mailbox already exists.")
	case errors.Is(err, store.ErrDefaultFolder):
		return no(imap.ResponseCodeCannot, "Default folders cannot be deleted or renamed.")
	case errors.Is(err, store.ErrHasChildren):
		return no(imap.ResponseCodeHasChildren, "Mailbox has subfolders.")
	case errors.Is(err, store.ErrBadName):
		return no(imap.ResponseCodeCannot, "Invalid mailbox name.")
	case errors.Is(err, store.ErrSameFolder):
		return no(imap.ResponseCodeCannot, "Source and destination mailboxes are the same.")
	case errors.Is(err, store.ErrTooLarge):
		return no(imap.ResponseCodeTooBig, "Message too large.")
	case errors.Is(err, store.ErrNoMailbox):
		return no(imap.ResponseCodeNonExistent, "Mailbox not found.")
	case errors.Is(err, store.ErrClosed):
		return no(imap.ResponseCodeUnavailable, "Server Unavailable. 15")
	case errors.As(err, &ce):
		return no(imap.ResponseCodeCorruption, "Server Unavailable. 15")
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
