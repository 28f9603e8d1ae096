package control

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/exsim/exsim/internal/labnet"
	"github.com/exsim/exsim/probe"
)

// The dashboard is the admin address's web page: plain server-rendered
// HTML (html/template) with a little JavaScript, everything embedded, so it
// works without internet. Its sections (topology picture, flows, queues,
// faults, EdgeSync, connector counters) are named templates; the page
// renders them all, and the event stream (/events) sends a section again
// whenever its HTML changes.

//go:embed dashboard
var dashboardFiles embed.FS

const (
	// sessionCookie holds the dashboard session: an HMAC of the API
	// token, so the token itself never sits in the browser.
	sessionCookie = "exsim_session"
	// flashCookie carries one line of feedback across the redirect after
	// an action (POST, then 303 to the page).
	flashCookie = "exsim_flash"
	// livePeriod is how often the event stream looks for changed sections.
	livePeriod = 2 * time.Second
)

// dashboard serves the page, its login, its actions and its event stream.
type dashboard struct {
	lab   Lab
	token string
	log   *slog.Logger
	page  *template.Template
	csrf  *http.CrossOriginProtection

	mu      sync.Mutex
	last    map[string]probe.Result // the last result of each flow, by flow id
	lastRun time.Time
	probing int // probes running
	subs    map[chan struct{}]struct{}
}

func newDashboard(lab Lab, token string, log *slog.Logger) *dashboard {
	return &dashboard{
		lab: lab, token: token, log: log,
		page: template.Must(template.New("").Funcs(templateFuncs).ParseFS(dashboardFiles, "dashboard/*.html")),
		csrf: http.NewCrossOriginProtection(),
		last: map[string]probe.Result{},
		subs: map[chan struct{}]struct{}{},
	}
}

// register adds the dashboard's routes to mux. Every POST passes the
// cross-origin check (Sec-Fetch-Site, else Origin against Host), and
// everything but the login page and the static files needs the session
// cookie (SameSite=Strict, HttpOnly) or the API's bearer token.
func (d *dashboard) register(mux *http.ServeMux) {
	static, _ := fs.Sub(dashboardFiles, "dashboard/static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /{$}", d.index)
	mux.Handle("POST /login", d.csrf.Handler(http.HandlerFunc(d.login)))
	mux.Handle("POST /logout", d.csrf.Handler(http.HandlerFunc(d.logout)))
	mux.Handle("GET /events", d.authed(http.HandlerFunc(d.events)))
	for path, do := range map[string]func(*http.Request) (string, error){
		"/ui/probe":             d.runProbe,
		"/ui/queues":            d.queueAction,
		"/ui/faults":            d.addFault,
		"/ui/faults/clear":      d.clearFaults,
		"/ui/faults/{id}/clear": d.removeFault,
		"/ui/edgesync/renew":    d.renew,
	} {
		mux.Handle("POST "+path, d.csrf.Handler(d.authed(d.action(do))))
	}
}

// session is the cookie value that proves the token was given.
func (d *dashboard) session() string {
	m := hmac.New(sha256.New, []byte(d.token))
	m.Write([]byte("exsim dashboard session"))
	return hex.EncodeToString(m.Sum(nil))
}

// signedIn reports whether r carries the session cookie or the bearer token.
func (d *dashboard) signedIn(r *http.Request) bool {
	if c, err := r.Cookie(sessionCookie); err == nil && subtle.ConstantTimeCompare([]byte(c.Value), []byte(d.session())) == 1 {
		return true
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(d.token)) == 1
}

func (d *dashboard) authed(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !d.signedIn(r) {
			http.Error(w, "sign in to the dashboard first: open / and give the admin token", http.StatusUnauthorized)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		next.ServeHTTP(w, r)
	})
}

func (d *dashboard) index(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	flash := takeFlash(w, r) // before the status line: it clears a cookie
	if !d.signedIn(r) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusUnauthorized)
		d.render(w, "login", loginData{Error: flash})
		return
	}
	d.render(w, "page", d.pageData(r.Context(), r.URL.Query(), flash))
}

func (d *dashboard) render(w http.ResponseWriter, name string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := d.page.ExecuteTemplate(w, name, data); err != nil {
		d.log.Warn("dashboard: render", "template", name, "error", err)
	}
}

// loginData is the login page's.
type loginData struct{ Error string }

