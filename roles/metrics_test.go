package roles

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/exsim/exsim/internal/control"
	"github.com/exsim/exsim/internal/labtest"
)

// adminServer serves rt's admin API (token "tok") for the test.
func adminServer(t *testing.T, rt *Runtime) string {
	t.Helper()
	ts := httptest.NewServer(control.Handler(rt, "tok", nil))
	t.Cleanup(ts.Close)
	return ts.URL
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// scrape reads /metrics as Prometheus reads it: the text format, parsed
// by Prometheus' own parser.
func scrape(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	code, body := get(t, base+control.MetricsPath)
	if code != 200 {
		t.Fatalf("GET /metrics = %d\n%s", code, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics is not Prometheus text: %v\n%s", err, body)
	}
	return fams
}

// metricValue sums the samples of name whose labels include want.
func metricValue(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	f := fams[name]
	if f == nil {
		return 0
	}
	sum := 0.0
next:
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		}
	}
	return sum
}

// waitMetric scrapes until name{want} reaches at least min.
func waitMetric(t *testing.T, base, name string, want map[string]string, min float64) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		v := metricValue(scrape(t, base), name, want)
		if v >= min {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s%v = %v, want at least %v", name, want, v, min)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The Edge runs in a process of its own, as in a container: it is not
// ready until a Mailbox server (in the other process) has pushed EdgeSync
// to it, and its counters move with the mail that crosses it.
func TestReadyzAndMetricsAcrossProcesses(t *testing.T) {
	top := labtest.Topology(t, "contoso", blocks.Next(t))
	fastEdgeSync(top)
	dir := t.TempDir()
	edge, err := Start(context.Background(), Options{Topology: top, DataDir: dir, Servers: []string{"EDGE01"}, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	labtest.CloseAtEnd(t, edge)
	edgeAPI := adminServer(t, edge)

	if code, body := get(t, edgeAPI+control.HealthzPath); code != 200 || !strings.Contains(body, "EDGE01") {
		t.Errorf("GET /healthz = %d %q, want 200 naming EDGE01", code, body)
	}
	if code, body := get(t, edgeAPI+control.ReadyzPath); code != 503 || !strings.Contains(body, "EDGE01: EdgeSync has not synchronized") {
		t.Errorf("GET /readyz before EdgeSync = %d %q, want 503 naming EdgeSync", code, body)
	}
	if code, _ := get(t, edgeAPI+"/v1/health"); code != 401 {
		t.Errorf("GET /v1/health without token = %d, want 401", code)
	}

	rest, err := Start(context.Background(), Options{Topology: top, DataDir: dir, Servers: []string{"DNS01", "EX01", "EX02", "INET01"}, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	labtest.CloseAtEnd(t, rest)
	restAPI := adminServer(t, rest)
	deadline := time.Now().Add(15 * time.Second)
	for {
		code, body := get(t, edgeAPI+control.ReadyzPath)
		if code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /readyz after EdgeSync = %d %q, want 200", code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, body := get(t, restAPI+control.ReadyzPath); code != 200 {
		t.Errorf("GET /readyz of the Mailbox process = %d %q", code, body)
	}
	fams := scrape(t, edgeAPI)
	if v := metricValue(fams, "exsim_edgesync_last_success_timestamp_seconds", map[string]string{"server": "EDGE01"}); v < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Errorf("EDGE01's EdgeSync last success = %v, want a moment ago", v)
	}
	before := metricValue(fams, "exsim_transport_queues_messages_submitted_total", map[string]string{"server": "EDGE01"})

	ctx := context.Background()
	res, err := rest.Send(ctx, control.SendRequest{FromServer: "INET01", Sender: "carol@fabrikam.com", Recipients: []string{"alice@contoso.com"}, Subject: "counted"})
	if err != nil || !res.Accepted {
		t.Fatalf("send from INET01 = %+v, %v", res, err)
	}
	waitMail(t, rest, "EX01", "alice@contoso.com", "counted")
	waitMetric(t, edgeAPI, "exsim_transport_queues_messages_submitted_total", map[string]string{"server": "EDGE01", "connector": `EDGE01\Default internal Receive connector EDGE01`}, before+1)
	waitMetric(t, edgeAPI, "exsim_transport_smtpreceive_connections_total", map[string]string{"server": "EDGE01"}, 1)
	waitMetric(t, edgeAPI, "exsim_transport_queues_messages_completed_delivery_total", map[string]string{"server": "EDGE01", "event": "SEND"}, 1)
	waitMetric(t, restAPI, "exsim_transport_queues_messages_completed_delivery_total", map[string]string{"server": "EX01", "event": "DELIVER"}, 1)
	waitMetric(t, restAPI, "exsim_transport_smtpsend_connections_total", map[string]string{"server": "INET01"}, 1)

	res, err = rest.Send(ctx, control.SendRequest{FromServer: "INET01", Sender: "carol@fabrikam.com", Recipients: []string{"nobody@contoso.com"}, Subject: "unknown"})
	if err != nil || res.Accepted || !strings.HasPrefix(res.Reply, "550 5.1.1 ") {
		t.Fatalf("send to an unknown recipient = %+v, %v; want 550 5.1.1", res, err)
	}
	waitMetric(t, edgeAPI, "exsim_edge_recipient_validation_rejected_total", map[string]string{"server": "EDGE01"}, 1)

	if _, err := rest.Probe(ctx, control.ProbeRequest{Flows: []string{"edge-inbound-INET01-EDGE01-25"}}); err != nil {
		t.Fatal(err)
	}
	fams = scrape(t, restAPI)
	if v := metricValue(fams, "exsim_probe_flow_pass", map[string]string{"flow": "edge-inbound-INET01-EDGE01-25", "outcome": "open"}); v != 1 {
		t.Errorf("exsim_probe_flow_pass{flow=edge-inbound-INET01-EDGE01-25,outcome=open} = %v, want 1", v)
	}
	if v := metricValue(fams, "exsim_listener_up", map[string]string{"server": "EX01", "port": "10025"}); v != 1 {
		t.Errorf("exsim_listener_up{server=EX01,port=10025} = %v, want 1", v)
	}
}
