package httpd

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// fakeBackend is an in-memory mailbox store, directory and transport.
type fakeBackend struct {
	mu        sync.Mutex
	users     []*fakeUser
	authCalls int
	submitted []fakeSubmission
	nextID    int
	failList  error // when set, ListFolder fails with it
}

type fakeUser struct {
	User
	password string
	folders  map[string][]*fakeMessage
	events   []Event
}

type fakeMessage struct {
	info MessageInfo
	raw  []byte
}

type fakeSubmission struct {
	from  string
	rcpts []string
	msg   []byte
}

var _ Backend = (*fakeBackend)(nil)

// newFakeBackend is the contoso lab: alice on EX01 with three messages in
// her Inbox and a published calendar, bob on EX02.
func newFakeBackend() *fakeBackend {
	b := &fakeBackend{}
	alice := b.addUser(User{
		Address: "alice@contoso.com", DisplayName: "Alice Wood", HomeServer: "EX01", HomeFQDN: "ex01.contoso.com",
		MailboxGUID: "5a0a1d3e-4b6f-4a4e-9d7c-2f1e0c9b8a71",
	}, "P@ssw0rd")
	b.addUser(User{
		Address: "bob@contoso.com", DisplayName: "Bob Smith", HomeServer: "EX02", HomeFQDN: "ex02.contoso.com",
		MailboxGUID: "0c6b9a7e-1f2d-4c3b-8a9e-7d6c5b4a3f21",
	}, "P@ssw0rd")
	day := time.Date(2024, 3, 29, 9, 0, 0, 0, time.UTC)
	b.deliver(alice, FolderInbox, day, false, "Bob Smith <bob@contoso.com>", "Quarterly report",
		"text/plain; charset=utf-8", "", "Hi Alice,\r\n\r\nthe numbers are in. <b>Not bold</b> & fine.\r\n\r\nBob\r\n")
	b.deliverPreview(alice, FolderInbox, day.Add(2*time.Hour), true, "Carol Jones <carol@fabrikam.com>", "Lunch on Friday?",
		"text/plain; charset=iso-8859-1", "quoted-printable", "Caf=E9 at noon?\r\n", "Café at noon?")
	b.deliverPreview(alice, FolderInbox, day.Add(4*time.Hour), false, "Fabrikam News <news@fabrikam.com>", "Newsletter <script>alert(1)</script>",
		"text/html; charset=utf-8", "", `<html><body><h1>Spring news</h1><p>Read <a href="https://example.net/">more</a>.</p><img src="https://tracker.example.net/p.gif"><script>parent.document.title="pwned"</script></body></html>`,
		"Spring news. Read more.")
	alice.events = []Event{{
		UID: "040000008200E00074C5B7101A82E008000000001", Summary: "Team meeting; weekly, with everyone",
		Start: day.Add(24 * time.Hour), End: day.Add(25 * time.Hour), Location: "Room 1, building A",
	}}
	return b
}

func (b *fakeBackend) addUser(u User, password string) *fakeUser {
	fu := &fakeUser{User: u, password: password, folders: map[string][]*fakeMessage{}}
	b.users = append(b.users, fu)
	return fu
}

func (b *fakeBackend) deliver(u *fakeUser, folder string, date time.Time, read bool, from, subject, ctype, cte, body string) {
	b.deliverPreview(u, folder, date, read, from, subject, ctype, cte, body, body)
}

func (b *fakeBackend) deliverPreview(u *fakeUser, folder string, date time.Time, read bool, from, subject, ctype, cte, body, preview string) {
	b.nextID++
	hdr := "From: " + from + "\r\nTo: " + u.DisplayName + " <" + u.Address + ">\r\nSubject: " + subject +
		"\r\nDate: " + date.Format(time.RFC1123Z) + "\r\nMessage-ID: <" + strconv.Itoa(b.nextID) + "@fake>\r\nMIME-Version: 1.0\r\nContent-Type: " + ctype + "\r\n"
	if cte != "" {
		hdr += "Content-Transfer-Encoding: " + cte + "\r\n"
	}
	raw := []byte(hdr + "\r\n" + body)
	preview = strings.Join(strings.Fields(preview), " ")
	if len(preview) > 60 {
		preview = preview[:60]
	}
	u.folders[folder] = append(u.folders[folder], &fakeMessage{
		info: MessageInfo{ID: strconv.Itoa(b.nextID), From: from, To: u.DisplayName + " <" + u.Address + ">", Subject: subject,
			Date: date, Size: int64(len(raw)), Read: read, Preview: strings.TrimSpace(preview)},
		raw: raw,
	})
}

