package httpd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/exsim/exsim/internal/lockout"
)

// vdirAuth is the IIS authentication configuration of one virtual
// directory: which challenges a 401 carries, in order (EXCHANGE.md section 6).
type vdirAuth struct {
	name  string
	basic bool // Basic enabled: credentials are checked and a Basic challenge is sent
	// basicFirst puts Basic before Negotiate and NTLM (Outlook Anywhere).
	basicFirst bool
	// windows adds Negotiate and NTLM (Integrated Windows authentication).
	windows bool
}

func (c *config) vdirEWS() vdirAuth {
	return vdirAuth{name: "EWS", basic: c.basic.EWS, windows: true}
}

func (c *config) vdirAutodiscover() vdirAuth {
	return vdirAuth{name: "Autodiscover", basic: c.basic.Autodiscover, windows: true}
}

// vdirActiveSync: Exchange's Microsoft-Server-ActiveSync virtual directory
// has Basic only.
func (c *config) vdirActiveSync() vdirAuth {
	return vdirAuth{name: "Microsoft-Server-ActiveSync", basic: c.basic.ActiveSync, windows: !c.basic.ActiveSync}
}

func (c *config) vdirRPC() vdirAuth {
	return vdirAuth{name: "Rpc", basic: c.basic.RPC, basicFirst: true, windows: true}
}

var (
	vdirMAPI = vdirAuth{name: "mapi", windows: true}
	vdirOAB  = vdirAuth{name: "OAB", windows: true}
)

// challenge answers 401 with the virtual directory's WWW-Authenticate
// headers and no body, as Exchange does.
func (c *config) challenge(w http.ResponseWriter, r *http.Request, v vdirAuth) {
	h := w.Header()
	basic := `Basic realm="` + c.hostFor(r) + `"`
	if v.basic && v.basicFirst {
		addRaw(h, "WWW-Authenticate", basic)
	}
	if v.windows {
		addRaw(h, "WWW-Authenticate", "Negotiate")
		addRaw(h, "WWW-Authenticate", "NTLM")
	}
	if v.basic && !v.basicFirst {
		addRaw(h, "WWW-Authenticate", basic)
	}
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusUnauthorized)
}

// IntegratedStatus is the state of an Integrated Windows (Negotiate or
// NTLM) logon.
type IntegratedStatus int

const (
	IntegratedNone     IntegratedStatus = iota // no Negotiate/NTLM credentials in the request
	IntegratedContinue                         // answer 401 with the challenge and wait for the next leg
	IntegratedDone                             // authenticated
	IntegratedFailed                           // wrong credentials
)

// IntegratedAuth is an optional Backend add-on that completes Negotiate
// and NTLM logons, which are bound to the connection. Without it those
// schemes are offered in challenges but never completed.
type IntegratedAuth interface {
	// IntegratedLogon looks at the request's Authorization header and
	// returns the user (IntegratedDone), the WWW-Authenticate value to send
	// with a 401 (IntegratedContinue; also a final token with Done), or
	// IntegratedFailed / IntegratedNone.
	IntegratedLogon(r *http.Request) (u *User, challenge string, st IntegratedStatus)
}

// authenticate returns the user of a request to a virtual directory that
// needs authentication. When the request carries no usable credentials it
// answers 401 itself and returns nil. Negotiate and NTLM are completed
// when the Backend implements IntegratedAuth.
func (h *Handler) authenticate(w http.ResponseWriter, r *http.Request, v vdirAuth, log *slog.Logger) *User {
	if ia, ok := h.b.(IntegratedAuth); ok && v.windows {
		u, challenge, st := ia.IntegratedLogon(r)
		if st == IntegratedDone && h.throttle.Locked(u.Address, sourceIP(r)) {
			// The right answer during a lockout is refused all the same.
			log.Warn("logon refused: account or source locked out", "code", 401)
			lockout.Sleep(r.Context(), h.throttle.LockedDelay())
			h.cfg.challenge(w, r, v)
			return nil
		}
		switch st {
		case IntegratedDone:
			if challenge != "" {
				addRaw(w.Header(), "WWW-Authenticate", challenge)
			}
			h.throttle.Succeed(u.Address, sourceIP(r))
			return u
		case IntegratedContinue:
			addRaw(w.Header(), "WWW-Authenticate", challenge)
			w.Header().Set("Content-Length", "0")
			w.WriteHeader(http.StatusUnauthorized)
			return nil
		case IntegratedFailed:
			// The account is not known after a failed exchange: the
			// source alone counts.
			delay, _ := h.throttle.Fail("", sourceIP(r))
			log.Info("integrated logon failed", "code", 401)
			lockout.Sleep(r.Context(), delay)
			h.cfg.challenge(w, r, v)
			return nil
		}
	}
	login, password, ok := r.BasicAuth()
	if !ok || !v.basic {
		h.cfg.challenge(w, r, v)
		return nil
	}
	u, err := h.logon(r.Context(), sourceIP(r), login, password, log.With("proto", v.name))
	if err != nil {
		if !errors.Is(err, ErrInvalidCredentials) {
			h.cfg.writeIISError(w, r, errInternal)
			return nil
		}
		h.cfg.challenge(w, r, v)
		return nil
	}
	return u
}

// authenticateAt is authenticate for a virtual directory that serves only
// the paths given: once the user is known the answer names their mailbox
// server in X-CalculatedBETarget, as Exchange's front end does, and any
// other path under the directory gets IIS's 404.
func (h *Handler) authenticateAt(w http.ResponseWriter, r *http.Request, v vdirAuth, log *slog.Logger, rest string, paths ...string) *User {
	u := h.authenticate(w, r, v, log)
	if u == nil {
		return nil
	}
	setRaw(w.Header(), "X-CalculatedBETarget", u.HomeFQDN)
	if !slices.Contains(paths, rest) {
		h.cfg.writeIISError(w, r, errNotFound)
		return nil
	}
	return u
}

// logon checks a login and password through the throttle. It returns an
// error wrapping ErrInvalidCredentials for a refused logon (after the
// throttle's delay) and any other error for a backend failure.
func (h *Handler) logon(ctx context.Context, src, login, password string, log *slog.Logger) (*User, error) {
	login = strings.TrimSpace(login)
	if h.throttle.Locked(login, src) {
		log.Warn("logon refused: account or source locked out", "code", 401)
		lockout.Sleep(ctx, h.throttle.LockedDelay())
		return nil, fmt.Errorf("httpd: logon of %q from %s: locked out: %w", login, src, ErrInvalidCredentials)
	}
	var u *User
	var err error
	if login == "" || password == "" || len(login) > 256 || len(password) > 256 {
		err = ErrInvalidCredentials
	} else {
		u, err = h.b.Authenticate(ctx, login, password)
		if err == nil && u == nil {
			err = ErrInvalidCredentials
		}
	}
	switch {
	case err == nil:
		h.throttle.Succeed(login, src)
		log.Info("logon", "rcpt", u.Address)
		return u, nil
	case errors.Is(err, ErrInvalidCredentials):
		delay, locked := h.throttle.Fail(login, src)
		if locked {
			log.Warn("logon failed; account or source locked out", "code", 401)
		} else {
			log.Info("logon failed", "code", 401)
		}
		lockout.Sleep(ctx, delay)
		return nil, fmt.Errorf("httpd: logon: %w", ErrInvalidCredentials)
	default:
		log.Error("logon: backend failed", "err", err)
		return nil, fmt.Errorf("httpd: logon: %w", err)
	}
}
