package main

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// words make the subjects and bodies, and are what SEARCH SUBJECT looks for.
var words = strings.Fields(`quarterly report budget review meeting agenda invoice contract
	travel expenses project status roadmap release migration outage incident customer
	renewal forecast training holiday schedule hiring security audit backup license`)

// senders is how many distinct From addresses the mailbox holds.
const senders = 50

// message is the i-th message of the benchmark mailbox (i from 1): the same
// bytes on every server, 1-16 KB, every tenth one multipart/alternative.
func message(i int) []byte {
	rng := rand.New(rand.NewPCG(uint64(i), 16))
	var b bytes.Buffer
	date := messageDate(i)
	subject := words[rng.IntN(len(words))] + " " + words[rng.IntN(len(words))] + " " + strconv.Itoa(i)
	fmt.Fprintf(&b, "From: User %d <user%d@fabrikam.com>\r\n", i%senders, i%senders)
	fmt.Fprintf(&b, "To: Alice <alice@contoso.com>\r\n")
	fmt.Fprintf(&b, "Subject: %s\r\n", subject)
	fmt.Fprintf(&b, "Date: %s\r\n", date.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <imapload-%d@fabrikam.com>\r\n", i)
	b.WriteString("MIME-Version: 1.0\r\n")
	size := 1024 + rng.IntN(15*1024)
	multipart := i%10 == 0
	if multipart {
		b.WriteString("Content-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n--b1\r\n")
	}
	b.WriteString("Content-Type: text/plain; charset=us-ascii\r\n\r\n")
	text := func(n int) {
		line := 0
		for b.Len() < n {
			w := words[rng.IntN(len(words))]
			b.WriteString(w)
			line += len(w) + 1
			if line > 70 {
				b.WriteString("\r\n")
				line = 0
			} else {
				b.WriteByte(' ')
			}
		}
		b.WriteString("\r\n")
	}
	if multipart {
		text(size / 2)
		b.WriteString("--b1\r\nContent-Type: text/html; charset=us-ascii\r\n\r\n<html><body><p>\r\n")
		text(size)
		b.WriteString("</p></body></html>\r\n--b1--\r\n")
	} else {
		text(size)
	}
	return b.Bytes()
}

func messageDate(i int) time.Time {
	return time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC).Add(time.Duration(i) * 17 * time.Minute)
}

// seedFlags are the flags message i is appended with: most read, some
// flagged, so that SEARCH UNSEEN and FLAGGED have something to find.
func seedFlags(i int) string {
	var f []string
	if i%10 < 7 {
		f = append(f, `\Seen`)
	}
	if i%10 == 3 {
		f = append(f, `\Flagged`)
	}
	return strings.Join(f, " ")
}

// writeMaildir writes messages 1..n into a new Maildir's cur/ with the
// flags of seedFlags and the Date as the file's time (the internal date): the
// same mailbox as seed's APPENDs, without an fsync per message (Dovecot
// needs about 60 ms for each APPEND on this machine).
func writeMaildir(dir string, n int) error {
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return err
		}
	}
	for i := 1; i <= n; i++ {
		msg := message(i)
		info := "" // Maildir's flag letters, in ASCII order
		flags := seedFlags(i)
		if strings.Contains(flags, `\Flagged`) {
			info += "F"
		}
		if strings.Contains(flags, `\Seen`) {
			info += "S"
		}
		date := messageDate(i)
		name := filepath.Join(dir, "cur", fmt.Sprintf("%d.M%dP1.imapload,S=%d:2,%s", date.Unix(), i, len(msg), info))
		if err := os.WriteFile(name, msg, 0o600); err != nil {
			return err
		}
		if err := os.Chtimes(name, date, date); err != nil {
			return err
		}
	}
	return nil
}

// seed makes INBOX hold at least n messages: it appends messages
// have+1..n with the given number of connections in parallel.
func seed(addr string, tlsConf *tls.Config, user, pass string, n, conns int) (int, error) {
	c, err := logon(addr, tlsConf, user, pass)
	if err != nil {
		return 0, err
	}
	have, err := selectInbox(c)
	c.close()
	if err != nil {
		return 0, err
	}
	if have >= n {
		return have, nil
	}
	var next atomic.Int64
	next.Store(int64(have))
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for range conns {
		wg.Go(func() {
			c, err := logon(addr, tlsConf, user, pass)
			if err != nil {
				errs <- err
				return
			}
			defer c.close()
			for {
				i := int(next.Add(1))
				if i > n {
					return
				}
				resp, err := c.appendMsg("INBOX", seedFlags(i), message(i))
				if err != nil {
					errs <- fmt.Errorf("append %d: %w", i, err)
					return
				}
				if !resp.ok() {
					errs <- fmt.Errorf("append %d: %s", i, resp.status)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	c, err = logon(addr, tlsConf, user, pass)
	if err != nil {
		return 0, err
	}
	defer c.close()
	return selectInbox(c)
}

// logon dials and logs in with LOGIN.
func logon(addr string, tlsConf *tls.Config, user, pass string) (*conn, error) {
	c, err := dial(addr, tlsConf)
	if err != nil {
		return nil, err
	}
	resp, err := c.do("LOGIN "+quote(user)+" "+quote(pass), false)
	if err == nil && !resp.ok() {
		err = fmt.Errorf("LOGIN: %s", resp.status)
	}
	if err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

// selectInbox selects INBOX and returns its message count (EXISTS).
func selectInbox(c *conn) (int, error) {
	resp, err := c.do("SELECT INBOX", true)
	if err != nil {
		return 0, err
	}
	if !resp.ok() {
		return 0, fmt.Errorf("SELECT: %s", resp.status)
	}
	for _, l := range resp.untagged {
		f := bytes.Fields(l)
		if len(f) == 3 && string(f[2]) == "EXISTS" {
			return strconv.Atoi(string(f[1]))
		}
	}
	return 0, fmt.Errorf("SELECT: no EXISTS")
}
