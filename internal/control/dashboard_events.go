package control

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/exsim/exsim/probe"
)

// probeObserver is the Lab the API and the dashboard use: its Probe
// remembers the results for the dashboard, so a probe started by
// `exsim probe` shows on the page as well as one started by its button.
type probeObserver struct {
	Lab
	d *dashboard
}

// observe wraps lab so that every probe reaches the dashboard.
func (d *dashboard) observe(lab Lab) Lab {
	d.lab = &probeObserver{Lab: lab, d: d}
	return d.lab
}

func (o *probeObserver) Probe(ctx context.Context, req ProbeRequest) (ProbeResponse, error) {
	o.d.setProbing(+1)
	res, err := o.Lab.Probe(ctx, req)
	if err == nil {
		o.d.record(o.d.decodeResults(res))
	}
	o.d.setProbing(-1)
	return res, err
}

// decodeResults reads the probe results of a ProbeResponse.
func (d *dashboard) decodeResults(res ProbeResponse) []probe.Result {
	var out []probe.Result
	if err := json.Unmarshal(res.Results, &out); err != nil {
		d.log.Warn("dashboard: probe results", "error", err)
	}
	return out
}

// setProbing counts the probes running (+1 as one starts, -1 as it ends).
func (d *dashboard) setProbing(delta int) {
	d.mu.Lock()
	d.probing += delta
	d.mu.Unlock()
	d.changed()
}

// record keeps each flow's latest result.
func (d *dashboard) record(results []probe.Result) {
	d.mu.Lock()
	for _, r := range results {
		d.last[r.Flow.ID] = r
	}
	d.lastRun = time.Now()
	d.mu.Unlock()
}

// changed wakes every event stream to look for changed sections now.
func (d *dashboard) changed() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for ch := range d.subs {
		select {
		case ch <- struct{}{}:
		default: // a wake-up is already pending
		}
	}
}

func (d *dashboard) subscribe() chan struct{} {
	ch := make(chan struct{}, 1)
	d.mu.Lock()
	d.subs[ch] = struct{}{}
	d.mu.Unlock()
	return ch
}

func (d *dashboard) unsubscribe(ch chan struct{}) {
	d.mu.Lock()
	delete(d.subs, ch)
	d.mu.Unlock()
}

// sectionEvent is one server-sent event: the new inner HTML of the
// element with id ID.
type sectionEvent struct {
	ID   string `json:"id"`
	HTML string `json:"html"`
}

// events is the page's event stream (text/event-stream): every section
// whose HTML differs from what this stream sent last, as soon as an
// action or a probe changed something and otherwise every livePeriod
// (queues drain and retry by themselves). It ends with the request: the
// browser closing the page, or the server shutting down.
func (d *dashboard) events(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	wake := d.subscribe()
	defer d.unsubscribe(wake)
	sent := map[string]string{}
	fmt.Fprint(w, "retry: 2000\n\n")
	tick := time.NewTicker(livePeriod)
	defer tick.Stop()
	var counted time.Time       // when the counters were last read
	var countTook time.Duration // and how long that took
	for woken := true; ; {
		// The counters read the whole tracking log: after an action, and
		// otherwise every countersPeriod, or less often when reading the
		// log takes longer than 1/countersShare of that (a page left open
		// during a large load test).
		count := woken || time.Since(counted) >= max(countersPeriod, countersShare*countTook)
		start := time.Now()
		sections := d.sections(r.Context(), count)
		if count {
			counted, countTook = time.Now(), time.Since(start)
		}
		for _, s := range sections {
			if sent[s.ID] == s.HTML {
				continue
			}
			b, _ := json.Marshal(s)
			if _, err := fmt.Fprintf(w, "event: section\ndata: %s\n\n", b); err != nil {
				return
			}
			sent[s.ID] = s.HTML
		}
		flusher.Flush()
		select {
		case <-r.Context().Done():
			return
		case <-wake:
			woken = true
		case <-tick.C:
			woken = false
		}
	}
}

// liveSections are the templates the event stream keeps current; each
// renders the inside of the page element of the same id.
var liveSections = []string{"status", "servers", "picture", "flows", "queues", "faults", "edgesync", "counters"}

const (
	// countersPeriod is how often an event stream nothing wakes counts the
	// tracking log for the connector counters ...
	countersPeriod = 10 * time.Second
	// ... at most: it waits countersShare times as long as the last count
	// took, so counting takes at most 1/countersShare of a core.
	countersShare = 20
)

// sections renders the live sections, the counters only when counters is set.
func (d *dashboard) sections(ctx context.Context, counters bool) []sectionEvent {
	data := d.liveData(ctx, counters)
	out := make([]sectionEvent, 0, len(liveSections))
	var b bytes.Buffer
	for _, id := range liveSections {
		if id == "counters" && !counters {
			continue
		}
		b.Reset()
		if err := d.page.ExecuteTemplate(&b, id, data); err != nil {
			d.log.Warn("dashboard: render", "template", id, "error", err)
			continue
		}
		out = append(out, sectionEvent{ID: id, HTML: b.String()})
	}
	return out
}
