package proxyd

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exsim/exsim/servers/internal/servertest"
)

// Real clients through proxyd: curl as a SOCKS4, SOCKS5 and HTTP proxy user,
// reaching an HTTP server on loopback.

func curl(t *testing.T, args ...string) (string, error) {
	t.Helper()
	path := servertest.NeedTool(t, "curl")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, append([]string{"-sS", "--max-time", "10"}, args...)...)
	// No proxy settings from the environment.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%w: %s", err, stderr.String())
	}
	return string(out), nil
}

const curlPage = "hello from fabrikam\n"

func startWeb(t *testing.T) (*httptest.Server, netip.AddrPort, *atomic.Int32) {
	t.Helper()
	var hits atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		body, _ := io.ReadAll(r.Body)
		if len(body) > 0 {
			fmt.Fprintf(w, "%s %s\n", r.Method, body)
			return
		}
		io.WriteString(w, curlPage)
	}))
	l := servertest.Listen(t)
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, l.Addr().(*net.TCPAddr).AddrPort(), &hits
}

func TestCurlThroughProxy(t *testing.T) {
	srv, web, _ := startWeb(t)
	socks := func(t *testing.T) string {
		_, a := startServer(t, Options{Protocol: SOCKS, Allow: allowOnly(web)})
		return a
	}
	tests := []struct {
		name  string
		proxy func(*testing.T) string
		args  func(proxy string) []string
		want  string
	}{
		{"socks5", socks, func(p string) []string { return []string{"-x", "socks5://" + p} }, curlPage},
		{"socks4", socks, func(p string) []string { return []string{"-x", "socks4://" + p} }, curlPage},
		{"socks5 only", func(t *testing.T) string {
			_, a := startServer(t, Options{Protocol: SOCKS5, Allow: allowOnly(web)})
			return a
		}, func(p string) []string { return []string{"--socks5", p} }, curlPage},
		{"http connect (proxytunnel)", func(t *testing.T) string {
			_, a := startServer(t, Options{Protocol: HTTP, Allow: allowOnly(web)})
			return a
		}, func(p string) []string { return []string{"-p", "-x", "http://" + p} }, curlPage},
		{"http forward GET", func(t *testing.T) string {
			_, a := startServer(t, Options{Protocol: HTTP, Allow: allowOnly(web)})
			return a
		}, func(p string) []string { return []string{"-x", "http://" + p} }, curlPage},
		{"http forward POST", func(t *testing.T) string {
			_, a := startServer(t, Options{Protocol: HTTP, Allow: allowOnly(web)})
			return a
		}, func(p string) []string { return []string{"-x", "http://" + p, "--data-binary", "QUIT"} }, "POST QUIT\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.proxy(t)
			got, err := curl(t, append(tt.args(p), srv.URL+"/")...)
			if err != nil {
				t.Fatalf("curl via %s: %v", p, err)
			}
			if got != tt.want {
				t.Fatalf("curl via %s = %q, want %q", p, got, tt.want)
			}
		})
	}
}

func TestCurlRefusedTarget(t *testing.T) {
	srv, web, hits := startWeb(t)
	other := netip.AddrPortFrom(web.Addr(), web.Port()+1) // allowed, but not the web server
	tests := []struct {
		name  string
		proto Protocol
		args  func(proxy string) []string
	}{
		{"socks5", SOCKS, func(p string) []string { return []string{"-x", "socks5://" + p} }},
		{"socks4", SOCKS, func(p string) []string { return []string{"-x", "socks4://" + p} }},
		{"http connect", HTTP, func(p string) []string { return []string{"-p", "-x", "http://" + p} }},
		{"http forward", HTTP, func(p string) []string { return []string{"-f", "-x", "http://" + p} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, p := startServer(t, Options{Protocol: tt.proto, Allow: allowOnly(other)})
			if out, err := curl(t, append(tt.args(p), srv.URL+"/")...); err == nil {
				t.Fatalf("curl via %s to a refused target succeeded: %q", p, out)
			}
		})
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("web server requests = %d, want 0", n)
	}
}
