package httpd

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"sync"
	"time"
)

// OWA's forms-based authentication cookies. cadata carries the session;
// Exchange's other cadata* cookies (the key, IV, signature and TTL of its
// encrypted credential blob) are set alongside, as random values, so the
// cookie set looks like OWA's. X-OWA-CANARY is the anti-CSRF token every
// state-changing request must echo (as OWA's forms and XHRs do).
const (
	cookieSession = "cadata"
	cookieCanary  = "X-OWA-CANARY"
)

var decoyCookies = []string{"cadataKey", "cadataIV", "cadataSig", "cadataTTL"}

type session struct {
	token    string
	canary   string
	user     User
	created  time.Time
	lastSeen time.Time
}

// sessionStore is the server-side session table: bounded, with sliding
// expiry, swept lazily (no goroutine to own).
type sessionStore struct {
	timeout time.Duration
	max     int
	now     func() time.Time

	mu       sync.Mutex
	sessions map[string]*session
}

func newSessionStore(timeout time.Duration, max int, now func() time.Time) *sessionStore {
	return &sessionStore{timeout: timeout, max: max, now: now, sessions: make(map[string]*session)}
}

func randomToken(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// create starts a session for u.
func (s *sessionStore) create(u *User) *session {
	now := s.now()
	ss := &session{token: randomToken(32), canary: randomToken(32) + ".", user: *u, created: now, lastSeen: now}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.sessions) >= s.max {
		s.sweep(now)
	}
	for len(s.sessions) >= s.max {
		var oldest *session
		for _, o := range s.sessions {
			if oldest == nil || o.lastSeen.Before(oldest.lastSeen) {
				oldest = o
			}
		}
		delete(s.sessions, oldest.token)
	}
	s.sessions[ss.token] = ss
	return ss
}

// get returns the live session of token and slides its expiry.
func (s *sessionStore) get(token string) *session {
	if token == "" {
		return nil
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.sessions[token]
	if ss == nil {
		return nil
	}
	if now.Sub(ss.lastSeen) > s.timeout {
		delete(s.sessions, token)
		return nil
	}
	ss.lastSeen = now
	return ss
}

func (s *sessionStore) remove(token string) {
	s.mu.Lock()
	delete(s.sessions, token)
	s.mu.Unlock()
}

func (s *sessionStore) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// sweep drops expired sessions. Called with mu held.
func (s *sessionStore) sweep(now time.Time) {
	for k, ss := range s.sessions {
		if now.Sub(ss.lastSeen) > s.timeout {
			delete(s.sessions, k)
		}
	}
}

// sessionOf returns the request's live OWA session, or nil.
func (h *Handler) sessionOf(r *http.Request) *session {
	c, err := r.Cookie(cookieSession)
	if err != nil {
		return nil
	}
	return h.sessions.get(c.Value)
}

// sessionAt is the forms-logon session of a request for the start page
// ("/") of OWA or ECP. Without one it redirects to the logon page and
// returns nil; with one it names the user's mailbox server in
// X-CalculatedBETarget, and any other path gets IIS's 404.
func (h *Handler) sessionAt(w http.ResponseWriter, r *http.Request, rest string) *session {
	ss := h.sessionOf(r)
	if ss == nil {
		h.redirectToLogon(w, r, h.cfg.requestURL(r), 0)
		return nil
	}
	setRaw(w.Header(), "X-CalculatedBETarget", ss.user.HomeFQDN)
	if rest != "/" {
		h.cfg.writeIISError(w, r, errNotFound)
		return nil
	}
	return ss
}

// validCanary reports whether a state-changing request proves it came from
// one of our pages: the form's canary must equal the session's, and so must
// the X-OWA-CANARY cookie.
func (ss *session) validCanary(r *http.Request, formValue string) bool {
	c, err := r.Cookie(cookieCanary)
	if err != nil {
		return false
	}
	want := []byte(ss.canary)
	return subtle.ConstantTimeCompare([]byte(formValue), want) == 1 &&
		subtle.ConstantTimeCompare([]byte(c.Value), want) == 1
}

func setSessionCookies(w http.ResponseWriter, ss *session) {
	http.SetCookie(w, &http.Cookie{Name: cookieSession, Value: ss.token, Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	for _, name := range decoyCookies {
		http.SetCookie(w, &http.Cookie{Name: name, Value: randomToken(24), Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	}
	http.SetCookie(w, &http.Cookie{Name: cookieCanary, Value: ss.canary, Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
}

func clearSessionCookies(w http.ResponseWriter) {
	for _, name := range append([]string{cookieSession, cookieCanary}, decoyCookies...) {
		http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1, Expires: time.Unix(0, 0), Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	}
}
