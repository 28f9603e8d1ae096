package imapd

import (
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/exsim/exsim/internal/membudget"
)

// TestAppendOverBudget: an APPEND literal the process-wide in-flight
// budget cannot hold is answered NO [LIMIT] without being stored, and the
// session goes on (the literal was read past).
func TestAppendOverBudget(t *testing.T) {
	l := newLab(t, labOptions{})
	c := l.dialProxy(t, nil)
	raw := "From: alice@contoso.com\r\nSubject: over budget\r\n\r\n" + strings.Repeat("body line\r\n", 1000)
	appendRaw := func() error {
		cmd := c.Append("Drafts", int64(len(raw)), nil)
		cmd.Write([]byte(raw))
		cmd.Close()
		_, err := cmd.Wait()
		return err
	}
	func() {
		defer membudget.Memory.SetMax(membudget.DefaultMemory)
		_, used, _ := membudget.Memory.Stats()
		membudget.Memory.SetMax(used)
		err := appendRaw()
		if err == nil || !strings.Contains(err.Error(), "Insufficient system resources") {
			t.Fatalf("APPEND with the budget spent = %v, want NO [LIMIT] Insufficient system resources", err)
		}
		var ierr *imap.Error
		if e, ok := err.(*imap.Error); ok {
			ierr = e
		}
		if ierr == nil || ierr.Code != imap.ResponseCodeLimit {
			t.Errorf("APPEND with the budget spent = %#v, want response code LIMIT", err)
		}
	}()
	if err := appendRaw(); err != nil {
		t.Fatalf("APPEND after the budget was given back = %v", err)
	}
	st, err := c.Status("Drafts", &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil || *st.NumMessages != 1 {
		t.Errorf("Drafts after one refused and one accepted APPEND: %+v, %v; want 1 message", st, err)
	}
}

// TestAuthenticatedIdleTimeout: a logged-on client that sends nothing for
// AuthenticatedTimeout is disconnected by the front end; one that keeps
// talking is not.
func TestAuthenticatedIdleTimeout(t *testing.T) {
	l := newLab(t, labOptions{frontend: FrontendOptions{AuthenticatedTimeout: 400 * time.Millisecond}})
	busy := l.dialProxy(t, nil)
	idle := l.dialProxy(t, nil)
	for i := 0; ; i++ {
		select {
		case <-idle.Closed():
			select {
			case <-busy.Closed():
				t.Fatal("a client sending NOOPs was disconnected too")
			default:
			}
			if err := busy.Noop().Wait(); err != nil {
				t.Fatalf("NOOP on the busy connection: %v", err)
			}
			return
		case <-time.After(100 * time.Millisecond):
			if i == 600 {
				t.Fatal("an idle logged-on client was never disconnected")
			}
			if err := busy.Noop().Wait(); err != nil {
				t.Fatalf("NOOP on the busy connection: %v", err)
			}
		}
	}
}
