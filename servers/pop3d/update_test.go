package pop3d

import (
	"slices"
	"testing"
	"time"
)

// TestUpdateState: deletions are committed only by QUIT from the
// TRANSACTION state (RFC 1939 section 6).
func TestUpdateState(t *testing.T) {
	tests := []struct {
		name string
		end  func(t *testing.T, c *popClient, s *Server)
		want []string
	}{
		{"quit commits", func(t *testing.T, c *popClient, _ *Server) {
			c.expect("QUIT", okQuit)
		}, []string{"alice-1", "alice-3"}},
		{"dropped connection commits nothing", func(t *testing.T, c *popClient, _ *Server) {
			c.conn.Close()
		}, []string{"alice-1", "alice-2", "alice-3"}},
		{"rset then quit commits nothing", func(t *testing.T, c *popClient, _ *Server) {
			c.expect("RSET", "+OK")
			c.expect("QUIT", okQuit)
		}, []string{"alice-1", "alice-2", "alice-3"}},
		{"idle timeout commits nothing", func(t *testing.T, c *popClient, _ *Server) {
			if got := c.line(); got != "-ERR Connection is closed. 13" {
				t.Errorf("autologout = %q", got)
			}
		}, []string{"alice-1", "alice-2", "alice-3"}},
		{"server close commits nothing", func(t *testing.T, c *popClient, s *Server) {
			s.Close()
		}, []string{"alice-1", "alice-2", "alice-3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := aliceStore()
			o := testOptions(t, store)
			if tt.name == "idle timeout commits nothing" {
				o.AuthenticatedConnectionTimeout = 100 * time.Millisecond
			}
			addr, srv := startServer(t, o, true)
			c := greeted(t, addr, true)
			run(t, c, []step{{"AUTH PLAIN AGFsaWNlAFBAc3N3MHJk", l(okLogon)}, {"DELE 2", l("+OK Marked to be deleted.")}})
			tt.end(t, c, srv)
			waitClosed(t, store, "alice")
			if got := store.uids("alice"); !slices.Equal(got, tt.want) {
				t.Errorf("after session: uids = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestRenumberAfterQuit: the next session numbers the remaining messages
// from 1 and keeps their UIDs.
func TestRenumberAfterQuit(t *testing.T) {
	store := aliceStore()
	addr, _ := startServer(t, testOptions(t, store), true)
	c := greeted(t, addr, true)
	run(t, c, []step{{"AUTH PLAIN AGFsaWNlAFBAc3N3MHJk", l(okLogon)}, {"DELE 1", l("+OK Marked to be deleted.")}, {"QUIT", l(okQuit)}})
	waitClosed(t, store, "alice")
	c = greeted(t, addr, true)
	run(t, c, []step{
		{"AUTH PLAIN AGFsaWNlAFBAc3N3MHJk", l(okLogon)},
		{"UIDL", l("+OK", "1 alice-2", "2 alice-3", ".")},
	})
}