func (d *dashboard) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	tok := strings.TrimSpace(r.PostFormValue("token"))
	if subtle.ConstantTimeCompare([]byte(tok), []byte(d.token)) != 1 {
		d.log.Warn("dashboard: wrong token", "remote", r.RemoteAddr)
		setFlash(w, "That is not the admin token. It is in DATA/admin.token (or $"+TokenEnv+").")
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: d.session(), Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (d *dashboard) logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// action runs one dashboard action. A browser form gets a redirect back
// to the page with the outcome as a flash line; the page's script (which
// sends X-Exsim-Async) gets the outcome as plain text, 200 or an error
// status as the API would answer.
func (d *dashboard) action(do func(*http.Request) (string, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		msg, err := do(r)
		if err != nil {
			msg = err.Error()
		} else {
			d.changed()
		}
		if r.Header.Get("X-Exsim-Async") != "" {
			code := http.StatusOK
			if err != nil {
				code = errorStatus(err)
			}
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(code)
			fmt.Fprintln(w, msg)
			return
		}
		setFlash(w, msg)
		back := "/"
		if ref, err := url.Parse(r.Header.Get("Referer")); err == nil && ref.Host == r.Host && ref.Path == "/" {
			back = ref.RequestURI() // keep the tracking search the form was posted from
		}
		http.Redirect(w, r, back+r.FormValue("anchor"), http.StatusSeeOther)
	})
}

func setFlash(w http.ResponseWriter, msg string) {
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: url.QueryEscape(msg), Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: 60})
}

// takeFlash returns the flash line and clears it.
func takeFlash(w http.ResponseWriter, r *http.Request) string {
	c, err := r.Cookie(flashCookie)
	if err != nil {
		return ""
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	msg, _ := url.QueryUnescape(c.Value)
	return msg
}

// runProbe probes every flow that starts in this process; the results
// reach the page through the event stream.
func (d *dashboard) runProbe(r *http.Request) (string, error) {
	res, err := d.lab.Probe(r.Context(), ProbeRequest{})
	if err != nil {
		return "", err
	}
	s := probe.Summarize(d.decodeResults(res))
	return fmt.Sprintf("probe: %d flows, %d passed, %d failed", s.Flows, s.Passed, s.Failed), nil
}

// queueAction is Retry-Queue, Suspend-Queue or Resume-Queue.
func (d *dashboard) queueAction(r *http.Request) (string, error) {
	server, queue, action := r.PostFormValue("server"), r.PostFormValue("queue"), r.PostFormValue("action")
	if err := d.lab.QueueAction(server, queue, action); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s-Queue %s done", cmdletVerb(action), queue), nil
}

// cmdletVerb is "Retry" for "retry".
func cmdletVerb(action string) string {
	if action == "" {
		return ""
	}
	return strings.ToUpper(action[:1]) + action[1:]
}

func (d *dashboard) addFault(r *http.Request) (string, error) {
	f := labnet.Fault{From: r.PostFormValue("from"), To: r.PostFormValue("to"), Transport: r.PostFormValue("transport"),
		Action: labnet.Action(r.PostFormValue("action")), Note: strings.TrimSpace(r.PostFormValue("note"))}
	if p := strings.TrimSpace(r.PostFormValue("port")); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return "", &BadInputError{fmt.Sprintf("fault: port %q is not a port number", p)}
		}
		f.Port = n
	}
	if s := strings.TrimSpace(r.PostFormValue("delay")); s != "" {
		dl, err := time.ParseDuration(s)
		if err != nil {
			return "", &BadInputError{fmt.Sprintf("fault: delay %q: give a duration such as 2s", s)}
		}
		f.Delay = dl
	}
	if f.Note == "" {
		f.Note = "from the dashboard"
	}
	added, err := injectFault(d.lab, f)
	if err != nil {
		return "", err
	}
	d.log.Info("fault injected", "code", added.String())
	return "fault " + added.String() + " injected", nil
}

func (d *dashboard) clearFaults(r *http.Request) (string, error) {
	n := clearFaults(d.lab.Faults(), false)
	return fmt.Sprintf("%d injected faults cleared (the simulated firewall stays)", n), nil
}

func (d *dashboard) removeFault(r *http.Request) (string, error) {
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil {
		return "", &BadInputError{"fault id must be a number"}
	}
	if !d.lab.Faults().Remove(id) {
		return "", &NotFoundError{fmt.Sprintf("fault %d", id)}
	}
	return fmt.Sprintf("fault #%d cleared", id), nil
}

// renew is New-EdgeSubscription again on an Edge.
func (d *dashboard) renew(r *http.Request) (string, error) {
	server := r.PostFormValue("server")
	if err := d.lab.RenewEdgeSubscription(server, nil); err != nil {
		return "", err
	}
	return "Edge Subscription of " + server + " renewed", nil
}
