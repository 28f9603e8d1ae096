package store

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// crashChildEnv carries the database path to the re-executed test binary;
// crashOnceEnv, when set, makes it deliver with DeliverOnce, the value
// prefixing every tag (the message id).
const (
	crashChildEnv = "EXSIM_STORE_CRASH_CHILD"
	crashOnceEnv  = "EXSIM_STORE_CRASH_ONCE"
)

// TestCrashChild is the child half of TestCrashDurability: it delivers in a
// loop from several goroutines and prints "ACK <uid> <tag>" after every
// Deliver that returned, until it is killed.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashChildEnv)
	if path == "" {
		t.Skip("child process of TestCrashDurability only")
	}
	s, err := Open(path, Options{})
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	if _, err := s.CreateMailbox(context.Background(), "alice@contoso.com"); err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	once := os.Getenv(crashOnceEnv)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for n := 0; ; n++ {
				tag := fmt.Sprintf("g%d-n%d", g, n)
				id := ""
				if once != "" {
					tag = once + tag
					id = tag
					mu.Lock()
					os.Stdout.WriteString("TRY 0 " + tag + "\n")
					mu.Unlock()
				}
				ds, err := s.DeliverOnce(context.Background(), id, testMsg(tag), "alice@contoso.com")
				if err != nil {
					fmt.Println("ERR", err)
					os.Exit(1)
				}
				mu.Lock()
				os.Stdout.WriteString(fmt.Sprintf("ACK %d %s\n", ds[0].UID, tag))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}

// TestCrashDurability kills a delivering process with SIGKILL and checks that
// every delivery it acknowledged is in the reopened store.
func TestCrashDurability(t *testing.T) {
	if os.Getenv(crashChildEnv) != "" {
		t.Skip("in child")
	}
	path := filepath.Join(t.TempDir(), "EX01", "mailboxes.db")
	acked := map[uint32]string{}
	for round := range 3 { // the store survives repeated crashes
		runCrashChild(t, path, nil, 400, func(f []string) {
			uid, _ := strconv.ParseUint(f[1], 10, 32)
			if prev, dup := acked[uint32(uid)]; dup {
				t.Fatalf("round %d: UID %d acknowledged for %s and for %s", round, uid, prev, f[2])
			}
			acked[uint32(uid)] = fmt.Sprintf("r%d-%s", round, f[2])
		})

		s, err := Open(path, Options{})
		if err != nil {
			t.Fatalf("round %d: Open after SIGKILL = %v", round, err)
		}
		m, err := s.Mailbox("alice@contoso.com")
		if err != nil {
			t.Fatal(err)
		}
		inbox := mustFolder(t, m, Inbox)
		missing := 0
		for uid, tag := range acked {
			body, err := inbox.Body(uid)
			want := "Hello " + tag[strings.Index(tag, "-")+1:]
			if err != nil || !strings.Contains(string(body), want) {
				if missing++; missing < 5 {
					t.Errorf("round %d: acknowledged UID %d (%s) after reopen: %q, %v", round, uid, tag, body, err)
				}
			}
		}
		if missing > 0 {
			t.Errorf("round %d: %d of %d acknowledged deliveries lost", round, missing, len(acked))
		}
		if err := s.Check(); err != nil {
			t.Errorf("round %d: Check() = %v", round, err)
		}
		st, _ := inbox.Status()
		if int(st.Messages) < len(acked) {
			t.Errorf("round %d: %d messages, %d acknowledged", round, st.Messages, len(acked))
		}
		s.Close()
	}
}

// runCrashChild runs TestCrashChild on the database at path with extra
// environment, hands every "ACK"/"TRY" line's fields to line, and kills the
// child with SIGKILL after killAt acknowledgements.
func runCrashChild(t *testing.T, path string, env []string, killAt int, line func(f []string)) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$")
	cmd.Env = append(append(os.Environ(), crashChildEnv+"="+path), env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(out)
	n := 0
	killed := false
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			break // EOF after the kill; a partial line was never acknowledged
		}
		if strings.HasPrefix(l, "ERR") {
			t.Fatalf("child: %s", l)
		}
		f := strings.Fields(l)
		if len(f) != 3 || f[0] != "ACK" && f[0] != "TRY" {
			continue
		}
		line(f)
		if f[0] == "ACK" {
			if n++; n == killAt && !killed {
				cmd.Process.Signal(syscall.SIGKILL)
				killed = true
			}
		}
	}
	cmd.Wait()
	if !killed {
		t.Fatalf("child exited after %d acks before being killed", n)
	}
}

// TestCrashExactlyOnce kills a process delivering with DeliverOnce, then
// plays a sender that lost its bookkeeping in the crash: it sends every
// message it ever tried again. Each must be in the inbox exactly once: the
// acknowledged ones not lost, none twice.
func TestCrashExactlyOnce(t *testing.T) {
	if os.Getenv(crashChildEnv) != "" {
		t.Skip("in child")
	}
	path := filepath.Join(t.TempDir(), "EX01", "mailboxes.db")
	tried, acked := map[string]bool{}, map[string]bool{}
	for round := range 2 {
		runCrashChild(t, path, []string{fmt.Sprintf("%s=r%d-", crashOnceEnv, round)}, 300, func(f []string) {
			if f[0] == "ACK" {
				acked[f[2]] = true
			}
			tried[f[2]] = true
		})
		s, err := Open(path, Options{})
		if err != nil {
			t.Fatalf("round %d: Open after SIGKILL = %v", round, err)
		}
		dups := 0
		for tag := range tried {
			ds, err := s.DeliverOnce(context.Background(), tag, testMsg(tag), "alice@contoso.com")
			if err != nil {
				t.Fatal(err)
			}
			if ds[0].Duplicate {
				dups++
			} else if acked[tag] {
				t.Errorf("round %d: %s was acknowledged but stored again on retry (it was lost)", round, tag)
			}
		}
		m, err := s.Mailbox("alice@contoso.com")
		if err != nil {
			t.Fatal(err)
		}
		msgs, err := mustFolder(t, m, Inbox).Messages()
		if err != nil {
			t.Fatal(err)
		}
		count := map[string]int{}
		for _, mi := range msgs {
			count[mi.Subject]++
		}
		for tag := range tried {
			if count[tag] != 1 {
				t.Errorf("round %d: %s is in the inbox %d times, want once", round, tag, count[tag])
			}
		}
		if len(msgs) != len(tried) {
			t.Errorf("round %d: %d messages in the inbox for %d distinct ones", round, len(msgs), len(tried))
		}
		if dups < len(acked) {
			t.Errorf("round %d: %d retries recognised, want at least the %d acknowledged", round, dups, len(acked))
		}
		t.Logf("round %d: %d tried, %d acknowledged, %d retries recognised as duplicates", round, len(tried), len(acked), dups)
		s.Close()
	}
}
