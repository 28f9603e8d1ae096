package control

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// healthLab is a fakeLab with listener states and no metrics of its own.
type healthLab struct {
	fakeLab
	health []ServerHealth
}

func (l *healthLab) Health() []ServerHealth { return l.health }

func TestPublicEndpointsNeedNoToken(t *testing.T) {
	hl := &healthLab{health: []ServerHealth{{Name: "EX01", Listeners: []ListenerHealth{{Address: "127.0.20.1:10025", State: "listening"}}}}}
	ts := httptest.NewServer(Handler(hl, "s3cret", nil))
	t.Cleanup(ts.Close)

	for _, tc := range []struct {
		path string
		code int
		body string
	}{
		{HealthzPath, 200, "ok: exsim runs EX01"},
		{ReadyzPath, 200, "ready"},
		{MetricsPath, 404, ""},          // a Lab without metrics serves none
		{"/v1/topology", 401, "bearer"}, // the API keeps its token
	} {
		resp, body := request(t, ts, "GET", tc.path, "", nil)
		if resp.StatusCode != tc.code || !strings.Contains(body, tc.body) {
			t.Errorf("GET %s = %d %q, want %d containing %q", tc.path, resp.StatusCode, body, tc.code, tc.body)
		}
	}

	hl.health[0].Listeners = append(hl.health[0].Listeners, ListenerHealth{Address: "127.0.20.1:10587", State: "failed", Error: "address already in use"})
	hl.health[0].Listeners[1].Name = "Client Frontend EX01"
	resp, body := request(t, ts, "GET", ReadyzPath, "", nil)
	if resp.StatusCode != 503 || !strings.Contains(body, "EX01: Client Frontend EX01 on 127.0.20.1:10587/") || !strings.Contains(body, "address already in use") {
		t.Errorf("GET /readyz with a failed listener = %d %q, want 503 naming it", resp.StatusCode, body)
	}
}
