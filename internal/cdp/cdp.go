// Package cdp drives a headless Chromium over the Chrome DevTools Protocol
// for tests: start the browser, load pages, run JavaScript in them, wait
// for a condition, take screenshots. It is a test helper: it fails or
// skips the test it is handed rather than returning errors.
package cdp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/websocket"
)

// Browser is a headless Chromium driven over the Chrome DevTools Protocol.
type Browser struct {
	t    testing.TB
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	page *cdpConn
}

// cdpConn is one DevTools websocket. A reader goroutine (owned by the
// conn, ending when the socket closes) routes replies to their callers and
// events to the events channel.
type cdpConn struct {
	ws     *websocket.Conn
	mu     sync.Mutex
	nextID int
	calls  map[int]chan cdpMessage
	events chan cdpMessage
	closed chan struct{}
}

type cdpMessage struct {
	ID     int             `json:"id,omitempty"`
	Method string          `json:"method,omitempty"`
	Params json.RawMessage `json:"params,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

// Start starts chromium with args and connects to its first page.
// env, when not nil, is the process environment.
func Start(t testing.TB, chromium string, env []string, args ...string) *Browser {
	t.Helper()
	profile := t.TempDir()
	args = append([]string{
		"--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--no-first-run", "--no-default-browser-check", "--disable-extensions",
		"--disable-background-networking", "--disable-sync", "--metrics-recording-only",
		"--remote-debugging-port=0", "--remote-allow-origins=http://127.0.0.1",
		"--user-data-dir=" + profile, "--window-size=1366,800",
	}, args...)
	args = append(args, "about:blank")
	cmd := exec.Command(chromium, args...)
	cmd.Env = env
	// Chromium prints "DevTools listening on ws://127.0.0.1:<port>/devtools/browser/<id>".
	wsURL := make(chan string, 1)
	cmd.Stderr = &devtoolsWatcher{found: wsURL}
	cmd.WaitDelay = 5 * time.Second // renderers holding stderr open do not block Wait
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", chromium, err)
	}
	b := &Browser{t: t, cmd: cmd, done: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(b.done)
	}()
	t.Cleanup(b.close)
	var browserURL string
	select {
	case browserURL = <-wsURL:
	case <-b.done:
		t.Fatalf("chromium exited before DevTools started")
	case <-time.After(30 * time.Second):
		t.Fatalf("chromium did not start DevTools within 30 s")
	}
	// The first page target, from the DevTools HTTP endpoint.
	hostport := strings.TrimPrefix(browserURL, "ws://")
	hostport = hostport[:strings.IndexByte(hostport, '/')]
	resp, err := http.Get("http://" + hostport + "/json/list")
	if err != nil {
		t.Fatalf("devtools /json/list: %v", err)
	}
	var targets []struct{ Type, WebSocketDebuggerURL string }
	err = json.NewDecoder(resp.Body).Decode(&targets)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("devtools /json/list: %v", err)
	}
	for _, tg := range targets {
		if tg.Type == "page" {
			b.page, err = dialCDP(tg.WebSocketDebuggerURL)
			if err != nil {
				t.Fatalf("devtools page: %v", err)
			}
			break
		}
	}
	if b.page == nil {
		t.Fatalf("chromium has no page target: %+v", targets)
	}
	if _, err := b.page.call("Page.enable", nil); err != nil {
		t.Fatalf("Page.enable: %v", err)
	}
	return b
}

func dialCDP(url string) (*cdpConn, error) {
	ws, err := websocket.Dial(url, "", "http://127.0.0.1")
	if err != nil {
		return nil, err
	}
	c := &cdpConn{ws: ws, calls: map[int]chan cdpMessage{}, events: make(chan cdpMessage, 256), closed: make(chan struct{})}
	go c.read()
	return c, nil
}

func (c *cdpConn) read() {
	defer close(c.closed)
	for {
		var m cdpMessage
		if err := websocket.JSON.Receive(c.ws, &m); err != nil {
			return
		}
		if m.ID != 0 {
			c.mu.Lock()
			ch := c.calls[m.ID]
			delete(c.calls, m.ID)
			c.mu.Unlock()
			if ch != nil {
				ch <- m
			}
			continue
		}
		select {
		case c.events <- m:
		default: // nobody is waiting for this many events; drop the oldest
			<-c.events
			c.events <- m
		}
	}
}

// call sends a command and waits for its reply.
func (c *cdpConn) call(method string, params any) (json.RawMessage, error) {
	c.mu.Lock()
	c.nextID++
	id := c.nextID
	ch := make(chan cdpMessage, 1)
	c.calls[id] = ch
	c.mu.Unlock()
	msg := map[string]any{"id": id, "method": method}
	if params != nil {
		msg["params"] = params
	}
	if err := websocket.JSON.Send(c.ws, msg); err != nil {
		return nil, fmt.Errorf("cdp %s: %w", method, err)
	}
	select {
	case m := <-ch:
		if m.Error != nil {
			return nil, fmt.Errorf("cdp %s: %s", method, m.Error.Message)
		}
		return m.Result, nil
	case <-c.closed:
		return nil, fmt.Errorf("cdp %s: connection closed", method)
	case <-time.After(30 * time.Second):
		return nil, fmt.Errorf("cdp %s: no reply in 30 s", method)
	}
}

// drainEvents forgets the events received so far.
func (c *cdpConn) drainEvents() {
	for {
		select {
		case <-c.events:
		default:
			return
		}
	}
}

// waitEvent waits for the next event named method.
func (c *cdpConn) waitEvent(method string, timeout time.Duration) error {
	deadline := time.After(timeout)
	for {
		select {
		case m := <-c.events:
			if m.Method == method {
				return nil
			}
		case <-c.closed:
			return errors.New("cdp: connection closed")
		case <-deadline:
			return fmt.Errorf("cdp: no %s within %v", method, timeout)
		}
	}
}

// Navigate loads url and waits until the page (after any redirects) has loaded.
func (b *Browser) Navigate(url string) {
	b.t.Helper()
	b.page.drainEvents()
	res, err := b.page.call("Page.navigate", map[string]any{"url": url})
	if err != nil {
		b.t.Fatalf("navigate %s: %v", url, err)
	}
	var r struct{ ErrorText string }
	json.Unmarshal(res, &r)
	if r.ErrorText != "" {
		b.t.Fatalf("navigate %s: %s", url, r.ErrorText)
	}
	if err := b.page.waitEvent("Page.loadEventFired", 30*time.Second); err != nil {
		b.t.Fatalf("navigate %s: %v", url, err)
	}
}

// Eval runs a JavaScript expression in the page and returns its value.
func (b *Browser) Eval(expr string) any {
	b.t.Helper()
	res, err := b.page.call("Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true})
	if err != nil {
		b.t.Fatalf("eval %s: %v", expr, err)
	}
	var r struct {
		Result struct {
			Value any `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	if err := json.Unmarshal(res, &r); err != nil {
		b.t.Fatalf("eval %s: %v", expr, err)
	}
	if r.ExceptionDetails != nil {
		b.t.Fatalf("eval %s: %s", expr, r.ExceptionDetails.Text)
	}
	return r.Result.Value
}

