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

// crashChildEnv carries the database path to the re-executed test binary.
const crashChildEnv = "EXSIM_STORE_CRASH_CHILD"

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
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for n := 0; ; n++ {
				tag := fmt.Sprintf("g%d-n%d", g, n)
				ds, err := s.Deliver(context.Background(), testMsg(tag), "alice@contoso.com")
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
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
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
			line, err := r.ReadString('\n')
			if err != nil {
				break // EOF after the kill; a partial line was never acknowledged
			}
			if strings.HasPrefix(line, "ERR") {
				t.Fatalf("round %d: child: %s", round, line)
			}
			f := strings.Fields(line)
			if len(f) != 3 || f[0] != "ACK" {
				continue
			}
			uid, _ := strconv.ParseUint(f[1], 10, 32)
			if prev, dup := acked[uint32(uid)]; dup {
				t.Fatalf("round %d: UID %d acknowledged for %s and for %s", round, uid, prev, f[2])
			}
			acked[uint32(uid)] = fmt.Sprintf("r%d-%s", round, f[2])
			if n++; n == 400 && !killed {
				cmd.Process.Signal(syscall.SIGKILL)
				killed = true
			}
		}
		cmd.Wait()
		if !killed {
			t.Fatalf("round %d: child exited after %d acks before being killed", round, n)
		}

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
