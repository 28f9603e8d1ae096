package main

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// A kind is one command of the mix: what it sends and how its answer is
// checked, so that a server that answers less does not look faster.
type kind struct {
	name string
	run  func(c *conn, rng *rand.Rand, exists int) error
}

// The window sizes of the FETCH commands.
const (
	flagsWindow   = 100
	headersWindow = 20
)

var kinds = map[string]kind{
	// A client syncing flags: FETCH of 100 consecutive messages' flags.
	"fetch-flags": {"FETCH flags", func(c *conn, rng *rand.Rand, exists int) error {
		a := 1 + rng.IntN(max(1, exists-flagsWindow+1))
		b := min(exists, a+flagsWindow-1)
		return expectFetch(c, fmt.Sprintf("FETCH %d:%d (UID FLAGS)", a, b), a, b, "UID ")
	}},
	// A client showing the message list: envelopes of 20 messages.
	"fetch-headers": {"FETCH envelope", func(c *conn, rng *rand.Rand, exists int) error {
		a := 1 + rng.IntN(max(1, exists-headersWindow+1))
		b := min(exists, a+headersWindow-1)
		return expectFetch(c, fmt.Sprintf("FETCH %d:%d (UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)", a, b), a, b, "ENVELOPE ")
	}},
	// A client opening a message: the whole of one, without setting \Seen;
	// the literal must be as long as RFC822.SIZE says.
	"fetch-body": {"FETCH body", func(c *conn, rng *rand.Rand, exists int) error {
		resp, err := c.do(fmt.Sprintf("FETCH %d (UID RFC822.SIZE BODY.PEEK[])", 1+rng.IntN(exists)), true)
		if err != nil {
			return err
		}
		if !resp.ok() {
			return fmt.Errorf("%s", resp.status)
		}
		if len(resp.literals) != 1 {
			return fmt.Errorf("want one literal, got %d", len(resp.literals))
		}
		for _, l := range resp.untagged {
			if bytes.Contains(l, []byte("BODY[]")) {
				if size := rfc822Size(l); size != resp.literals[0] {
					return fmt.Errorf("RFC822.SIZE %d, BODY[] has %d bytes", size, resp.literals[0])
				}
				return nil
			}
		}
		return fmt.Errorf("no FETCH BODY[] in %d responses", len(resp.untagged))
	}},
	// SEARCH on flags and on headers; the mailbox's UIDs, not the
	// sequence numbers.
	"search": {"SEARCH", func(c *conn, rng *rand.Rand, _ int) error {
		var q string
		switch rng.IntN(4) {
		case 0:
			q = "UNSEEN"
		case 1:
			q = "FLAGGED"
		case 2:
			q = "SUBJECT " + quote(words[rng.IntN(len(words))])
		default:
			q = "FROM " + quote("user"+strconv.Itoa(rng.IntN(senders))+"@")
		}
		return expect(c, "UID SEARCH "+q, "SEARCH", 1)
	}},
	// Flag changes: \Flagged and \Seen set and cleared on one message.
	"store": {"STORE", func(c *conn, rng *rand.Rand, exists int) error {
		op := [...]string{`+FLAGS (\Flagged)`, `-FLAGS (\Flagged)`, `+FLAGS (\Seen)`, `-FLAGS (\Seen)`}[rng.IntN(4)]
		return expect(c, fmt.Sprintf("STORE %d %s", 1+rng.IntN(exists), op), "", 0)
	}},
	// IDLE entered and left at once (DONE after the continuation): the
	// server's cost of starting and ending it, plus the updates it sends.
	"idle": {"IDLE", func(c *conn, _ *rand.Rand, _ int) error {
		resp, err := c.idle()
		if err != nil {
			return err
		}
		if !resp.ok() {
			return fmt.Errorf("%s", resp.status)
		}
		return nil
	}},
}

// expect runs cmd and checks it ended OK with want untagged responses named
// word (none checked when word is empty).
func expect(c *conn, cmd, word string, want int) error {
	resp, err := c.do(cmd, word != "")
	if err != nil {
		return err
	}
	if !resp.ok() {
		return fmt.Errorf("%s: %s", cmd, resp.status)
	}
	if word != "" {
		if got := resp.count(word); got != want {
			return fmt.Errorf("%s: %d %s responses, want %d", cmd, got, word, want)
		}
	}
	return nil
}

