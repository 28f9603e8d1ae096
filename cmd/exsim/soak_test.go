//go:build soak

package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/exsim/exsim/internal/control"
	"github.com/exsim/exsim/internal/labtest"
)

// soakEnv reads a positive integer setting of the soak, or def.
func soakEnv(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// TestSoakKill9 is issue 17's chaos test: the internet sends
// EXSIM_SOAK_MESSAGES messages (default 10,000) to the Edge, half to
// alice (EX01) and half to bob (EX02, so EX01 -> EX02 is a hop too), while
// the lab is killed with SIGKILL EXSIM_SOAK_KILLS times (default 20) at
// random moments and started again. Every message answered 250 must be
// delivered exactly once. The client resends a message whose 250 it did
// not see: when the connection broke after the message's DATA went out,
// the Edge may have stored it and the resend is a new message (the first
// hop from outside cannot recognise it, in Exchange neither): those are
// counted apart as "ambiguous", and not as duplicates.
//
//	go test -tags soak -run SoakKill9 -timeout 30m -v ./cmd/exsim
func TestSoakKill9(t *testing.T) {
	total, kills := soakEnv("EXSIM_SOAK_MESSAGES", 10000), soakEnv("EXSIM_SOAK_KILLS", 20)
	bin := labtest.Binary(t)
	cfg, top := labFile(t, "contoso")
	data := t.TempDir()
	api := freePort(t)
	common := []string{"--config", cfg, "--data", data, "--port-offset", fmt.Sprint(labtest.PortOffset), "--admin", api, "--log-level", "error"}
	var (
		mu  sync.Mutex
		cmd = runUp(t, bin, common...)
	)
	edge := net.JoinHostPort(top.Server("EDGE01").Address, strconv.Itoa(25+labtest.PortOffset))
	inet := net.ParseIP(top.Server("INET01").Address)
	rcpt := func(n int) string {
		if n%2 == 0 {
			return "alice@contoso.com"
		}
		return "bob@contoso.com"
	}

	var next, acked atomic.Int64
	ambiguous := make([]atomic.Bool, total)
	var resends, logged atomic.Int64
	start := time.Now()
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			var c *smtp.Client
			defer func() {
				if c != nil {
					c.Close()
				}
			}()
			for {
				n := int(next.Add(1)) - 1
				if n >= total {
					return
				}
				for attempt := 0; ; attempt++ {
					if attempt > 0 {
						resends.Add(1)
						time.Sleep(100 * time.Millisecond)
					}
					if time.Since(start) > 20*time.Minute {
						t.Errorf("message %d: no 250 after 20 minutes", n)
						return
					}
					if c == nil {
						var err error
						if c, err = soakDial(edge, inet); err != nil {
							if logged.Add(1) <= 5 {
								t.Logf("message %d: connect: %v", n, err)
							}
							continue
						}
					}
					sentData, err := soakSend(c, n, rcpt(n))
					if err == nil {
						acked.Add(1)
						break
					}
					if sentData {
						ambiguous[n].Store(true)
					}
					if logged.Add(1) <= 5 {
						t.Logf("message %d: %v", n, err)
					}
					c.Close()
					c = nil
				}
			}
		})
	}

	// The chaos: kill -9 at random moments spread over the whole load:
	// each kill waits for a random point of the run (a count of
	// acknowledged messages) and for mail to flow again after the last
	// restart, then strikes a random moment later.
	points := make([]int64, kills)
	for i := range points {
		points[i] = 1 + rand.Int64N(int64(max(total-1, 1)))
	}
	slices.Sort(points)
	go func() {
		defer close(done)
		for k := 0; k < kills; k++ {
			since := acked.Load()
			for wait := time.Now(); (acked.Load() == since || acked.Load() < points[k]) && acked.Load() < int64(total) && time.Since(wait) < 5*time.Minute; {
				time.Sleep(20 * time.Millisecond)
			}
			time.Sleep(time.Duration(rand.IntN(500)) * time.Millisecond)
			mu.Lock()
			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Wait()
			cmd = runUp(t, bin, common...)
			mu.Unlock()
			t.Logf("kill %d at %d of %d acknowledged (aimed at %d)", k+1, acked.Load(), total, points[k])
		}
	}()
	wg.Wait()
	<-done
	loadTime := time.Since(start)
	t.Logf("%d messages acknowledged in %s with %d kills; %d resends, %d ambiguous", acked.Load(), loadTime.Round(time.Second), kills, resends.Load(), countTrue(ambiguous))

	token, _ := control.LoadOrCreateToken(data)
	c := &control.Client{BaseURL: "http://" + api, Token: token}
	count := make([]int, total)
	deadline := time.Now().Add(10 * time.Minute)
	for {
		clear(count)
		got, err := soakCount(c, count)
		if err == nil && got >= total && allAtLeastOnce(count) {
			// Any late copy would land within a retry interval or two.
			time.Sleep(5 * time.Second)
			clear(count)
			if _, err = soakCount(c, count); err == nil {
				break
			}
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(2 * time.Second)
	}
	lost, dup, ambDup := 0, 0, 0
	for n, k := range count {
		switch {
		case k == 0:
			lost++
			if lost <= 5 {
				t.Errorf("soak-%d (to %s) lost", n, rcpt(n))
			}
		case k > 1 && ambiguous[n].Load():
			ambDup++
		case k > 1:
			dup++
			if dup <= 5 {
				t.Errorf("soak-%d (to %s) delivered %d times", n, rcpt(n), k)
			}
		}
	}
	t.Logf("RESULT messages=%d kills=%d lost=%d duplicated=%d ambiguous-resent=%d ambiguous-duplicated=%d load=%s total=%s",
		total, kills, lost, dup, countTrue(ambiguous), ambDup, loadTime.Round(time.Second), time.Since(start).Round(time.Second))
	if lost > 0 || dup > 0 {
		t.Errorf("%d lost, %d duplicated of %d", lost, dup, total)
	}
}

