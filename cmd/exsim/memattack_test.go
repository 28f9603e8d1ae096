package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exsim/exsim/internal/labtest"
)

// rssLimitKB is the bound docs/RELIABILITY.md ("Memory bounds") states for
// one exsim process under the memory attack.
const rssLimitKB = 300 << 10

// TestMemoryAttack runs issue 17's memory attack against `exsim up`:
// 20 anonymous connections from one source each sending 35 MB of DATA
// without the final dot, then 100 sources with 2 such connections each,
// and asserts the child's VmRSS stays under 300 MB while a new client
// still gets its message queued. Then the 20 connections end their
// messages at once: each gets 250 (queued) or Exchange's back-pressure
// 452 4.3.1, never an error or a crash. EXSIM_ATTACK_MB sets the size per
// connection of the 100-source phase (default 35).
func TestMemoryAttack(t *testing.T) {
	if testing.Short() {
		t.Skip("the memory attack moves gigabytes over loopback; skipped with -short")
	}
	bin := labtest.Binary(t)
	cfg, top := labFile(t, "contoso-noedge")
	data := t.TempDir()
	cmd := runUp(t, bin, "--config", cfg, "--data", data, "--port-offset", fmt.Sprint(labtest.PortOffset), "--admin", freePort(t), "--log-level", "error")
	ex01 := top.Server("EX01")
	target := top.Endpoint(ex01, 25).String()
	block := ex01.Addr().As4()[1]
	src := func(i int) netip.Addr {
		return netip.AddrFrom4([4]byte{127, block, 200 + byte(i/250), byte(1 + i%250)})
	}

	var peak atomic.Int64
	stop := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Go(func() {
		for {
			if kb := vmRSS(t, cmd.Process.Pid); kb > peak.Load() {
				peak.Store(kb)
			}
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	})
	defer func() { close(stop); sampler.Wait() }()
	check := func(phase string) {
		t.Helper()
		if p := peak.Load(); p > rssLimitKB {
			t.Fatalf("%s: exsim's VmRSS reached %d MB (bound %d MB)", phase, p>>10, rssLimitKB>>10)
		}
		t.Logf("%s: peak VmRSS %d MB", phase, peak.Load()>>10)
	}

	const phaseA = 35 << 20
	one := make([]*attackConn, 20)
	var wg sync.WaitGroup
	for i := range one {
		wg.Go(func() { one[i] = startAttack(t, src(0), target, phaseA) })
	}
	wg.Wait()
	check("20 connections x 35 MB")
	sendSmall(t, src(1), target)
	check("new client during the attack")

	size := int64(35 << 20)
	if v := os.Getenv("EXSIM_ATTACK_MB"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("EXSIM_ATTACK_MB=%q: %v", v, err)
		}
		size = int64(n) << 20
	}
	many := make([]*attackConn, 200)
	for i := range many {
		wg.Go(func() { many[i] = startAttack(t, src(2+i/2), target, size) })
	}
	wg.Wait()
	check(fmt.Sprintf("100 sources x 2 connections x %d MB", size>>20))
	sendSmall(t, src(250), target)
	check("new client during both attacks")
	for _, c := range many {
		c.conn.Close()
	}

	// The 20 end their messages together: the budget takes what it can
	// hold, the rest hear back-pressure.
	replies := make([]string, len(one))
	for i, c := range one {
		wg.Go(func() { replies[i] = c.finish(t) })
	}
	wg.Wait()
	counts := map[string]int{}
	for _, r := range replies {
		switch {
		case strings.HasPrefix(r, "250 "):
			counts["250"]++
		case r == "452 4.3.1 Insufficient system resources":
			counts["452"]++
		default:
			t.Errorf("end of DATA answered %q, want 250 or 452 4.3.1", r)
		}
	}
	t.Logf("end of 20 x 35 MB messages at once: %d queued (250), %d refused (452 4.3.1)", counts["250"], counts["452"])
	if counts["452"] == 0 {
		t.Errorf("no 452 4.3.1 although 20 x 35 MB cannot fit the in-flight budget")
	}
	check("20 messages ended at once")
	sendSmall(t, src(251), target)
}

// vmRSS reads a process's resident set size in kB.
func vmRSS(t *testing.T, pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0 // the process ended; the test notices elsewhere
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

type attackConn struct {
	conn net.Conn
	br   *bufio.Reader
}

// smtpDial opens an SMTP session from src and runs EHLO, MAIL, RCPT, DATA.
func smtpDial(t *testing.T, src netip.Addr, target string) *attackConn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: src.AsSlice()}, Timeout: 10 * time.Second}
	conn, err := d.Dial("tcp", target)
	if err != nil {
		t.Fatalf("dial from %s: %v", src, err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &attackConn{conn: conn, br: bufio.NewReader(conn)}
	c.expect(t, "220")
	for _, step := range [][2]string{
		{"EHLO attacker.example\r\n", "250 "},
		{"MAIL FROM:<x@example.net>\r\n", "250 "},
		{"RCPT TO:<alice@contoso.com>\r\n", "250 "},
		{"DATA\r\n", "354 "},
	} {
		fmt.Fprint(conn, step[0])
		c.expect(t, step[1])
	}
	return c
}

// expect reads the reply (its last line) and checks its start.
func (c *attackConn) expect(t *testing.T, prefix string) string {
	t.Helper()
	for {
		c.conn.SetReadDeadline(time.Now().Add(2 * time.Minute))
		l, err := c.br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading a reply (want %q): %v", prefix, err)
		}
		if len(l) >= 4 && l[3] == '-' {
			continue
		}
		l = strings.TrimRight(l, "\r\n")
		if !strings.HasPrefix(l, prefix) {
			t.Fatalf("reply %q, want %q", l, prefix)
		}
		return l
	}
}

// startAttack sends size bytes of a message without ending it.
func startAttack(t *testing.T, src netip.Addr, target string, size int64) *attackConn {
	c := smtpDial(t, src, target)
	line := append(bytes.Repeat([]byte("x"), 998), '\r', '\n')
	chunk := bytes.Repeat(line, 64)
	fmt.Fprint(c.conn, "Subject: memory attack\r\n\r\n")
	for sent := int64(0); sent < size; sent += int64(len(chunk)) {
		c.conn.SetWriteDeadline(time.Now().Add(2 * time.Minute))
		if _, err := c.conn.Write(chunk); err != nil {
			t.Fatalf("attack from %s: %v", src, err)
		}
	}
	return c
}

// finish ends the message and returns the reply.
func (c *attackConn) finish(t *testing.T) string {
	fmt.Fprint(c.conn, "\r\n.\r\n")
	return c.expect(t, "")
}

// sendSmall is the new client: a small message must be queued.
func sendSmall(t *testing.T, src netip.Addr, target string) {
	t.Helper()
	c := smtpDial(t, src, target)
	fmt.Fprint(c.conn, "Subject: still served\r\n\r\nhello\r\n.\r\n")
	c.expect(t, "250 ")
	fmt.Fprint(c.conn, "QUIT\r\n")
	c.conn.Close()
}
