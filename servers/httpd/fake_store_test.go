package httpd

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// fakeStore is fakeBackend with EWS's MailStore: folders beyond the
// distinguished ones, and item changes.
type fakeStore struct {
	*fakeBackend
	created map[string]bool // folders created by CreateFolder
	sent    []fakeSubmission
	oof     map[string]OOFSettings
	watches map[*fakeWatch]string // WatchMail's feeds and their mailboxes
}

var (
	_ MailStore        = (*fakeStore)(nil)
	_ Availability     = (*fakeStore)(nil)
	_ AutomaticReplies = (*fakeStore)(nil)
)

var fakeDefaultFolders = []string{FolderInbox, FolderDrafts, FolderSentItems, FolderDeletedItems, FolderJunkEmail,
	"Outbox", "Calendar", "Contacts", "Tasks", "Notes", "Journal"}

func newFakeStore() *fakeStore {
	return &fakeStore{fakeBackend: newFakeBackend(), created: map[string]bool{}, oof: map[string]OOFSettings{}, watches: map[*fakeWatch]string{}}
}

func (s *fakeStore) has(name string) bool {
	return slices.Contains(fakeDefaultFolders, name) || s.created[name]
}

func (s *fakeStore) Folders(ctx context.Context, address string) ([]FolderInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.find(address)
	if u == nil {
		return nil, ErrNotFound
	}
	names := slices.Clone(fakeDefaultFolders)
	for n := range s.created {
		names = append(names, n)
	}
	slices.Sort(names)
	var out []FolderInfo
	for _, n := range names {
		fi := FolderInfo{Name: n}
		for _, m := range u.folders[n] {
			fi.Total++
			if !m.info.Read {
				fi.Unread++
			}
		}
		out = append(out, fi)
	}
	return out, nil
}

func (s *fakeStore) CreateFolder(ctx context.Context, address, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.has(name) {
		return fmt.Errorf("fake: %s: %w", name, ErrFolderExists)
	}
	s.created[name] = true
	return nil
}

func (s *fakeStore) DeleteFolder(ctx context.Context, address, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.created[name] {
		return fmt.Errorf("fake: %s: %w", name, ErrNotFound)
	}
	delete(s.created, name)
	delete(s.find(address).folders, name)
	return nil
}

func (s *fakeStore) RenameFolder(ctx context.Context, address, oldName, newName string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.created[oldName] {
		return fmt.Errorf("fake: %s: %w", oldName, ErrNotFound)
	}
	if s.has(newName) {
		return fmt.Errorf("fake: %s: %w", newName, ErrFolderExists)
	}
	delete(s.created, oldName)
	s.created[newName] = true
	u := s.find(address)
	u.folders[newName] = u.folders[oldName]
	delete(u.folders, oldName)
	return nil
}

func (s *fakeStore) Append(ctx context.Context, address, folder string, msg []byte, flags []string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.find(address)
	if u == nil || !s.has(folder) {
		return "", ErrNotFound
	}
	p, err := parseMessage(msg)
	if err != nil {
		return "", err
	}
	s.nextID++
	id := strconv.Itoa(s.nextID)
	date := p.Date
	if date.IsZero() {
		date = fakeNow
	}
	u.folders[folder] = append(u.folders[folder], &fakeMessage{
		info: MessageInfo{ID: id, From: p.From, To: p.To, Subject: p.Subject, Date: date, Size: int64(len(msg)),
			Read: slices.Contains(flags, FlagSeen), Flagged: slices.Contains(flags, FlagFlagged), Alias: fakeAlias(flags)},
		raw: msg,
	})
	s.publish(address, MailEvent{Kind: EventCreated, Folder: folder, ID: id})
	return id, nil
}

func (s *fakeStore) SetFlags(ctx context.Context, address, folder, id string, add, remove []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.message(address, folder, id)
	if err != nil {
		return err
	}
	set := func(f string, on bool) {
		switch f {
		case FlagSeen:
			m.info.Read = on
		case FlagFlagged:
			m.info.Flagged = on
		case ItemAliasKeyword + m.info.Alias:
			if !on {
				m.info.Alias = ""
			}
		}
	}
	for _, f := range add {
		set(f, true)
	}
	for _, f := range remove {
		set(f, false)
	}
	s.publish(address, MailEvent{Kind: EventModified, Folder: folder, ID: id})
	return nil
}

func (s *fakeStore) Remove(ctx context.Context, address, folder string, ids []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.find(address)
	u.folders[folder] = slices.DeleteFunc(u.folders[folder], func(m *fakeMessage) bool { return slices.Contains(ids, m.info.ID) })
	for _, id := range ids {
		s.publish(address, MailEvent{Kind: EventDeleted, Folder: folder, ID: id})
	}
	return nil
}

func (s *fakeStore) Transfer(ctx context.Context, address, folder, id, dest string, move bool) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.message(address, folder, id)
	if err != nil {
		return "", err
	}
	if !s.has(dest) {
		return "", ErrNotFound
	}
	u := s.find(address)
	s.nextID++
	cp := *m
	cp.info.ID = strconv.Itoa(s.nextID)
	u.folders[dest] = append(u.folders[dest], &cp)
	kind := EventCopied
	if move {
		u.folders[folder] = slices.DeleteFunc(u.folders[folder], func(x *fakeMessage) bool { return x == m })
		kind = EventMoved
	}
	s.publish(address, MailEvent{Kind: kind, Folder: dest, ID: cp.info.ID, OldFolder: folder, OldID: id})
	return cp.info.ID, nil
}

func (s *fakeStore) Send(ctx context.Context, from *User, rcpts []string, msg []byte, saveIn string) error {
	s.mu.Lock()
	s.sent = append(s.sent, fakeSubmission{from: from.Address, rcpts: rcpts, msg: msg})
	s.mu.Unlock()
	for _, r := range rcpts {
		if u := s.find(r); u != nil {
			if _, err := s.Append(ctx, u.Address, FolderInbox, msg, nil); err != nil {
				return err
			}
		}
	}
	if saveIn != "" {
		_, err := s.Append(ctx, from.Address, saveIn, msg, []string{FlagSeen})
		return err
	}
	return nil
}

func (s *fakeStore) Users(ctx context.Context) ([]*User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*User
	for _, u := range s.users {
		cp := u.User
		out = append(out, &cp)
	}
	return out, nil
}

func base64Std(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func fakeAlias(flags []string) string {
	for _, f := range flags {
		if a, ok := strings.CutPrefix(f, ItemAliasKeyword); ok {
			return a
		}
	}
	return ""
}

// FreeBusy reads the events of the Calendar and the Inbox (meeting
// requests), as the Mailbox server does.
func (s *fakeStore) FreeBusy(ctx context.Context, requester *User, address string, start, end time.Time) ([]Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.find(address)
	if u == nil {
		return nil, ErrNotFound
	}
	var out []Event
	for _, f := range []string{FolderCalendar, FolderInbox} {
		for _, m := range u.folders[f] {
			out = append(out, MessageEvents(m.raw)...)
		}
	}
	return out, nil
}

func (s *fakeStore) OOF(ctx context.Context, address string) (OOFSettings, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o, ok := s.oof[address]; ok {
		return o, nil
	}
	return OOFSettings{State: "Disabled", ExternalAudience: "All"}, nil
}

func (s *fakeStore) SetOOF(ctx context.Context, address string, o OOFSettings) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.oof[address] = o
	return nil
}
