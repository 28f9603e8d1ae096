package cdp

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Chromium returns the path of the chromium binary, or skips the test
// when there is none (Debian: apt-get install chromium) or in -short mode.
func Chromium(t testing.TB) string {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if path, err = exec.LookPath("/usr/bin/chromium"); err != nil {
			t.Skip("chromium not installed (apt-get install chromium)")
		}
	}
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	return path
}

// ArtifactDir is where tests leave files for people to look at:
// $EXSIM_ARTIFACTS/<test name>, or the test's temporary directory.
func ArtifactDir(t testing.TB) string {
	t.Helper()
	root := os.Getenv("EXSIM_ARTIFACTS")
	if root == "" {
		return t.TempDir()
	}
	dir := filepath.Join(root, t.Name())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// WaitFor evaluates the JavaScript expression cond until it is true (the
// page changes by itself: server-sent events, fetch); it fails the test
// with what after timeout.
func (b *Browser) WaitFor(cond string, timeout time.Duration, what string) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if v, _ := b.Eval("!!(" + cond + ")").(bool); v {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("waited %v for %s (%s)", timeout, what, cond)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// FullScreenshot saves the whole page, not only the window, as a PNG in
// dir and returns the path.
func (b *Browser) FullScreenshot(dir, name string) string {
	b.t.Helper()
	res, err := b.page.call("Page.getLayoutMetrics", nil)
	if err != nil {
		b.t.Fatalf("screenshot: %v", err)
	}
	var m struct {
		CSSContentSize struct{ Width, Height float64 } `json:"cssContentSize"`
	}
	if err := json.Unmarshal(res, &m); err != nil {
		b.t.Fatalf("screenshot: %v", err)
	}
	return b.capture(dir, name, map[string]any{"format": "png", "captureBeyondViewport": true,
		"clip": map[string]any{"x": 0, "y": 0, "width": m.CSSContentSize.Width, "height": m.CSSContentSize.Height, "scale": 1}})
}
