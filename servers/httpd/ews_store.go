package httpd

import (
	"context"
	"errors"
)

// MailStore is what EWS needs from a Backend beyond reading: the whole
// folder tree and changes to folders and items. A Backend that is also a
// MailStore gets the full EWS mailbox surface; one that is not answers
// the read-only subset (GetFolder, FindItem, GetItem on the distinguished
// mail folders).
//
// Folder names are the backend's (IMAP) names, "/"-separated; item ids
// are the ids ListFolder returns. Errors follow Backend's rules.
type MailStore interface {
	// Folders lists every folder of the mailbox with its counts.
	Folders(ctx context.Context, address string) ([]FolderInfo, error)
	CreateFolder(ctx context.Context, address, name string) error
	DeleteFolder(ctx context.Context, address, name string) error
	RenameFolder(ctx context.Context, address, oldName, newName string) error

	// Append stores msg in folder and returns the new item's id.
	Append(ctx context.Context, address, folder string, msg []byte, flags []string) (string, error)
	// SetFlags adds and removes IMAP flags (\Seen, \Flagged) of one item.
	SetFlags(ctx context.Context, address, folder, id string, add, remove []string) error
	// Remove deletes items for good.
	Remove(ctx context.Context, address, folder string, ids []string) error
	// Transfer copies (move false) or moves an item to dest and returns
	// its id there.
	Transfer(ctx context.Context, address, folder, id, dest string, move bool) (string, error)

	// Send submits msg as Backend.Submit does, saving the copy in saveIn
	// ("" for none).
	Send(ctx context.Context, from *User, rcpts []string, msg []byte, saveIn string) error

	// Users lists the directory's mailboxes (ResolveNames).
	Users(ctx context.Context) ([]*User, error)
}

// FolderInfo is one folder of a mailbox.
type FolderInfo struct {
	// ID identifies the folder while it exists, across renames; ""
	// when the backend has no such id (ActiveSync then derives one
	// from the name).
	ID            string
	Name          string
	Total, Unread int
}

// ItemAliasKeyword marks a message EWS rewrote in place (UpdateItem of
// Subject or Categories, which live in the message): the keyword is this
// prefix and the id the message had, so its ItemId stays what it was, as
// Exchange's ItemIds do. Backends report it as MessageInfo.Alias.
const ItemAliasKeyword = "$EwsItemId."

// IMAP flags MailStore understands.
const (
	FlagSeen    = `\Seen`
	FlagFlagged = `\Flagged`
	FlagDraft   = `\Draft`
)

// ErrFolderExists is what MailStore.CreateFolder and RenameFolder return
// (wrapped or not) when the new name is taken.
var ErrFolderExists = errors.New("httpd: folder exists")
