package control

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/exsim/exsim/internal/labnet"
	"github.com/exsim/exsim/transport"
)

// DefaultAddr is the management address when none is given.
const DefaultAddr = "127.0.0.1:9925"

// TokenEnv overrides the token file.
const TokenEnv = "EXSIM_ADMIN_TOKEN"

// LoadToken returns the API token for a client: $EXSIM_ADMIN_TOKEN or
// DATA/admin.token. It never creates one.
func LoadToken(dataDir string) (string, error) {
	if t := os.Getenv(TokenEnv); t != "" {
		return t, nil
	}
	path := filepath.Join(dataDir, "admin.token")
	b, err := os.ReadFile(path)
	if err != nil || strings.TrimSpace(string(b)) == "" {
		return "", fmt.Errorf("no admin API token in %s: is a lab running with --data %s? (or set $%s)", path, dataDir, TokenEnv)
	}
	return strings.TrimSpace(string(b)), nil
}

// LoadOrCreateToken returns the API token: $EXSIM_ADMIN_TOKEN, or
// DATA/admin.token, created (mode 0600) on first use.
func LoadOrCreateToken(dataDir string) (string, error) {
	if t := os.Getenv(TokenEnv); t != "" {
		return t, nil
	}
	path := filepath.Join(dataDir, "admin.token")
	if b, err := os.ReadFile(path); err == nil {
		if t := strings.TrimSpace(string(b)); t != "" {
			return t, nil
		}
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return "", fmt.Errorf("admin: %w", err)
	}
	buf := make([]byte, 24)
	rand.Read(buf)
	tok := hex.EncodeToString(buf)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		if os.IsExist(err) { // another process won the race
			b, rerr := os.ReadFile(path)
			if rerr == nil && strings.TrimSpace(string(b)) != "" {
				return strings.TrimSpace(string(b)), nil
			}
		}
		return "", fmt.Errorf("admin: %w", err)
	}
	defer f.Close()
	if _, err := f.WriteString(tok + "\n"); err != nil {
		return "", fmt.Errorf("admin: %w", err)
	}
	return tok, nil
}

// Server is a running admin API.
type Server struct {
	srv  *http.Server
	ln   net.Listener
	addr string
}

// Addr is the address the API listens on.
func (s *Server) Addr() string { return s.addr }

// URL is the API's base URL.
func (s *Server) URL() string { return "http://" + s.addr }

// Shutdown stops the API.
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }

// Listen starts the API for lab on addr.
func Listen(addr, token string, lab Lab, log *slog.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin API on %s: %w (choose another with --admin)", addr, err)
	}
	s := &Server{ln: ln, addr: ln.Addr().String()}
	// Shutdown cancels the requests' context: the dashboard's event
	// streams never go idle, so Shutdown would otherwise wait for them.
	ctx, cancel := context.WithCancel(context.Background())
	s.srv = &http.Server{Handler: Handler(lab, token, log), ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	s.srv.RegisterOnShutdown(cancel)
	go s.srv.Serve(ln)
	return s, nil
}

