package pop3d

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
)

// memStore is an in-memory Backend for tests: users, their messages, a lock
// per maildrop and injectable failures.
type memStore struct {
	mu        sync.Mutex
	passwords map[string]string
	boxes     map[string][]memMsg
	locked    map[string]bool
	loginErr  error // returned by Login instead of checking credentials
	deleteErr error
	openErr   error
	closed    chan string // receives the user of every closed maildrop
}

type memMsg struct{ uid, body string }

var _ Backend = (*memStore)(nil)

func newMemStore() *memStore {
	return &memStore{
		passwords: map[string]string{},
		boxes:     map[string][]memMsg{},
		locked:    map[string]bool{},
		closed:    make(chan string, 1000),
	}
}

// addUser adds a user whose messages get UIDs "<user>-1", "<user>-2", ...
func (s *memStore) addUser(user, password string, bodies ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.passwords[user] = password
	for i, b := range bodies {
		s.boxes[user] = append(s.boxes[user], memMsg{fmt.Sprintf("%s-%d", user, i+1), b})
	}
}

func (s *memStore) uids(user string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, m := range s.boxes[user] {
		out = append(out, m.uid)
	}
	return out
}

func (s *memStore) Login(ctx context.Context, user, password string) (Maildrop, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.loginErr != nil {
		return nil, s.loginErr
	}
	if pw, ok := s.passwords[user]; !ok || pw != password {
		return nil, ErrLogonFailure
	}
	if s.locked[user] {
		return nil, ErrInUse
	}
	s.locked[user] = true
	return &memDrop{s: s, user: user}, nil
}

type memDrop struct {
	s    *memStore
	user string
}

func (d *memDrop) Messages(ctx context.Context) ([]MessageInfo, error) {
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	var out []MessageInfo
	for _, m := range d.s.boxes[d.user] {
		n, err := WireSize(strings.NewReader(m.body))
		if err != nil {
			return nil, err
		}
		out = append(out, MessageInfo{UID: m.uid, Size: n})
	}
	return out, nil
}

func (d *memDrop) Open(ctx context.Context, uid string) (io.ReadCloser, error) {
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	if d.s.openErr != nil {
		return nil, d.s.openErr
	}
	for _, m := range d.s.boxes[d.user] {
		if m.uid == uid {
			return io.NopCloser(strings.NewReader(m.body)), nil
		}
	}
	return nil, errors.New("no such message")
}

func (d *memDrop) Delete(ctx context.Context, uids []string) error {
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	if d.s.deleteErr != nil {
		return d.s.deleteErr
	}
	kept := d.s.boxes[d.user][:0]
	for _, m := range d.s.boxes[d.user] {
		drop := false
		for _, u := range uids {
			drop = drop || u == m.uid
		}
		if !drop {
			kept = append(kept, m)
		}
	}
	d.s.boxes[d.user] = kept
	return nil
}

func (d *memDrop) Close() error {
	d.s.mu.Lock()
	delete(d.s.locked, d.user)
	d.s.mu.Unlock()
	d.s.closed <- d.user
	return nil
}
