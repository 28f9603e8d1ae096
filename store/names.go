package store

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Delimiter separates hierarchy levels in folder names, as in Exchange's
// IMAP LIST ("Inbox/Sub").
const Delimiter = "/"

// Inbox is the canonical spelling of the INBOX folder (RFC 9051 section 5.1:
// the name is case-insensitive).
const Inbox = "INBOX"

const (
	// MaxFolderNameLen bounds a whole folder path in bytes.
	MaxFolderNameLen = 1024
	// maxLevelLen bounds one hierarchy level (Exchange's folder name limit).
	maxLevelLen = 255
)

// Special-use attributes (RFC 6154).
const (
	SpecialSent    = `\Sent`
	SpecialDrafts  = `\Drafts`
	SpecialTrash   = `\Trash`
	SpecialJunk    = `\Junk`
	SpecialArchive = `\Archive`
)

// FolderSpec is a default folder created with every mailbox.
type FolderSpec struct {
	Name       string
	SpecialUse string // one of the Special* constants or ""
}

// ExchangeFolders are the default folders of an Exchange mailbox as its IMAP
// LIST shows them.
func ExchangeFolders() []FolderSpec {
	return []FolderSpec{
		{Name: Inbox},
		{Name: "Drafts", SpecialUse: SpecialDrafts},
		{Name: "Sent Items", SpecialUse: SpecialSent},
		{Name: "Deleted Items", SpecialUse: SpecialTrash},
		{Name: "Junk Email", SpecialUse: SpecialJunk},
		{Name: "Outbox"},
		{Name: "Archive", SpecialUse: SpecialArchive},
		{Name: "Calendar"},
		{Name: "Contacts"},
		{Name: "Journal"},
		{Name: "Notes"},
		{Name: "Tasks"},
	}
}

// BasicFolders are the folders of a plain (non-Exchange) mail server such as
// the lab's Internet server.
func BasicFolders() []FolderSpec {
	return []FolderSpec{
		{Name: Inbox},
		{Name: "Drafts", SpecialUse: SpecialDrafts},
		{Name: "Sent", SpecialUse: SpecialSent},
		{Name: "Trash", SpecialUse: SpecialTrash},
		{Name: "Junk", SpecialUse: SpecialJunk},
		{Name: "Archive", SpecialUse: SpecialArchive},
	}
}

// normName validates a folder name and returns its display form (INBOX
// canonicalized, trailing delimiter dropped as RFC 9051 section 6.3.4 allows)
// and its lookup key (lower case: Exchange folder names are
// case-insensitive).
func normName(name string) (display, key string, err error) {
	name = strings.TrimSuffix(name, Delimiter)
	if name == "" || len(name) > MaxFolderNameLen || !utf8.ValidString(name) {
		return "", "", fmt.Errorf("%w: %q", ErrBadName, name)
	}
	levels := strings.Split(name, Delimiter)
	for i, l := range levels {
		if l == "" || len(l) > maxLevelLen {
			return "", "", fmt.Errorf("%w: %q", ErrBadName, name)
		}
		for _, r := range l {
			// LIST wildcards cannot be part of a name a client could list.
			if r < 0x20 || r == 0x7f || r == '*' || r == '%' {
				return "", "", fmt.Errorf("%w: %q", ErrBadName, name)
			}
		}
		if i == 0 && strings.EqualFold(l, Inbox) {
			levels[0] = Inbox
		}
	}
	display = strings.Join(levels, Delimiter)
	return display, strings.ToLower(display), nil
}

// parentNames returns the names of every ancestor of name, outermost first.
func parentNames(name string) []string {
	var out []string
	for i := 0; i < len(name); i++ {
		if name[i] == Delimiter[0] {
			out = append(out, name[:i])
		}
	}
	return out
}

// normAddress is the mailbox key: the lower-cased SMTP address.
func normAddress(addr string) (string, error) {
	a := strings.ToLower(strings.TrimSpace(addr))
	if a == "" || len(a) > 320 || !utf8.ValidString(a) {
		return "", fmt.Errorf("%w: %q", ErrNoMailbox, addr)
	}
	for _, r := range a {
		if r <= ' ' || r == 0x7f {
			return "", fmt.Errorf("%w: %q", ErrNoMailbox, addr)
		}
	}
	return a, nil
}
