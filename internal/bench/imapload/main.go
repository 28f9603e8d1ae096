// Command imapload is an imaptest-like IMAP load generator (issue 16): N
// clients, each a loop of sessions (connect, LOGIN, SELECT INBOX, a mix of
// FETCH flags, envelopes and bodies, SEARCH, STORE and IDLE, LOGOUT) for a
// duration, against any IMAP4rev1 server. It prints commands per second per
// command and in total, with latency percentiles, as a Markdown table.
// With -seed it first makes INBOX hold that many messages by APPENDing the
// same deterministic messages on every server. internal/bench/imap.sh runs
// it against exsim's IMAP4 front end, its back end and Dovecot.
//
//	go run ./internal/bench/imapload -addr 127.0.20.1:993 -tls -user alice@contoso.com -pass 'P@ssw0rd' -seed 10000
//
// Only loopback addresses are accepted. Certificates are not verified (the
// servers measured use the lab's or a throwaway certificate).
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"time"
)

const defaultMix = "fetch-flags=25,fetch-headers=10,fetch-body=25,search=10,store=20,idle=10"

func main() {
	log.SetFlags(0)
	log.SetPrefix("imapload: ")
	addr := flag.String("addr", "", "loopback host:port of the IMAP server (required)")
	useTLS := flag.Bool("tls", false, "implicit TLS (993, 1993)")
	user := flag.String("user", "alice@contoso.com", "LOGIN user")
	pass := flag.String("pass", "P@ssw0rd", "LOGIN password")
	clients := flag.Int("clients", 10, "concurrent clients")
	duration := flag.Duration("duration", 30*time.Second, "how long the load runs after the warm-up; 0: seed only")
	warmup := flag.Duration("warmup", 5*time.Second, "load before measuring starts (not counted)")
	session := flag.Int("session", 100, "commands of the mix per connection before LOGOUT and a new LOGIN")
	mixFlag := flag.String("mix", defaultMix, "weights of the commands")
	seedN := flag.Int("seed", 0, "first make INBOX hold at least this many messages (APPEND)")
	seedConns := flag.Int("seed-conns", 10, "connections APPENDing in parallel while seeding")
	maildir := flag.String("maildir", "", "with -seed: write the messages into this new Maildir (Dovecot's INBOX) instead of APPENDing")
	name := flag.String("name", "", "label of this run in the output (default: -addr)")
	rseed := flag.Uint64("rand", 1, "seed of the clients' choices")
	flag.Parse()

	if *maildir != "" {
		if *seedN <= 0 || *duration > 0 {
			log.Fatal("-maildir goes with -seed N and -duration 0")
		}
		if err := writeMaildir(*maildir, *seedN); err != nil {
			log.Fatal(err)
		}
		return
	}
	host, _, err := net.SplitHostPort(*addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		log.Fatal("need -addr with a loopback address")
	}
	if *clients <= 0 || *session <= 0 || *seedConns <= 0 {
		log.Fatal("-clients, -session and -seed-conns must be > 0")
	}
	m, err := parseMix(*mixFlag)
	if err != nil {
		log.Fatal(err)
	}
	if *name == "" {
		*name = *addr
	}
	var tlsConf *tls.Config
	if *useTLS {
		tlsConf = &tls.Config{InsecureSkipVerify: true, ClientSessionCache: tls.NewLRUClientSessionCache(64)}
	}
	if *seedN > 0 {
		t0 := time.Now()
		have, err := seed(*addr, tlsConf, *user, *pass, *seedN, *seedConns)
		if err != nil {
			log.Fatalf("seed %s: %v", *name, err)
		}
		fmt.Fprintf(os.Stderr, "%s: INBOX holds %d messages (%.1f s)\n", *name, have, time.Since(t0).Seconds())
	}
	if *duration <= 0 {
		return
	}

	start := time.Now()
	from := start.Add(*warmup)
	stop := from.Add(*duration)
	recs := make([]*recorder, *clients)
	var wg sync.WaitGroup
	for i := range *clients {
		recs[i] = newRecorder(from)
		cl := &client{addr: *addr, tlsConf: tlsConf, user: *user, pass: *pass, mix: m, session: *session,
			rng: rand.New(rand.NewPCG(*rseed, uint64(i))), rec: recs[i]}
		wg.Go(func() { cl.run(stop) })
	}
	wg.Wait()
	elapsed := time.Since(from)
	total := merge(recs)
	fmt.Printf("%s: %d clients, %.1f s measured after %.0f s warm-up, %d-command sessions, mix %s\n\n",
		*name, *clients, elapsed.Seconds(), warmup.Seconds(), *session, *mixFlag)
	total.print(os.Stdout, *name, elapsed)
	if total.errors > 0 {
		os.Exit(1)
	}
}
