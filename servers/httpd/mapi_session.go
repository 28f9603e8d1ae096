package httpd

import (
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/exsim/exsim/internal/mapi"
)

// The cookies of a Session Context (MS-OXCMAPIHTTP 3.2.5.1): MapiContext
// names the context, MapiSequence the one request allowed next. Their
// values are opaque to clients; Exchange's format is not public, exsim's
// are random URL-safe tokens.
const (
	cookieContext  = "MapiContext"
	cookieSequence = "MapiSequence"
)

// mapiSession is one Session Context: an EMSMDB connection (Connect to
// Disconnect) or an NSPI binding (Bind to Unbind).
type mapiSession struct {
	id    string
	ep    string // "emsmdb" or "nspi"
	owner string // the address that created it

	mu       sync.Mutex
	busy     int // requests in progress: a busy context does not expire
	seq      string
	lastUsed time.Time
	closed   chan struct{} // closed when the context ends
	store    *ropSession   // emsmdb: logons, objects, handles
	watch    MailWatch     // emsmdb: the new-mail feed of NotificationWait
}

// mapiSessions is the table of Session Contexts of a handler.
type mapiSessions struct {
	cfg *config
	mu  sync.Mutex
	m   map[string]*mapiSession
}

func newMAPISessions(c *config) *mapiSessions {
	return &mapiSessions{cfg: c, m: map[string]*mapiSession{}}
}

// create starts a Session Context for c (Connect or Bind) and makes it
// c's session.
func (s *mapiSessions) create(c *mapiCall) *mapiSession {
	ms := s.add(c.ep.name, c.u.Address, randomToken(16))
	c.sess, c.held = ms, ms
	c.sequenced = true
	return ms
}

// add starts the Session Context id of endpoint ep for owner, busy with
// the request that creates it.
func (s *mapiSessions) add(ep, owner, id string) *mapiSession {
	now := s.cfg.Now()
	ms := &mapiSession{id: id, ep: ep, owner: strings.ToLower(owner),
		seq: randomToken(8), lastUsed: now, closed: make(chan struct{}), busy: 1}
	s.mu.Lock()
	s.sweepLocked(now)
	if len(s.m) >= s.cfg.MaxSessions {
		s.dropOldestLocked()
	}
	s.m[ms.id] = ms
	s.mu.Unlock()
	return ms
}

// get returns the live context id of endpoint ep owned by owner, busy
// (release it), or nil.
func (s *mapiSessions) get(id, ep, owner string) *mapiSession {
	now := s.cfg.Now()
	s.mu.Lock()
	s.sweepLocked(now)
	ms := s.m[id]
	s.mu.Unlock()
	if ms == nil || ms.ep != ep || ms.owner != strings.ToLower(owner) {
		return nil
	}
	ms.mu.Lock()
	ms.busy++
	ms.lastUsed = now
	ms.mu.Unlock()
	return ms
}

// sweepLocked ends the contexts idle past the session timeout. s.mu is
// held.
func (s *mapiSessions) sweepLocked(now time.Time) {
	for id, ms := range s.m {
		ms.mu.Lock()
		idle := ms.busy == 0 && now.Sub(ms.lastUsed) > s.cfg.MAPISessionTimeout
		ms.mu.Unlock()
		if idle {
			delete(s.m, id)
			ms.end()
		}
	}
}

// dropOldestLocked ends the context idle the longest when the table is
// full (Options.MaxSessions, shared with OWA's bound), as OWA drops its
// oldest session. s.mu is held.
func (s *mapiSessions) dropOldestLocked() {
	var oldest *mapiSession
	var at time.Time
	for _, ms := range s.m {
		ms.mu.Lock()
		t, busy := ms.lastUsed, ms.busy > 0
		ms.mu.Unlock()
		if !busy && (oldest == nil || t.Before(at)) {
			oldest, at = ms, t
		}
	}
	if oldest != nil {
		delete(s.m, oldest.id)
		oldest.end()
	}
}

// end releases what the context holds. Called once, after it left the
// table.
func (ms *mapiSession) end() {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	close(ms.closed)
	if ms.watch != nil {
		ms.watch.Close()
		ms.watch = nil
	}
}

// remove ends a context (Disconnect, Unbind).
func (s *mapiSessions) remove(ms *mapiSession) {
	s.mu.Lock()
	_, ok := s.m[ms.id]
	delete(s.m, ms.id)
	s.mu.Unlock()
	if ok {
		ms.end()
	}
}

// closeAll ends every context (the handler closes).
func (s *mapiSessions) closeAll() {
	s.mu.Lock()
	all := s.m
	s.m = map[string]*mapiSession{}
	s.mu.Unlock()
	for _, ms := range all {
		ms.end()
	}
}

// resume finds the Session Context of a request that needs one: its
// MapiContext cookie must name a live context of this endpoint owned by
// the caller, and, for a sequenced request, MapiSequence must be the one
// issued last. It advances the sequence.
func (s *mapiSessions) resume(c *mapiCall, sequenced bool) (mapi.ResponseCode, string) {
	ck, err := c.r.Cookie(cookieContext)
	if err != nil || ck.Value == "" {
		return mapi.RespMissingCookie, "the " + cookieContext + " cookie is missing"
	}
	now := s.cfg.Now()
	s.mu.Lock()
	s.sweepLocked(now)
	ms := s.m[ck.Value]
	s.mu.Unlock()
	if ms == nil || ms.ep != c.ep.name {
		return mapi.RespContextNotFound, "the session context is not found"
	}
	if ms.owner != strings.ToLower(c.u.Address) {
		return mapi.RespNoPrivilege, "the session context belongs to another user"
	}
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if sequenced {
		sq, err := c.r.Cookie(cookieSequence)
		if err != nil || sq.Value == "" {
			return mapi.RespMissingCookie, "the " + cookieSequence + " cookie is missing"
		}
		if sq.Value != ms.seq {
			return mapi.RespInvalidSequence, "the request is out of sequence"
		}
		ms.seq = randomToken(8)
	}
	ms.lastUsed = now
	ms.busy++
	c.sess, c.held = ms, ms
	c.sequenced = sequenced
	return mapi.RespSuccess, ""
}

// setCookies sets the context's cookies on the answer, scoped to the
// endpoint's path.
func (s *mapiSessions) setCookies(c *mapiCall) {
	ms := c.sess
	ms.mu.Lock()
	seq := ms.seq
	ms.mu.Unlock()
	path := "/mapi/" + ms.ep + "/"
	http.SetCookie(c.w, &http.Cookie{Name: cookieContext, Value: ms.id, Path: path, Secure: true, HttpOnly: true})
	if c.sequenced {
		// A request outside the sequence (PING, NotificationWait) runs
		// beside sequenced ones: the sequence it saw may be stale by the
		// time its answer arrives, so it does not hand one out.
		http.SetCookie(c.w, &http.Cookie{Name: cookieSequence, Value: seq, Path: path, Secure: true, HttpOnly: true})
	}
}

// release ends a request's use of its context: the idle time starts now.
func (s *mapiSessions) release(ms *mapiSession) {
	ms.mu.Lock()
	ms.busy--
	ms.lastUsed = s.cfg.Now()
	ms.mu.Unlock()
}
