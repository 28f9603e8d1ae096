package httpd

import (
	"embed"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static/owa.css
var owaCSS []byte

var owaTemplates = template.Must(template.New("").Funcs(template.FuncMap{
	"initials": initials,
	"color":    personaColor,
}).ParseFS(templateFS, "templates/*.html"))

// The OWA logon page's error for reason=2, as Exchange 2016/2019 show it.
const logonFailedText = "The user name or password you entered isn't correct. Try entering it again."

// owaSecurityHeaders are what OWA's pages carry, plus a content security
// policy that keeps every page (and every message shown in it) from
// loading anything from elsewhere or running script.
func owaSecurityHeaders(h http.Header) {
	h.Set("Cache-Control", "no-cache, no-store")
	h.Set("Pragma", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "SAMEORIGIN")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'self'; base-uri 'none'")
}

func (h *Handler) render(w http.ResponseWriter, r *http.Request, name string, data any, log *slog.Logger) {
	owaSecurityHeaders(w.Header())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	var buf strings.Builder
	if err := owaTemplates.ExecuteTemplate(&buf, name, data); err != nil {
		log.Error("owa: render", "err", err)
		h.cfg.writeIISError(w, r, errInternal)
		return
	}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write([]byte(buf.String()))
	}
}

// serveOWA is the /owa virtual directory.
func (h *Handler) serveOWA(w http.ResponseWriter, r *http.Request, rest string, log *slog.Logger) {
	setRaw(w.Header(), "X-OWA-Version", h.cfg.Version)
	switch {
	case rest == "":
		// IIS's courtesy redirect from a directory name to the directory.
		redirect(w, "https://"+h.cfg.hostFor(r)+"/owa/"+querySuffix(r), http.StatusMovedPermanently)
	case rest == "/auth/logon.aspx":
		h.serveLogonPage(w, r)
	case rest == "/auth.owa":
		h.serveLogonPost(w, r, log)
	case rest == "/auth/logoff.aspx":
		if allow(w, r, h.cfg, http.MethodGet, http.MethodHead) {
			h.render(w, r, "logoff.html", pageBase{Title: "Outlook", Build: h.cfg.ver.short()}, log)
		}
	case rest == "/logoff.owa":
		h.serveLogoff(w, r, log)
	case rest == "/auth/"+h.cfg.ver.short()+"/themes/resources/owa.css":
		if allow(w, r, h.cfg, http.MethodGet, http.MethodHead) {
			w.Header().Set("Content-Type", "text/css")
			w.Header().Set("Cache-Control", "public, max-age=31536000")
			w.Header().Set("X-Content-Type-Options", "nosniff")
			if r.Method == http.MethodGet {
				w.Write(owaCSS)
			}
		}
	case strings.HasPrefix(rest, "/auth/"):
		h.cfg.writeIISError(w, r, errNotFound)
	case strings.HasPrefix(rest, "/calendar/"):
		h.serveCalendar(w, r, rest, log)
	default:
		ss := h.sessionAt(w, r, rest)
		if ss == nil {
			return
		}
		h.serveMailbox(w, r, ss, log.With("rcpt", ss.user.Address))
	}
}

func querySuffix(r *http.Request) string {
	if r.URL.RawQuery == "" {
		return ""
	}
	return "?" + r.URL.RawQuery
}

// redirectToLogon sends the browser to the forms logon page, remembering
// where it wanted to go (EXCHANGE.md section 6:
// /owa/auth/logon.aspx?url=https%3a%2f%2f<host>%2fowa%2f&reason=0).
func (h *Handler) redirectToLogon(w http.ResponseWriter, r *http.Request, dest string, reason int) {
	loc := "https://" + h.cfg.hostFor(r) + "/owa/auth/logon.aspx?url=" + urlEncode(dest) + "&reason=" + strconv.Itoa(reason)
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("Pragma", "no-cache")
	redirect(w, loc, http.StatusFound)
}

type pageBase struct {
	Title string
	Build string // OWA's resource path version, 15.2.1258
}

type logonPage struct {
	pageBase
	Destination string
	Error       string
}

func (h *Handler) serveLogonPage(w http.ResponseWriter, r *http.Request) {
	if !allow(w, r, h.cfg, http.MethodGet, http.MethodHead) {
		return
	}
	q := r.URL.Query()
	p := logonPage{
		pageBase:    pageBase{Title: "Outlook", Build: h.cfg.ver.short()},
		Destination: h.safeDestination(r, q.Get("url")),
	}
	if q.Get("reason") == "2" {
		p.Error = logonFailedText
	}
	h.render(w, r, "logon.html", p, h.cfg.log)
}