// EvalString is Eval for an expression whose value is a string.
func (b *Browser) EvalString(expr string) string {
	b.t.Helper()
	s, _ := b.Eval(expr).(string)
	return s
}

// ClickAndWait runs a script that navigates (clicks a link or a submit
// button) and waits for the new page to load.
func (b *Browser) ClickAndWait(script string) {
	b.t.Helper()
	b.page.drainEvents()
	b.Eval(script)
	if err := b.page.waitEvent("Page.loadEventFired", 30*time.Second); err != nil {
		b.t.Fatalf("after %s: %v", script, err)
	}
}

// Screenshot saves the window as a PNG in dir and returns the path.
func (b *Browser) Screenshot(dir, name string) string {
	b.t.Helper()
	return b.capture(dir, name, map[string]any{"format": "png"})
}

func (b *Browser) capture(dir, name string, params map[string]any) string {
	b.t.Helper()
	res, err := b.page.call("Page.captureScreenshot", params)
	if err != nil {
		b.t.Fatalf("screenshot: %v", err)
	}
	var r struct {
		Data []byte `json:"data"` // base64 in JSON: encoding/json decodes it
	}
	if err := json.Unmarshal(res, &r); err != nil {
		b.t.Fatalf("screenshot: %v", err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, r.Data, 0o644); err != nil {
		b.t.Fatalf("screenshot: %v", err)
	}
	return p
}

// close ends the browser: politely over CDP, then by killing the process
// this test started.
func (b *Browser) close() {
	if b.page != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		go func() {
			b.page.call("Browser.close", nil)
			cancel()
		}()
		<-ctx.Done()
		b.page.ws.Close()
		<-b.page.closed
	}
	select {
	case <-b.done:
	case <-time.After(5 * time.Second):
		// The process group of the chromium this test started.
		syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
		<-b.done
	}
}

// devtoolsWatcher is chromium's stderr: it reports the DevTools URL once
// and discards the rest.
type devtoolsWatcher struct {
	found chan<- string
	line  []byte
	sent  bool
}

func (w *devtoolsWatcher) Write(p []byte) (int, error) {
	if w.sent {
		return len(p), nil
	}
	w.line = append(w.line, p...)
	for {
		i := bytes.IndexByte(w.line, '\n')
		if i < 0 {
			if len(w.line) > 64<<10 {
				w.line = w.line[:0]
			}
			return len(p), nil
		}
		l := strings.TrimSpace(string(w.line[:i]))
		w.line = w.line[i+1:]
		if u, ok := strings.CutPrefix(l, "DevTools listening on "); ok {
			w.found <- u
			w.sent = true
			return len(p), nil
		}
	}
}
