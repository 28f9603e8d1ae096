package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/exsim/exsim/internal/control"
	"github.com/exsim/exsim/internal/labnet"
	"github.com/exsim/exsim/roles"
	"github.com/exsim/exsim/topology"
	"github.com/exsim/exsim/transport/smtpclient"
)

type sendFlags struct {
	from, smtp, tls, user, password, sender, subject, body, authMech, format string
	to                                                                       []string
	count, size, concurrency                                                 int
	queue                                                                    bool
	timeout                                                                  time.Duration
}

func newSendCmd(g *globals) *cobra.Command {
	var f sendFlags
	cmd := &cobra.Command{
		Use:   "send",
		Short: "Send mail as a client, or from a server's position (MX through the lab DNS); a load generator too",
		Long: `Sends mail either as an SMTP client to --smtp host:port (STARTTLS, implicit TLS, AUTH,
trusting the lab CA), or --from a server of the lab: bound to that server's address and
resolving each recipient's MX through the lab DNS, as that server would. With --count,
--size and --concurrency it is a load generator; a summary (sent, refused with the reply,
msgs/s) ends every run and the exit code is 1 when any message was refused.`,
		Example: `  exsim send --from INET01 --to alice@contoso.com                  # internet -> MX -> Edge -> mailbox
  exsim send --smtp ex01.contoso.com:587 --tls starttls --user alice --password 'P@ssw0rd' \
             --sender alice@contoso.com --to carol@fabrikam.com
  exsim send --from INET01 --to alice@contoso.com --count 10000 --size 4096 --concurrency 20
  exsim send --from INET01 --queue --to bob@contoso.com     # hand it to INET01's own queue (retries)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runSend(cmd.Context(), g, f) },
	}
	fl := cmd.Flags()
	g.serverFlag(cmd, "from", &f.from, "send from this server's position (address, lab DNS)")
	fl.StringVar(&f.smtp, "smtp", "", "send as a client to host:port (a lab FQDN or an address)")
	enumFlag(cmd, &f.tls, "tls", "", "", "TLS (default: starttls with --user, else opportunistic)", "", "none", "opportunistic", "starttls", "implicit")
	fl.StringVar(&f.user, "user", "", "AUTH user (alice@contoso.com, CONTOSO\\alice, alice)")
	fl.StringVar(&f.password, "password", "", "AUTH password")
	enumFlag(cmd, &f.authMech, "auth", "", "PLAIN", "AUTH mechanism", "PLAIN", "LOGIN")
	fl.StringVar(&f.sender, "sender", "", "envelope and From address (default: a mailbox of the --from server, or --user)")
	fl.StringSliceVar(&f.to, "to", nil, "recipient (repeat or comma-separate)")
	fl.StringVar(&f.subject, "subject", "exsim test message", "subject")
	fl.StringVar(&f.body, "body", "This message was sent by exsim.", "body text")
	fl.IntVar(&f.count, "count", 1, "messages to send")
	fl.IntVar(&f.size, "size", 0, "pad each message to about this many bytes")
	fl.IntVar(&f.concurrency, "concurrency", 1, "parallel SMTP sessions")
	fl.BoolVar(&f.queue, "queue", false, "with --from: queue on the server (durable, retried) instead of delivering directly")
	fl.DurationVar(&f.timeout, "timeout", 30*time.Second, "per-message timeout")
	formatFlag(cmd, &f.format, "table", "json")
	completeWith(cmd, "to", g.fromTopology(mailboxAddresses))
	return cmd
}

// sendJob sends one message and returns its result.
type sendJob func(ctx context.Context, i int) smtpclient.Result

func runSend(ctx context.Context, g *globals, f sendFlags) error {
	if (f.from == "") == (f.smtp == "") {
		return usageError("give exactly one of --from SERVER (a server's position) or --smtp HOST:PORT (as a client)")
	}
	if len(f.to) == 0 {
		return usageError("--to is required")
	}
	if f.count < 1 || f.concurrency < 1 || f.size < 0 {
		return usageError("--count and --concurrency must be at least 1, --size not negative")
	}
	t, err := g.labTopology()
	if err != nil {
		return err
	}
	dir, err := g.dataDir()
	if err != nil {
		return err
	}
	var job sendJob
	if f.from != "" {
		if err := g.requireLab(ctx); err != nil {
			return err
		}
		job, err = fromServerJob(g, t, dir, f)
	} else {
		job, err = clientJob(g, t, dir, f)
	}
	if err != nil {
		return err
	}
	return runJobs(ctx, g, f, job)
}

// fromServerJob sends from a server's position: locally when this host
// has the server's address (the loopback lab), else through the admin API
// of the process that runs the server (namespaces, containers).
func fromServerJob(g *globals, t *topology.Topology, dir string, f sendFlags) (sendJob, error) {
	s := t.Server(f.from)
	if s == nil {
		return nil, usageError("--from %q is not a server of the topology", f.from)
	}
	sender := f.sender
	if sender == "" {
		if mbs := t.MailboxesOn(s.Name); len(mbs) > 0 {
			sender = mbs[0].Address
		} else {
			sender = "postmaster@" + s.FQDN
		}
	}
	if f.queue || !localAddress(s.Addr()) {
		c, err := g.adminFor(s.Name)
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context, i int) smtpclient.Result {
			start := time.Now()
			r, err := c.Send(ctx, control.SendRequest{FromServer: s.Name, Sender: sender, Recipients: f.to, Subject: subjectN(f, i), Body: f.body, Queue: f.queue})
			if err != nil {
				return smtpclient.Result{Reply: err.Error(), Err: err, Duration: time.Since(start)}
			}
			return smtpclient.Result{MessageID: r.MessageID, Accepted: r.Accepted, Reply: r.Reply, Rcpts: r.Rcpts, Endpoint: r.Endpoint, Duration: time.Since(start)}
		}, nil
	}
	pool, err := labPool(dir)
	if err != nil {
		return nil, err
	}
	var dns []netip.AddrPort
	for _, d := range t.ServersByRole(topology.RoleDNS) {
		dns = append(dns, t.Endpoint(d, 53))
	}
	d := &labnet.Dialer{Server: s.Name, Source: s.Addr(), Guard: roles.Guard(t)}
	res := &labnet.Resolver{Servers: dns, Dial: d.DialContext}
	snd := &smtpclient.Sender{Helo: s.FQDN, Dial: d.DialContext, Resolver: res, Timeout: f.timeout}
	mode := parseTLS(f.tls, smtpclient.TLSOpportunistic)
	tgt := smtpclient.Target{Port: t.Port(25), TLS: mode, TLSConfig: func(name string) *tls.Config {
		return &tls.Config{RootCAs: pool, ServerName: name, MinVersion: tls.VersionTLS12, InsecureSkipVerify: mode == smtpclient.TLSOpportunistic}
	}}
	return func(ctx context.Context, i int) smtpclient.Result {
		m := &smtpclient.Message{From: sender, To: f.to, Subject: subjectN(f, i), Body: f.body, Size: f.size}
		body, err := smtpclient.Build(m, time.Now(), s.FQDN)
		if err != nil {
			return smtpclient.Result{Reply: err.Error(), Err: err}
		}
		return snd.Send(ctx, tgt, m, body)
	}, nil
}

// clientJob sends as a client to --smtp.
func clientJob(g *globals, t *topology.Topology, dir string, f sendFlags) (sendJob, error) {
	host, port, err := net.SplitHostPort(f.smtp)
	if err != nil {
		return nil, usageError("--smtp %q: write host:port, e.g. ex01.contoso.com:587", f.smtp)
	}
	if _, err := strconv.Atoi(port); err != nil {
		return nil, usageError("--smtp %q: bad port", f.smtp)
	}
	serverName := host
	if s := t.ServerByFQDN(host); s != nil {
		host = s.Address
	} else if s := t.Server(host); s != nil {
		host, serverName = s.Address, s.FQDN
	} else if _, err := netip.ParseAddr(host); err != nil {
		return nil, usageError("--smtp %q: %s is neither an address nor a server of the topology", f.smtp, host)
	} else if s := t.ServerByAddr(netip.MustParseAddr(host)); s != nil {
		serverName = s.FQDN
	}
	pool, err := labPool(dir)
	if err != nil {
		return nil, err
	}
	sender := f.sender
	if sender == "" {
		if m := roles.LookupLogon(t, f.user); m != nil {
			sender = m.Address
		} else if strings.Contains(f.user, "@") {
			sender = f.user
		} else {
			return nil, usageError("--sender is required (or --user naming a mailbox of the topology)")
		}
	}
	def := smtpclient.TLSOpportunistic
	if f.user != "" {
		def = smtpclient.TLSRequired
	}
	mode := parseTLS(f.tls, def)
	snd := &smtpclient.Sender{Helo: "exsim-client.local", Dial: (&net.Dialer{}).DialContext, Timeout: f.timeout}
	tgt := smtpclient.Target{SMTP: net.JoinHostPort(host, port), TLS: mode, User: f.user, Password: f.password, AuthMech: f.authMech,
		TLSConfig: func(string) *tls.Config {
			return &tls.Config{RootCAs: pool, ServerName: serverName, MinVersion: tls.VersionTLS12}
		}}
	return func(ctx context.Context, i int) smtpclient.Result {
		m := &smtpclient.Message{From: sender, To: f.to, Subject: subjectN(f, i), Body: f.body, Size: f.size}
		body, err := smtpclient.Build(m, time.Now(), "exsim-client.local")
		if err != nil {
			return smtpclient.Result{Reply: err.Error(), Err: err}
		}
		return snd.Send(ctx, tgt, m, body)
	}, nil
}

func subjectN(f sendFlags, i int) string {
	if f.count == 1 {
		return f.subject
	}
	return fmt.Sprintf("%s #%d", f.subject, i+1)
}

func parseTLS(s string, def smtpclient.TLSMode) smtpclient.TLSMode {
	switch s {
	case "none":
		return smtpclient.TLSNone
	case "starttls":
		return smtpclient.TLSRequired
	case "implicit":
		return smtpclient.TLSImplicit
	case "opportunistic":
		return smtpclient.TLSOpportunistic
	}
	return def
}

// labPool trusts the lab CA of the data directory.
func labPool(dir string) (*x509.CertPool, error) {
	b, err := os.ReadFile(filepath.Join(dir, "certs", "ca.pem"))
	if err != nil {
		return nil, usageError("the lab CA %s: %v (start the lab first, with the same --data)", filepath.Join(dir, "certs", "ca.pem"), err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(b)
	return pool, nil
}

// localAddress reports whether this host has addr (every 127/8 address
// is local on Linux).
func localAddress(addr netip.Addr) bool {
	if addr.IsLoopback() {
		return true
	}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr() == addr {
			return true
		}
	}
	return false
}

// sendSummary is what a send run did: the table (or --format json) that
// ends every run.
type sendSummary struct {
	Count   int     `json:"count"`
	Sent    int     `json:"sent"`
	Refused int     `json:"refused"`
	Seconds float64 `json:"seconds"`
	Rate    float64 `json:"rate"` // messages accepted per second
	// MessageID, Reply and Recipients describe the message of a run of one.
	MessageID  string          `json:"message_id,omitempty"`
	Reply      string          `json:"reply,omitempty"`
	Recipients []sendRecipient `json:"recipients"`
	// Replies are the refusals, most frequent first.
	Replies []sendReply `json:"replies"`
}

type sendRecipient struct {
	Address string `json:"address"`
	Reply   string `json:"reply"`
}

type sendReply struct {
	Reply string `json:"reply"`
	Count int    `json:"count"`
}

// runJobs runs count jobs on concurrency workers, with a progress bar on a
// terminal, and prints the summary.
func runJobs(ctx context.Context, g *globals, f sendFlags, job sendJob) error {
	var bar *progress
	if f.count > 1 && animated(g.stderr) && animated(g.stdout) {
		bar = newProgress(g.stderr, f.count, "msg", "sending")
	}
	var next atomic.Int64
	var mu sync.Mutex
	sum := sendSummary{Count: f.count, Recipients: []sendRecipient{}, Replies: []sendReply{}}
	replies := map[string]int{}
	var last smtpclient.Result
	start := time.Now()
	var wg sync.WaitGroup
	for range min(f.concurrency, f.count) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= f.count || ctx.Err() != nil {
					return
				}
				jctx, cancel := context.WithTimeout(ctx, f.timeout)
				r := job(jctx, i)
				cancel()
				mu.Lock()
				last = r
				if r.Accepted {
					sum.Sent++
				} else {
					sum.Refused++
					replies[shortReply(r)]++
				}
				mu.Unlock()
				bar.Done()
			}
		}()
	}
	wg.Wait()
	bar.Finish()
	elapsed := time.Since(start)
	sum.Seconds, sum.Rate = elapsed.Seconds(), float64(sum.Sent)/elapsed.Seconds()
	if f.count == 1 {
		sum.MessageID, sum.Reply = last.MessageID, last.Reply
		for r, reply := range last.Rcpts {
			sum.Recipients = append(sum.Recipients, sendRecipient{r, reply})
		}
		sort.Slice(sum.Recipients, func(i, j int) bool { return sum.Recipients[i].Address < sum.Recipients[j].Address })
	}
	for k, n := range replies {
		sum.Replies = append(sum.Replies, sendReply{k, n})
	}
	sort.Slice(sum.Replies, func(i, j int) bool {
		a, b := sum.Replies[i], sum.Replies[j]
		return a.Count > b.Count || a.Count == b.Count && a.Reply < b.Reply
	})
	if f.format == "json" {
		if err := writeJSON(g, sum); err != nil {
			return err
		}
	} else {
		printSendSummary(g, sum, last.Accepted)
	}
	if ctx.Err() != nil {
		return usageError("interrupted")
	}
	if sum.Refused > 0 {
		return checkFailed("%d of %d messages refused", sum.Refused, f.count)
	}
	return nil
}

// printSendSummary prints a run's summary as text: the message and its
// recipients' replies for one message, counts, rate and refusals for more.
func printSendSummary(g *globals, sum sendSummary, accepted bool) {
	if sum.Count > 1 {
		fmt.Fprintf(g.stdout, "sent %d, refused %d of %d in %s: %.1f msgs/s\n", sum.Sent, sum.Refused, sum.Count, (time.Duration(sum.Seconds * float64(time.Second))).Round(time.Millisecond), sum.Rate)
		for _, r := range sum.Replies {
			fmt.Fprintf(g.stdout, "  %6d x %s\n", r.Count, r.Reply)
		}
		return
	}
	ok := 0
	for _, r := range sum.Recipients {
		if strings.HasPrefix(r.Reply, "250") {
			ok++
		}
	}
	switch {
	case accepted:
		fmt.Fprintf(g.stdout, "sent %s\n  %s\n", sum.MessageID, sum.Reply)
	case ok > 0:
		fmt.Fprintf(g.stdout, "sent %s to %d of %d recipients\n", sum.MessageID, ok, len(sum.Recipients))
	default:
		fmt.Fprintf(g.stdout, "refused %s\n  %s\n", sum.MessageID, sum.Reply)
	}
	for _, r := range sum.Recipients {
		if !strings.HasPrefix(r.Reply, "250") || len(sum.Recipients) > 1 {
			fmt.Fprintf(g.stdout, "  %s: %s\n", r.Address, r.Reply)
		}
	}
}

func shortReply(r smtpclient.Result) string {
	s := r.Reply
	if s == "" && r.Err != nil {
		s = r.Err.Error()
	}
	if len(s) > 160 {
		s = s[:160] + "..."
	}
	return s
}
