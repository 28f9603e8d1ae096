package imapd

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"
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
	c := benchSession(b, l.fe993, l.clientTLS, "alice")
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

// BenchmarkFetchBody: FETCH BODY.PEEK[] of one 16 KB message, through the
// frontend (993, which relays to the backend) and from the backend (1993)
// directly: the difference is the frontend hop.
func BenchmarkFetchBody(b *testing.B) {
	l := newLab(b, labOptions{})
	body := strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd\r\n", 256)
	msg := "From: carol@fabrikam.com\r\nTo: alice@contoso.com\r\nSubject: big\r\n\r\n" + body
	if _, err := l.st.Deliver(context.Background(), []byte(msg), "alice@contoso.com"); err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name, addr string
		tls        *tls.Config
	}{
		{"frontend", l.fe993, l.clientTLS},
		{"backend", l.beAddr, l.ca.ClientTLS("ex01.contoso.com", nil)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			c := benchSession(b, tc.addr, tc.tls, "alice@contoso.com")
			opts := &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Peek: true}}}
			b.SetBytes(int64(len(msg)))
			for b.Loop() {
				msgs, err := c.Fetch(imap.SeqSetNum(1), opts).Collect()
				if err != nil || len(msgs) != 1 || len(msgs[0].BodySection) != 1 {
					b.Fatalf("Fetch = %v, %v", msgs, err)
				}
			}
		})
	}
}

// benchSession logs user on at addr (implicit TLS) and selects INBOX.
func benchSession(b *testing.B, addr string, cfg *tls.Config, user string) *imapclient.Client {
	b.Helper()
	c, err := imapclient.DialTLS(addr, &imapclient.Options{TLSConfig: cfg})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	if err := c.Login(user, password).Wait(); err != nil {
		b.Fatal(err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		b.Fatal(err)
	}
	return c
}
