package httpd

import (
	"net/http"
	"strings"
)

// HTTPHandler serves HTTP 80 of a Mailbox server: the OWA redirect to
// HTTPS, the Autodiscover HTTP redirect method, and Internet calendar
// publishing (the seed's "Unencrypted web connections" row).
type HTTPHandler struct {
	cfg *config
	b   Backend
}

var _ http.Handler = (*HTTPHandler)(nil)

// NewHTTPHandler returns the port 80 handler.
func NewHTTPHandler(b Backend, o Options) *HTTPHandler {
	c, err := newConfig(o)
	if err != nil {
		c.log.Warn("httpd: option replaced by its default", "server", c.ServerName, "err", err)
	}
	return &HTTPHandler{cfg: c, b: b}
}

// The virtual directories that have "Require SSL" set in IIS: on port 80
// they answer 403.4.
var sslOnlyVdirs = map[string]bool{
	"ecp": true, "ews": true, "mapi": true, "oab": true, "autodiscover": true,
	"microsoft-server-activesync": true, "powershell": true,
}

func (h *HTTPHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.cfg.stampIIS(w)
	log := h.cfg.log.With("server", h.cfg.ServerName, "proto", "http", "remote", r.RemoteAddr)
	p := cleanPath(r.URL.Path)
	vdir, rest := splitVdir(p)
	switch {
	case vdir == "owa" && strings.HasPrefix(rest, "/calendar/"):
		setRaw(w.Header(), "X-OWA-Version", h.cfg.Version)
		serveCalendar(h.cfg, h.b, w, r, rest, log)
	case p == "/" || vdir == "owa":
		// IIS HTTP Redirect on the Default Web Site and /owa, to the same
		// path on HTTPS. Exchange's guidance configures it as 302 Found
		// ("Found (302)"), which exsim uses.
		if vdir == "owa" {
			setRaw(w.Header(), "X-OWA-Version", h.cfg.Version)
		}
		redirect(w, "https://"+h.cfg.httpsHost(r)+r.URL.RequestURI(), http.StatusFound)
	case p == "/autodiscover/autodiscover.xml" && r.Method == http.MethodGet:
		// The Autodiscover HTTP redirect method: Outlook GETs
		// http://autodiscover.<domain>/autodiscover/autodiscover.xml and
		// follows a redirect to an HTTPS endpoint.
		redirect(w, "https://"+withPort("autodiscover."+h.cfg.Domain, h.cfg.HTTPSPort)+"/Autodiscover/Autodiscover.xml", http.StatusFound)
	case vdir == "rpc":
		// Outlook Anywhere's vdir does not require SSL (SSL offloading),
		// so it challenges on 80 too; exsim never takes a password in clear.
		h.cfg.challenge(w, r, h.cfg.vdirRPC())
	case sslOnlyVdirs[vdir]:
		h.cfg.writeIISError(w, r, errSSLRequired)
	default:
		h.cfg.writeIISError(w, r, errNotFound)
	}
}
