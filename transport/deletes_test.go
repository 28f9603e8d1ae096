package transport

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
)

// TestFinishedMessagesLeaveTheQueueDatabase: delivered messages are
// removed from the queue database after deleteDelay (their removals
// gathered into shared commits), and a Close commits the removals still
// pending, so a clean restart sends nothing again.
func TestFinishedMessagesLeaveTheQueueDatabase(t *testing.T) {
	dir := t.TempDir()
	net := newFakeNet()
	tr := newTransport(t, dir, net, &byDomain{}, labTimers())
	submit := func(n int) {
		for i := range n {
			m, body := msg("alice@contoso.com", fmt.Sprintf("user%d@fabrikam.com", i))
			if err := tr.Submit(context.Background(), m, body); err != nil {
				t.Fatal(err)
			}
		}
		for range n {
			<-net.sent
		}
	}
	stored := func() int {
		msgs, problems := tr.spool.Load()
		if len(problems) > 0 {
			t.Fatal(problems)
		}
		return len(msgs)
	}
	submit(20)
	waitFor(t, "the delivered messages' removal", func() bool { return stored() == 0 })

	submit(20)
	tr.Close()
	sp, err := OpenSpool(filepath.Join(dir, "Queue", "mail.que"))
	if err != nil {
		t.Fatal(err)
	}
	msgs, _ := sp.Load()
	sp.Close()
	if len(msgs) != 0 {
		t.Errorf("%d delivered messages still in the queue database after Close", len(msgs))
	}
	tr.deleteLater(1) // after Close: dropped, not a commit on a closed database
}
