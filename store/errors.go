package store

import (
	"errors"
	"fmt"
)

// Sentinel errors. Callers test them with errors.Is; the returned errors wrap
// them with the mailbox or folder they concern.
var (
	// ErrClosed is returned by every call on a closed Store.
	ErrClosed = errors.New("store: closed")
	// ErrNoMailbox means the address has no mailbox in this store.
	ErrNoMailbox = errors.New("store: no such mailbox")
	// ErrNoFolder means the folder does not exist (or was deleted and
	// re-created since the *Folder handle was obtained).
	ErrNoFolder = errors.New("store: no such folder")
	// ErrFolderExists is returned by CreateFolder and RenameFolder when the
	// target name is taken (names compare case-insensitively, as in Exchange).
	ErrFolderExists = errors.New("store: folder already exists")
	// ErrDefaultFolder protects the default folders (INBOX, Sent Items, ...)
	// from DeleteFolder and RenameFolder, as Exchange does.
	ErrDefaultFolder = errors.New("store: default folders cannot be deleted or renamed")
	// ErrHasChildren refuses to delete a folder that has subfolders
	// (RFC 9051 section 6.3.4, response code HASCHILDREN).
	ErrHasChildren = errors.New("store: folder has subfolders")
	// ErrBadName is returned for folder names that are empty, have empty
	// hierarchy levels, control characters or exceed MaxFolderNameLen.
	ErrBadName = errors.New("store: invalid folder name")
	// ErrNoMessage means no message with that UID exists in the folder.
	ErrNoMessage = errors.New("store: no such message")
	// ErrSameFolder is returned by Move when source and destination are one folder.
	ErrSameFolder = errors.New("store: source and destination folder are the same")
	// ErrTooLarge is returned for a message bigger than Options.MaxMessageSize.
	ErrTooLarge = errors.New("store: message too large")
)

// CorruptError reports a damaged database file or record. It always names the
// database file so an operator knows what to move aside.
type CorruptError struct {
	Path   string // database file
	Record string // which record, e.g. "alice@contoso.com folder 3 uid 7"; empty for the file itself
	Err    error
}

func (e *CorruptError) Error() string {
	if e.Record == "" {
		return fmt.Sprintf("store: %s: damaged database: %v", e.Path, e.Err)
	}
	return fmt.Sprintf("store: %s: damaged record %s: %v", e.Path, e.Record, e.Err)
}

func (e *CorruptError) Unwrap() error { return e.Err }