func (b *fakeBackend) find(address string) *fakeUser {
	for _, u := range b.users {
		if strings.EqualFold(u.Address, address) {
			return u
		}
	}
	return nil
}

func (b *fakeBackend) Authenticate(ctx context.Context, login, password string) (*User, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.authCalls++
	name := strings.ToLower(login)
	name = strings.TrimPrefix(name, `contoso\`)
	if !strings.Contains(name, "@") {
		name += "@contoso.com"
	}
	u := b.find(name)
	if u == nil || u.password != password {
		return nil, fmt.Errorf("fake: %s: %w", login, ErrInvalidCredentials)
	}
	cp := u.User
	return &cp, nil
}

func (b *fakeBackend) FindUser(ctx context.Context, address string) (*User, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	u := b.find(address)
	if u == nil {
		return nil, fmt.Errorf("fake: %s: %w", address, ErrNotFound)
	}
	cp := u.User
	return &cp, nil
}

func (b *fakeBackend) ListFolder(ctx context.Context, address, folder string) ([]MessageInfo, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.failList != nil {
		return nil, b.failList
	}
	u := b.find(address)
	if u == nil {
		return nil, ErrNotFound
	}
	var out []MessageInfo
	for _, m := range u.folders[folder] {
		out = append(out, m.info)
	}
	slices.SortFunc(out, func(a, b MessageInfo) int { return b.Date.Compare(a.Date) })
	return out, nil
}

func (b *fakeBackend) message(address, folder, id string) (*fakeMessage, error) {
	u := b.find(address)
	if u == nil {
		return nil, ErrNotFound
	}
	for _, m := range u.folders[folder] {
		if m.info.ID == id {
			return m, nil
		}
	}
	return nil, fmt.Errorf("fake: message %s: %w", id, ErrNotFound)
}

func (b *fakeBackend) GetMessage(ctx context.Context, address, folder, id string) ([]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	m, err := b.message(address, folder, id)
	if err != nil {
		return nil, err
	}
	return m.raw, nil
}

func (b *fakeBackend) MarkRead(ctx context.Context, address, folder, id string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	m, err := b.message(address, folder, id)
	if err != nil {
		return err
	}
	m.info.Read = true
	return nil
}

// Submit records the submission, saves it in the sender's Sent Items and
// delivers it to local recipients' Inboxes.
func (b *fakeBackend) Submit(ctx context.Context, from *User, rcpts []string, msg []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.submitted = append(b.submitted, fakeSubmission{from: from.Address, rcpts: rcpts, msg: msg})
	parsed, err := parseMessage(msg)
	if err != nil {
		return err
	}
	store := func(u *fakeUser, folder string, read bool) {
		b.nextID++
		u.folders[folder] = append(u.folders[folder], &fakeMessage{
			info: MessageInfo{ID: strconv.Itoa(b.nextID), From: parsed.From, To: parsed.To, Subject: parsed.Subject,
				Date: parsed.Date, Size: int64(len(msg)), Read: read},
			raw: msg,
		})
	}
	if u := b.find(from.Address); u != nil {
		store(u, FolderSentItems, true)
	}
	for _, r := range rcpts {
		if u := b.find(r); u != nil {
			store(u, FolderInbox, false)
		}
	}
	return nil
}

// fakeCalendarToken is the fake's publishing token; its calendar id is
// the address itself.
const fakeCalendarToken = "8f6c2a1b0e3d4c5b9a7f6e5d4c3b2a19"

func (b *fakeBackend) CalendarEvents(ctx context.Context, id, token string) (string, []Event, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	u := b.find(id)
	if u == nil || u.events == nil || token != fakeCalendarToken {
		return "", nil, fmt.Errorf("fake: calendar %s/%s: %w", id, token, ErrNotFound)
	}
	return u.Address, u.events, nil
}

func (b *fakeBackend) submissions() []fakeSubmission {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.submitted)
}

func (b *fakeBackend) authCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.authCalls
}

func (b *fakeBackend) AddressBook(ctx context.Context) ([]AddressEntry, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []AddressEntry
	for _, u := range b.users {
		alias, _, _ := strings.Cut(u.Address, "@")
		out = append(out, AddressEntry{DisplayName: u.DisplayName, Alias: alias, Address: u.Address, MailboxGUID: u.MailboxGUID})
	}
	return out, nil
}
