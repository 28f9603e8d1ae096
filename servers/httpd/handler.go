package httpd

import (
	"net/http"
	"path"
	"strings"

	"github.com/exsim/exsim/internal/lockout"
	"github.com/exsim/exsim/internal/nspi"
	"github.com/exsim/exsim/servers/httpd/rpch"
)

// Handler serves HTTPS 443 of a Mailbox server.
type Handler struct {
	cfg      *config
	b        Backend
	throttle *lockout.Lockout
	sessions *sessionStore
	// easDevices is ActiveSync's per-device state.
	easDevices *easDevices
	notify     *notifier // EWS subscriptions
	rpc        *rpch.Server
	oab        oabPublisher
	book       *nspi.Server  // the address book of NSPI over RPC and MAPI/HTTP
	mapi       *mapiSessions // MAPI/HTTP Session Contexts
}

var _ http.Handler = (*Handler)(nil)

// NewHandler returns the HTTPS handler. Options that do not validate
// (see Options.Validate) are replaced by their defaults and logged.
func NewHandler(b Backend, o Options) *Handler {
	c, err := newConfig(o)
	if err != nil {
		c.log.Warn("httpd: option replaced by its default", "server", c.ServerName, "err", err)
	}
	th := c.Lockout
	if th == nil {
		th = lockout.New(c.Throttle, c.Now, nil)
	}
	h := &Handler{
		cfg:        c,
		b:          b,
		throttle:   th,
		sessions:   newSessionStore(c.SessionTimeout, c.MaxSessions, c.Now),
		notify:     newNotifier(c),
		book:       newAddressBook(b, c),
		mapi:       newMAPISessions(c),
		easDevices: newEASDevices(),
	}
	h.rpc = newRPCServer(h.book, h.emsmdbInterface(), c)
	return h
}

// Close ends what outlives a request: open EWS streaming connections
// answer ConnectionStatus Closed, subscriptions are dropped, MAPI/HTTP
// Session Contexts end (a NotificationWait answers). Call it when the
// servers using the handler shut down (http.Server.RegisterOnShutdown).
func (h *Handler) Close() {
	h.notify.close()
	h.mapi.closeAll()
}

// ServeHTTP routes by virtual directory, case-insensitively as IIS does.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.cfg.stampIIS(w)
	log := h.cfg.log.With("server", h.cfg.ServerName, "proto", "https", "remote", r.RemoteAddr)
	p := cleanPath(r.URL.Path)
	vdir, rest := splitVdir(p)
	switch vdir {
	case "":
		if p != "/" {
			h.cfg.writeIISError(w, r, errNotFound)
			return
		}
		if !allow(w, r, h.cfg, http.MethodGet, http.MethodHead) {
			return
		}
		// The Default Web Site's HTTP Redirect to OWA.
		redirect(w, "https://"+h.cfg.hostFor(r)+"/owa/", http.StatusFound)
	case "owa":
		h.serveOWA(w, r, rest, log)
	case "ecp":
		h.serveECP(w, r, rest, log)
	case "ews":
		h.serveEWS(w, r, rest, log)
	case "autodiscover":
		h.serveAutodiscover(w, r, rest, log)
	case "microsoft-server-activesync":
		h.serveActiveSync(w, r, rest, log)
	case "mapi":
		// MAPI over HTTP: /mapi/emsmdb and /mapi/nspi, Windows auth only.
		h.serveMAPI(w, r, rest, log)
	case "oab":
		h.serveOAB(w, r, rest, log)
	case "rpc":
		h.serveRPC(w, r, rest, log)
	default:
		h.cfg.writeIISError(w, r, errNotFound)
	}
}

// cleanPath lower-cases and cleans a request path, keeping a trailing
// slash: IIS matches paths case-insensitively and resolves dot segments.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	trailing := strings.HasSuffix(p, "/")
	p = path.Clean("/" + strings.ToLower(p))
	if trailing && p != "/" {
		p += "/"
	}
	return p
}

// splitVdir splits "/owa/auth/logon.aspx" into "owa" and "/auth/logon.aspx".
// "/owa" gives "owa" and "".
func splitVdir(p string) (vdir, rest string) {
	p = strings.TrimPrefix(p, "/")
	if i := strings.IndexByte(p, '/'); i >= 0 {
		return p[:i], p[i:]
	}
	return p, ""
}

// allow answers 405 with an Allow header unless r's method is one of
// methods.
func allow(w http.ResponseWriter, r *http.Request, c *config, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m {
			return true
		}
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	c.writeIISError(w, r, errMethod)
	return false
}