func countTrue(bs []atomic.Bool) int {
	n := 0
	for i := range bs {
		if bs[i].Load() {
			n++
		}
	}
	return n
}

func allAtLeastOnce(count []int) bool {
	for _, k := range count {
		if k == 0 {
			return false
		}
	}
	return true
}

// soakCount counts the soak messages in alice's (EX01) and bob's (EX02)
// inboxes by subject.
func soakCount(c *control.Client, count []int) (int, error) {
	got := 0
	for _, mb := range [][2]string{{"EX01", "alice@contoso.com"}, {"EX02", "bob@contoso.com"}} {
		msgs, err := c.MailboxMessages(context.Background(), mb[0], mb[1], "INBOX")
		if err != nil {
			return 0, err
		}
		for _, m := range msgs {
			if n, err := strconv.Atoi(strings.TrimPrefix(m.Subject, "soak-")); err == nil && n >= 0 && n < len(count) {
				count[n]++
				got++
			}
		}
	}
	return got, nil
}

// soakDial opens an SMTP session to the Edge from the internet's address.
func soakDial(addr string, from net.IP) (*smtp.Client, error) {
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: from}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	conn.SetDeadline(time.Now().Add(time.Minute))
	c := smtp.NewClient(conn)
	if err := c.Hello("mail.fabrikam.com"); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// soakSend sends soak message n; sentData says whether the message went
// out (so a missing 250 leaves its fate unknown).
func soakSend(c *smtp.Client, n int, to string) (sentData bool, err error) {
	if err := c.Mail("carol@fabrikam.com", nil); err != nil {
		return false, err
	}
	if err := c.Rcpt(to, nil); err != nil {
		return false, err
	}
	w, err := c.Data()
	if err != nil {
		return false, err
	}
	msg := fmt.Sprintf("From: carol@fabrikam.com\r\nTo: %s\r\nSubject: soak-%d\r\nMessage-ID: <soak-%d@fabrikam.com>\r\nDate: %s\r\n\r\nsoak message %d\r\n",
		to, n, n, time.Now().Format(time.RFC1123Z), n)
	if _, err := w.Write([]byte(msg)); err != nil {
		return true, err
	}
	if err := w.Close(); err != nil {
		var se *smtp.SMTPError
		return !errors.As(err, &se), err // a reply refused it; anything else leaves it unknown
	}
	return true, nil
}