// safeDestination keeps the post-logon redirect on this server's OWA or
// ECP: anything else (another host, another scheme, a path outside them)
// becomes https://<host>/owa/. No open redirect.
func (h *Handler) safeDestination(r *http.Request, dest string) string {
	host := h.cfg.hostFor(r)
	def := "https://" + host + "/owa/"
	u, err := url.Parse(dest)
	if err != nil || u.Scheme != "https" || !strings.EqualFold(u.Host, host) || u.User != nil {
		return def
	}
	p := strings.ToLower(cleanPath(u.Path))
	if !strings.HasPrefix(p, "/owa/") && !strings.HasPrefix(p, "/ecp/") {
		return def
	}
	if strings.HasPrefix(p, "/owa/auth") || p == "/owa/logoff.owa" {
		return def
	}
	return u.String()
}

// serveLogonPost is OWA's forms-based logon: the logon page posts
// destination, flags, forcedownlevel, username, password and isUtf8 to
// /owa/auth.owa.
func (h *Handler) serveLogonPost(w http.ResponseWriter, r *http.Request, log *slog.Logger) {
	if !allow(w, r, h.cfg, http.MethodPost) {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		h.cfg.writeIISError(w, r, errTooLarge)
		return
	}
	dest := h.safeDestination(r, r.PostForm.Get("destination"))
	u, err := h.logon(r.Context(), sourceIP(r), r.PostForm.Get("username"), r.PostForm.Get("password"), log.With("proto", "owa"))
	if err != nil {
		if !errors.Is(err, ErrInvalidCredentials) {
			h.cfg.writeIISError(w, r, errInternal)
			return
		}
		h.redirectToLogon(w, r, dest, 2)
		return
	}
	ss := h.sessions.create(u)
	setSessionCookies(w, ss)
	setRaw(w.Header(), "X-CalculatedBETarget", u.HomeFQDN)
	w.Header().Set("Cache-Control", "no-cache")
	redirect(w, dest, http.StatusFound)
}

func (h *Handler) serveLogoff(w http.ResponseWriter, r *http.Request, log *slog.Logger) {
	if !allow(w, r, h.cfg, http.MethodGet, http.MethodPost) {
		return
	}
	if c, err := r.Cookie(cookieSession); err == nil {
		if ss := h.sessions.get(c.Value); ss != nil {
			log.Info("logoff", "rcpt", ss.user.Address)
		}
		h.sessions.remove(c.Value)
	}
	clearSessionCookies(w)
	redirect(w, "https://"+h.cfg.hostFor(r)+"/owa/auth/logoff.aspx?Cmd=logoff&src=exch", http.StatusFound)
}

// serveECP is the Exchange Control Panel: forms logon through OWA, then a
// small Options page (the admin center is not simulated).
func (h *Handler) serveECP(w http.ResponseWriter, r *http.Request, rest string, log *slog.Logger) {
	setRaw(w.Header(), "X-OWA-Version", h.cfg.Version)
	if rest == "" {
		redirect(w, "https://"+h.cfg.hostFor(r)+"/ecp/"+querySuffix(r), http.StatusMovedPermanently)
		return
	}
	ss := h.sessionAt(w, r, rest)
	if ss == nil {
		return
	}
	if !allow(w, r, h.cfg, http.MethodGet, http.MethodHead) {
		return
	}
	h.render(w, r, "ecp.html", struct {
		pageBase
		User    User
		Version string
	}{pageBase{Title: "Options", Build: h.cfg.ver.short()}, ss.user, h.cfg.Version}, log)
}

// initials is the persona text of a name: "Alice Wood" gives "AW",
// "bob@contoso.com" gives "B".
func initials(name string) string {
	if i := strings.IndexByte(name, '<'); i > 0 {
		name = name[:i]
	}
	name = strings.Trim(name, ` "'`)
	if at := strings.IndexByte(name, '@'); at > 0 {
		name = name[:at]
	}
	var out []rune
	for _, f := range strings.Fields(name) {
		for _, c := range f {
			out = append(out, c)
			break
		}
		if len(out) == 2 {
			break
		}
	}
	if len(out) == 0 {
		return "?"
	}
	return strings.ToUpper(string(out))
}

// personaColor picks one of OWA's persona colours from the name, stably.
func personaColor(name string) string {
	var h uint32
	for i := 0; i < len(name); i++ {
		h = h*31 + uint32(name[i])
	}
	return "c" + strconv.Itoa(int(h%8))
}
