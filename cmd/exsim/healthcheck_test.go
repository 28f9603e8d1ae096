package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHealthcheck(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			t.Errorf("healthcheck sent a token to %s", r.URL.Path)
		}
		switch r.URL.Path {
		case "/healthz":
			w.Write([]byte("ok: exsim runs EDGE01\n"))
		case "/readyz":
			w.WriteHeader(503)
			w.Write([]byte("not ready:\nEDGE01: EdgeSync has not synchronized\n"))
		default:
			http.NotFound(w, r)
		}
	}))
	defer ts.Close()
	for _, tc := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"healthcheck", "--admin", ts.URL}, 0, "ok: exsim runs EDGE01"},
		{[]string{"healthcheck", "--ready", "--admin", strings.TrimPrefix(ts.URL, "http://")}, exitCheck, "503 Service Unavailable: not ready:\nEDGE01: EdgeSync"},
		{[]string{"healthcheck", "--admin", "127.0.0.1:1"}, exitCheck, "connection refused"},
	} {
		var out, errb bytes.Buffer
		code := run(context.Background(), tc.args, nil, &out, &errb)
		if code != tc.code || !strings.Contains(out.String()+errb.String(), tc.out) {
			t.Errorf("exsim %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(tc.args, " "), code, tc.code, out.String(), errb.String())
		}
	}
}
