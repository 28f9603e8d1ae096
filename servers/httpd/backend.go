package httpd

import (
	"context"
	"errors"
	"time"
)

// Backend is everything the Client Access front end needs from the Mailbox
// server: the directory (logons, address lookups), the mailbox store, the
// transport (message submission) and published calendars.
//
// Errors: return an error wrapping ErrInvalidCredentials from Authenticate
// for a wrong login or password, and one wrapping ErrNotFound for an unknown
// address, folder, message or unpublished calendar. Any other error is a
// server failure: it is logged and the client gets Exchange's generic error.
type Backend interface {
	// Authenticate checks a logon. login is what the user typed:
	// "alice@contoso.com", "CONTOSO\alice" or "alice"; mapping it to a
	// mailbox is the backend's business.
	Authenticate(ctx context.Context, login, password string) (*User, error)

	// FindUser returns the mailbox whose SMTP address (primary or proxy) is
	// address (Autodiscover).
	FindUser(ctx context.Context, address string) (*User, error)

	// ListFolder returns the messages of one folder of the mailbox of
	// address, newest first. folder is one of the Folder* names.
	ListFolder(ctx context.Context, address, folder string) ([]MessageInfo, error)

	// GetMessage returns one message as raw RFC 5322 bytes.
	GetMessage(ctx context.Context, address, folder, id string) ([]byte, error)

	// MarkRead sets the \Seen flag of one message.
	MarkRead(ctx context.Context, address, folder, id string) error

	// Submit sends msg (a complete RFC 5322 message whose From is the user)
	// to rcpts through the Mailbox server's transport, as the user, and
	// saves a copy in the user's Sent Items.
	Submit(ctx context.Context, from *User, rcpts []string, msg []byte) error

	// AddressBook returns the Global Address List: every mailbox of the
	// organization, as NSPI (Outlook Anywhere) reads it.
	AddressBook(ctx context.Context) ([]AddressEntry, error)

	// CalendarEvents returns a published calendar and its mailbox's
	// address. id and token are the two path segments of
	// /owa/calendar/<id>/<token>/calendar.ics (Exchange's
	// PublishedCalendarUrl: <ExchangeGuid>@<domain> and a random token);
	// ErrNotFound when no mailbox publishes under both.
	CalendarEvents(ctx context.Context, id, token string) (address string, events []Event, err error)
}

// Errors a Backend returns (wrapped or not).
var (
	ErrInvalidCredentials = errors.New("httpd: invalid credentials")
	ErrNotFound           = errors.New("httpd: not found")
)

// The folder names ListFolder, GetMessage and MarkRead receive: the names
// Exchange's IMAP4 service shows for the distinguished folders.
const (
	FolderInbox        = "INBOX"
	FolderSentItems    = "Sent Items"
	FolderDrafts       = "Drafts"
	FolderDeletedItems = "Deleted Items"
	FolderJunkEmail    = "Junk Email"
	FolderCalendar     = "Calendar"
)

// User is an authenticated mailbox user.
type User struct {
	Address     string // primary SMTP address, alice@contoso.com
	DisplayName string // Alice Wood
	HomeServer  string // NetBIOS name of the Mailbox server holding the mailbox, EX01
	HomeFQDN    string // its FQDN, ex01.contoso.com (X-CalculatedBETarget)
	MailboxGUID string // the mailbox's GUID (Autodiscover MailboxId)
	LegacyDN    string // /o=Contoso/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=...; generated when empty
	// Impersonator: the account holds the ApplicationImpersonation role
	// and may act as any mailbox FindUser knows (EWS ExchangeImpersonation).
	Impersonator bool
	// HomeVirtualDirectories are the InternalUrl/ExternalUrl of the home
	// server's web virtual directories, for Autodiscover answers about a
	// mailbox homed on another server than the one answering. Nil: that
	// server's defaults (https://<HomeFQDN>/<path>).
	HomeVirtualDirectories map[string]VirtualDirectory
}

// AddressEntry is one entry of the Global Address List.
type AddressEntry struct {
	DisplayName    string
	Alias          string   // mailNickname, alice
	Address        string   // primary SMTP address
	LegacyDN       string   // legacyExchangeDN; generated as User.LegacyDN when empty
	MailboxGUID    string   // for the generated LegacyDN
	ProxyAddresses []string // SMTP:alice@contoso.com, smtp:...
	ObjectGUID     string   // the object's GUID, 8-4-4-4-12 form
	Created        time.Time
}

// MessageInfo is one line of a folder listing.
type MessageInfo struct {
	ID      string    // the backend's identifier of the message in its folder (e.g. the IMAP UID)
	From    string    // header form, decoded: `Bob Smith <bob@contoso.com>`
	To      string    // header form, decoded
	Subject string    // decoded
	Date    time.Time // received time
	Size    int64     // bytes of the RFC 5322 message
	Read    bool
	Flagged bool   // \Flagged: the EWS follow-up flag
	Alias   string // the id EWS keeps for a message it rewrote (ItemAliasKeyword); "" if none
	Preview string // the first characters of the text body, may be empty
}

// Event is one calendar item (ParseEvents reads them from iCalendar).
type Event struct {
	UID         string
	Summary     string
	Start       time.Time
	End         time.Time
	Location    string
	Description string
	AllDay      bool
	// BusyStatus is Free, Tentative, Busy or OOF (X-MICROSOFT-CDO-BUSYSTATUS;
	// Busy when absent).
	BusyStatus    string
	Organizer     string // SMTP address
	OrganizerName string
	Attendees     []Attendee
	Method        string // the VCALENDAR's METHOD: PUBLISH, REQUEST, CANCEL...
	Sequence      int
	Cancelled     bool
}
