package imapd

import (
	"fmt"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// BenchmarkBackendFetch: one relayed session fetching the envelope and flags
// of 20 messages, then a NOOP (which polls the folder) per iteration.
func BenchmarkBackendFetch(b *testing.B) {
	l := newLab(b, labOptions{})
	for i := range 20 {
		l.deliver(b, "alice@contoso.com", fmt.Sprint("bench ", i))
	}
	c, err := imapclient.DialTLS(l.fe993, &imapclient.Options{TLSConfig: l.clientTLS})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("alice", password).Wait(); err != nil {
		b.Fatal(err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		b.Fatal(err)
	}
	all := imap.SeqSet{{Start: 1, Stop: 20}}
	opts := &imap.FetchOptions{Flags: true, Envelope: true, RFC822Size: true}
	for b.Loop() {
		msgs, err := c.Fetch(all, opts).Collect()
		if err != nil || len(msgs) != 20 {
			b.Fatalf("Fetch = %d, %v", len(msgs), err)
		}
		if err := c.Noop().Wait(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(2*b.N)/b.Elapsed().Seconds(), "cmds/s")
}
