package control

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The public part of the admin address: what a container runtime, a
// Kubernetes probe or a Prometheus server asks without the bearer token.
// They show no mail, no addresses beyond the lab's own and change
// nothing; /v1/* keeps its token.
const (
	// HealthzPath answers 200 while the process serves.
	HealthzPath = "/healthz"
	// ReadyzPath answers 200 once every listener is bound and every
	// subscribed Edge has received its first EdgeSync, else 503 with the
	// reasons, one a line.
	ReadyzPath = "/readyz"
	// MetricsPath is the Prometheus text exposition of the process.
	MetricsPath = "/metrics"
)

// Metered is a Lab that keeps Prometheus metrics in a registry of its own
// (roles.Runtime).
type Metered interface {
	Metrics() prometheus.Gatherer
}

// Readier is a Lab that knows what it still waits for (roles.Runtime):
// NotReady returns one reason a line, nothing once ready.
type Readier interface {
	NotReady() []string
}

// public serves the health, readiness and metrics endpoints without a
// token and hands everything else to api.
func (h *handler) public(api http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+HealthzPath, func(w http.ResponseWriter, r *http.Request) {
		plain(w, http.StatusOK, "ok: exsim runs "+strings.Join(h.lab.Running(), ", "))
	})
	mux.HandleFunc("GET "+ReadyzPath, h.readyz)
	if m, ok := h.lab.(Metered); ok {
		mux.Handle("GET "+MetricsPath, promhttp.HandlerFor(m.Metrics(), promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	} else {
		mux.HandleFunc("GET "+MetricsPath, func(w http.ResponseWriter, r *http.Request) {
			plain(w, http.StatusNotFound, "this process keeps no metrics")
		})
	}
	mux.Handle("/", api)
	return mux
}

func (h *handler) readyz(w http.ResponseWriter, r *http.Request) {
	var why []string
	if rd, ok := h.lab.(Readier); ok {
		why = rd.NotReady()
	} else {
		why = listenersNotReady(h.lab.Health())
	}
	if len(why) > 0 {
		plain(w, http.StatusServiceUnavailable, "not ready:\n"+strings.Join(why, "\n"))
		return
	}
	plain(w, http.StatusOK, "ready")
}

// listenersNotReady names every enabled listener that is not serving.
func listenersNotReady(hs []ServerHealth) []string {
	var out []string
	for _, s := range hs {
		for _, l := range s.Listeners {
			if l.State == "failed" {
				out = append(out, fmt.Sprintf("%s: %s on %s/%s is not bound: %s", s.Name, l.Name, l.Address, l.Transport, l.Error))
			}
		}
	}
	return out
}

func plain(w http.ResponseWriter, code int, text string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	fmt.Fprintln(w, text)
}