// Handler returns the API's HTTP handler.
func Handler(lab Lab, token string, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := newDashboard(lab, token, log)
	h := &handler{lab: lab, token: token, log: log, probes: d.observe(lab)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/topology", h.topology)
	mux.HandleFunc("GET /v1/health", h.health)
	mux.HandleFunc("GET /v1/servers/{server}/queues", h.queues)
	mux.HandleFunc("POST /v1/servers/{server}/queues/{action}", h.queueAction)
	mux.HandleFunc("GET /v1/servers/{server}/messages", h.messages)
	mux.HandleFunc("POST /v1/servers/{server}/messages/{id}/{action}", h.messageAction)
	mux.HandleFunc("GET /v1/servers/{server}/tracking", h.tracking)
	mux.HandleFunc("GET /v1/servers/{server}/mailboxes", h.mailboxes)
	mux.HandleFunc("GET /v1/servers/{server}/mailboxes/{address}/messages", h.mailboxMessages)
	mux.HandleFunc("GET /v1/servers/{server}/mailboxes/{address}/messages/{uid}", h.mailboxMessage)
	mux.HandleFunc("GET /v1/servers/{server}/edgesync", h.edgesync)
	mux.HandleFunc("POST /v1/servers/{server}/edgesync/renew", h.renew)
	mux.HandleFunc("GET /v1/faults", h.faults)
	mux.HandleFunc("POST /v1/faults", h.addFault)
	mux.HandleFunc("DELETE /v1/faults", h.clearFaults)
	mux.HandleFunc("DELETE /v1/faults/{id}", h.removeFault)
	mux.HandleFunc("POST /v1/probe", h.probe)
	mux.HandleFunc("POST /v1/send", call("send", lab.Send))
	mux.HandleFunc("POST /v1/read", call("read", lab.Read))
	mux.HandleFunc("POST /v1/rca", call("rca", lab.RCA))
	root := http.NewServeMux()
	root.Handle("/v1/", h.auth(mux))
	d.register(root) // the dashboard at /
	return h.public(root)
}

type handler struct {
	lab   Lab
	token string
	log   *slog.Logger
	// probes is lab with every probe's results shown on the dashboard.
	probes Lab
}

// apiError is the JSON body of every error.
type apiError struct {
	Error string `json:"error"`
}

func (h *handler) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(h.token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="exsim"`)
			writeJSON(w, http.StatusUnauthorized, apiError{"missing or wrong bearer token (DATA/admin.token or $" + TokenEnv + ")"})
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// answer writes v as JSON, or err when it is not nil.
func answer[T any](w http.ResponseWriter, v T, err error) {
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, 200, v)
}

// decode reads the JSON request body into v; a body it cannot read is
// answered 400, naming what the request is ("send: ...").
func decode(w http.ResponseWriter, r *http.Request, what string, v any) bool {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		fail(w, &BadInputError{what + ": " + err.Error()})
		return false
	}
	return true
}

// fail answers an error: unknown servers and objects are 404, bad input 400.
func fail(w http.ResponseWriter, err error) {
	writeJSON(w, errorStatus(err), apiError{err.Error()})
}

// errorStatus is the HTTP status of err: 404 for unknown servers and
// objects, 400 for bad input, otherwise 500.
func errorStatus(err error) int {
	var nf *NotFoundError
	var bi *BadInputError
	switch {
	case errors.As(err, &nf):
		return http.StatusNotFound
	case errors.As(err, &bi):
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

// NotFoundError is an unknown server, queue, message or mailbox.
type NotFoundError struct{ What string }

func (e *NotFoundError) Error() string { return e.What + " not found" }

// BadInputError is a request the API cannot take.
type BadInputError struct{ Msg string }

func (e *BadInputError) Error() string { return e.Msg }

func (h *handler) topology(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, struct {
		View    any      `json:"topology"`
		Running []string `json:"running"`
	}{h.lab.Topology().View(), h.lab.Running()})
}

func (h *handler) health(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, h.lab.Health())
}

func (h *handler) queues(w http.ResponseWriter, r *http.Request) {
	q, err := h.lab.Queues(r.PathValue("server"))
	answer(w, q, err)
}

func (h *handler) queueAction(w http.ResponseWriter, r *http.Request) {
	answer(w, struct{}{}, h.lab.QueueAction(r.PathValue("server"), r.URL.Query().Get("queue"), r.PathValue("action")))
}

func (h *handler) messages(w http.ResponseWriter, r *http.Request) {
	m, err := h.lab.Messages(r.PathValue("server"), r.URL.Query().Get("queue"))
	answer(w, m, err)
}

func (h *handler) messageAction(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		fail(w, &BadInputError{"message id must be a number (InternalId)"})
		return
	}
	action := r.PathValue("action")
	if action == "remove" && r.URL.Query().Get("ndr") == "true" {
		action = "remove-ndr"
	}
	answer(w, struct{}{}, h.lab.MessageAction(r.PathValue("server"), id, action))
}

func (h *handler) tracking(w http.ResponseWriter, r *http.Request) {
	q, err := trackingQuery(r)
	if err != nil {
		fail(w, err)
		return
	}
	ev, err := h.lab.Track(r.PathValue("server"), q)
	answer(w, ev, err)
}

func trackingQuery(r *http.Request) (transport.TrackingQuery, error) {
	v := r.URL.Query()
	q := transport.TrackingQuery{Sender: v.Get("sender"), Recipient: v.Get("recipient"), MessageID: v.Get("message_id"), EventID: v.Get("event"), Subject: v.Get("subject")}
	for key, dst := range map[string]*time.Time{"start": &q.Start, "end": &q.End} {
		if s := v.Get(key); s != "" {
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				return q, &BadInputError{key + " must be RFC 3339, e.g. 2026-11-27T10:00:00Z"}
			}
			*dst = t
		}
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return q, &BadInputError{"limit must be a number"}
		}
		q.Limit = n
	}
	return q, nil
}

func (h *handler) mailboxes(w http.ResponseWriter, r *http.Request) {
	m, err := h.lab.Mailboxes(r.PathValue("server"))
	answer(w, m, err)
}

func (h *handler) mailboxMessages(w http.ResponseWriter, r *http.Request) {
	folder := r.URL.Query().Get("folder")
	if folder == "" {
		folder = "INBOX"
	}
	m, err := h.lab.MailboxMessages(r.PathValue("server"), r.PathValue("address"), folder)
	answer(w, m, err)
}

func (h *handler) mailboxMessage(w http.ResponseWriter, r *http.Request) {
	folder := r.URL.Query().Get("folder")
	if folder == "" {
		folder = "INBOX"
	}
	uid, err := strconv.ParseUint(r.PathValue("uid"), 10, 32)
	if err != nil {
		fail(w, &BadInputError{"uid must be a number"})
		return
	}
	b, err := h.lab.MailboxMessage(r.PathValue("server"), r.PathValue("address"), folder, uint32(uid))
	if err != nil {
		fail(w, err)
		return
	}
	w.Header().Set("Content-Type", "message/rfc822")
	w.Write(b)
}

func (h *handler) edgesync(w http.ResponseWriter, r *http.Request) {
	s, err := h.lab.EdgeSync(r.PathValue("server"))
	answer(w, s, err)
}

func (h *handler) faults(w http.ResponseWriter, r *http.Request) {
	f := h.lab.Faults().List()
	if f == nil {
		f = []labnet.Fault{}
	}
	writeJSON(w, 200, f)
}

// addFault injects a fault.
func (h *handler) addFault(w http.ResponseWriter, r *http.Request) {
	var f labnet.Fault
	if !decode(w, r, "fault", &f) {
		return
	}
	added, err := injectFault(h.lab, f)
	if err != nil {
		fail(w, err)
		return
	}
	h.log.Info("fault injected", "code", added.String())
	writeJSON(w, 201, added)
}

// injectFault adds f to the lab's fault table. "from" and "to" may name
// servers; "port" is the documented port: the topology moves it by the
// lab's port offset.
func injectFault(lab Lab, f labnet.Fault) (labnet.Fault, error) {
	t := lab.Topology()
	if f.From != "" && f.From != "*" {
		s := t.Server(f.From)
		if s == nil {
			return f, &BadInputError{fmt.Sprintf("fault: from %q is not a server of the topology", f.From)}
		}
		f.From = s.Name
	}
	if f.To != "" {
		if s := t.Server(f.To); s != nil {
			f.To = s.Address
		}
	}
	if f.Port != 0 {
		f.Port = t.Port(f.Port)
	}
	added, err := lab.Faults().Add(f)
	if err != nil {
		return f, &BadInputError{err.Error()}
	}
	return added, nil
}

// clearFaults removes the injected faults; the simulated firewall of a
// loopback lab stays unless ?all=true.
func (h *handler) clearFaults(w http.ResponseWriter, r *http.Request) {
	clearFaults(h.lab.Faults(), r.URL.Query().Get("all") == "true")
	writeJSON(w, 200, struct{}{})
}

// clearFaults removes the injected faults, and the simulated firewall
// too when all is set; it returns how many it removed.
func clearFaults(faults *labnet.Faults, all bool) int {
	n := 0
	for _, f := range faults.List() {
		if (all || !strings.HasPrefix(f.Note, SimulatedFirewallNote)) && faults.Remove(f.ID) {
			n++
		}
	}
	return n
}

// SimulatedFirewallNote begins the note of the faults that stand in for
// the documented firewall on a loopback lab.
const SimulatedFirewallNote = "simulated firewall"

func (h *handler) removeFault(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil {
		fail(w, &BadInputError{"fault id must be a number"})
		return
	}
	if !h.lab.Faults().Remove(id) {
		fail(w, &NotFoundError{fmt.Sprintf("fault %d", id)})
		return
	}
	writeJSON(w, 200, struct{}{})
}

func (h *handler) probe(w http.ResponseWriter, r *http.Request) {
	var req ProbeRequest
	if !decode(w, r, "probe", &req) {
		return
	}
	res, err := h.probes.Probe(r.Context(), req)
	if err != nil {
		fail(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(res.Results)
}

// call is the handler of a request that is one call of the Lab: it
// decodes the request (named what in errors) and answers do's result.
func call[Req, Res any](what string, do func(context.Context, Req) (Res, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req Req
		if !decode(w, r, what, &req) {
			return
		}
		res, err := do(r.Context(), req)
		answer(w, res, err)
	}
}

func (h *handler) renew(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Participants []string `json:"participants"`
	}
	if r.ContentLength != 0 {
		if !decode(w, r, "renew", &req) {
			return
		}
	}
	answer(w, struct{}{}, h.lab.RenewEdgeSubscription(r.PathValue("server"), req.Participants))
}