// expectFetch runs a FETCH of messages a..b and checks that each of them
// came back with item.
func expectFetch(c *conn, cmd string, a, b int, item string) error {
	resp, err := c.do(cmd, true)
	if err != nil {
		return err
	}
	if !resp.ok() {
		return fmt.Errorf("%s: %s", cmd, resp.status)
	}
	if got := resp.fetched(a, b, item); got != b-a+1 {
		return fmt.Errorf("%s: %d of %d messages came back", cmd, got, b-a+1)
	}
	return nil
}

// rfc822Size is the RFC822.SIZE of a FETCH response line, or -1.
func rfc822Size(line []byte) int {
	_, rest, ok := bytes.Cut(line, []byte("RFC822.SIZE "))
	if !ok {
		return -1
	}
	end := bytes.IndexAny(rest, " )")
	if end < 0 {
		end = len(rest)
	}
	n, err := strconv.Atoi(string(rest[:end]))
	if err != nil {
		return -1
	}
	return n
}

// mix is a weighted choice among kinds.
type mix struct {
	kinds   []kind
	weights []int
	total   int
}

// parseMix reads "fetch-flags=25,store=15,...".
func parseMix(s string) (mix, error) {
	var m mix
	for part := range strings.SplitSeq(s, ",") {
		name, w, ok := strings.Cut(strings.TrimSpace(part), "=")
		k, known := kinds[name]
		n, err := strconv.Atoi(w)
		if !ok || !known || err != nil || n < 0 {
			return mix{}, fmt.Errorf("mix: bad entry %q (kinds: fetch-flags, fetch-headers, fetch-body, search, store, idle)", part)
		}
		m.kinds = append(m.kinds, k)
		m.weights = append(m.weights, n)
		m.total += n
	}
	if m.total == 0 {
		return mix{}, fmt.Errorf("mix: all weights are 0")
	}
	return m, nil
}

func (m mix) pick(rng *rand.Rand) kind {
	n := rng.IntN(m.total)
	for i, w := range m.weights {
		if n < w {
			return m.kinds[i]
		}
		n -= w
	}
	return m.kinds[len(m.kinds)-1]
}

// client is one simulated IMAP client: sessions of LOGIN, SELECT INBOX,
// -session commands of the mix and LOGOUT, one after another, until stop.
type client struct {
	addr       string
	tlsConf    *tls.Config
	user, pass string
	mix        mix
	session    int
	rng        *rand.Rand
	rec        *recorder
}

func (cl *client) run(stop time.Time) {
	for time.Now().Before(stop) {
		if err := cl.session1(stop); err != nil {
			cl.rec.fail("session", err)
			time.Sleep(100 * time.Millisecond) // do not spin on a server that refuses
		}
	}
}

// session1 is one connection's life.
func (cl *client) session1(stop time.Time) error {
	t0 := time.Now()
	c, err := dial(cl.addr, cl.tlsConf)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer c.close()
	cl.rec.add("connect", t0)
	t0 = time.Now()
	if err := expect(c, "LOGIN "+quote(cl.user)+" "+quote(cl.pass), "", 0); err != nil {
		return err
	}
	cl.rec.add("LOGIN", t0)
	t0 = time.Now()
	exists, err := selectInbox(c)
	if err != nil {
		return err
	}
	if exists == 0 {
		return fmt.Errorf("SELECT INBOX: the mailbox is empty (seed it first)")
	}
	cl.rec.add("SELECT", t0)
	for i := 0; i < cl.session && time.Now().Before(stop); i++ {
		k := cl.mix.pick(cl.rng)
		t0 = time.Now()
		if err := k.run(c, cl.rng, exists); err != nil {
			return fmt.Errorf("%s: %w", k.name, err)
		}
		cl.rec.add(k.name, t0)
	}
	t0 = time.Now()
	resp, err := c.do("LOGOUT", false)
	if err != nil {
		return fmt.Errorf("LOGOUT: %w", err)
	}
	if !resp.ok() {
		return fmt.Errorf("LOGOUT: %s", resp.status)
	}
	cl.rec.add("LOGOUT", t0)
	return nil
}
