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

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/exsim/exsim/internal/control"
	"github.com/exsim/exsim/internal/labnet"
	"github.com/exsim/exsim/roles"
	"github.com/exsim/exsim/topology"
	"github.com/exsim/exsim/transport/smtpclient"
)

type sendFlags struct {
	from, smtp, tls, user, password, sender, subject, body, authMech string
	to                                                               []string
	count, size, concurrency                                         int
	queue                                                            bool
	timeout                                                          time.Duration
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
	fl.StringVar(&f.from, "from", "", "send from this server's position (address, lab DNS)")
	fl.StringVar(&f.smtp, "smtp", "", "send as a client to host:port (a lab FQDN or an address)")
	fl.StringVar(&f.tls, "tls", "", "none, opportunistic, starttls or implicit (default: starttls with --user, else opportunistic)")
	fl.StringVar(&f.user, "user", "", "AUTH user (alice@contoso.com, CONTOSO\\alice, alice)")
	fl.StringVar(&f.password, "password", "", "AUTH password")
	fl.StringVar(&f.authMech, "auth", "PLAIN", "AUTH mechanism: PLAIN or LOGIN")
	fl.StringVar(&f.sender, "sender", "", "envelope and From address (default: a mailbox of the --from server, or --user)")
	fl.StringSliceVar(&f.to, "to", nil, "recipient (repeat or comma-separate)")
	fl.StringVar(&f.subject, "subject", "exsim test message", "subject")
	fl.StringVar(&f.body, "body", "This message was sent by exsim.", "body text")
	fl.IntVar(&f.count, "count", 1, "messages to send")
	fl.IntVar(&f.size, "size", 0, "pad each message to about this many bytes")
	fl.IntVar(&f.concurrency, "concurrency", 1, "parallel SMTP sessions")
	fl.BoolVar(&f.queue, "queue", false, "with --from: queue on the server (durable, retried) instead of delivering directly")
	fl.DurationVar(&f.timeout, "timeout", 30*time.Second, "per-message timeout")
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

// runJobs runs count jobs on concurrency workers with a progress bar and
// prints the summary.
func runJobs(ctx context.Context, g *globals, f sendFlags, job sendJob) error {
	var bar *progressbar.ProgressBar
	if f.count > 1 && isTerminal(g.stderr) {
		bar = progressbar.NewOptions(f.count, progressbar.OptionSetWriter(g.stderr), progressbar.OptionShowCount(),
			progressbar.OptionShowIts(), progressbar.OptionSetItsString("msg"), progressbar.OptionSetDescription("sending"),
			progressbar.OptionClearOnFinish())
	}
	var next atomic.Int64
	var mu sync.Mutex
	var sent, refused int
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
					sent++
				} else {
					refused++
					replies[shortReply(r)]++
				}
				mu.Unlock()
				if bar != nil {
					bar.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if bar != nil {
		bar.Finish()
	}
	elapsed := time.Since(start)
	if f.count == 1 {
		ok := 0
		for _, r := range last.Rcpts {
			if strings.HasPrefix(r, "250") {
				ok++
			}
		}
		switch {
		case last.Accepted:
			fmt.Fprintf(g.stdout, "sent %s\n  %s\n", last.MessageID, last.Reply)
		case ok > 0:
			fmt.Fprintf(g.stdout, "sent %s to %d of %d recipients\n", last.MessageID, ok, len(last.Rcpts))
		default:
			fmt.Fprintf(g.stdout, "refused %s\n  %s\n", last.MessageID, last.Reply)
		}
		rcpts := make([]string, 0, len(last.Rcpts))
		for r := range last.Rcpts {
			rcpts = append(rcpts, r)
		}
		sort.Strings(rcpts)
		for _, r := range rcpts {
			if !strings.HasPrefix(last.Rcpts[r], "250") || len(rcpts) > 1 {
				fmt.Fprintf(g.stdout, "  %s: %s\n", r, last.Rcpts[r])
			}
		}
	} else {
		fmt.Fprintf(g.stdout, "sent %d, refused %d of %d in %s: %.1f msgs/s\n", sent, refused, f.count, elapsed.Round(time.Millisecond), float64(sent)/elapsed.Seconds())
		keys := make([]string, 0, len(replies))
		for k := range replies {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return replies[keys[i]] > replies[keys[j]] })
		for _, k := range keys {
			fmt.Fprintf(g.stdout, "  %6d x %s\n", replies[k], k)
		}
	}
	if ctx.Err() != nil {
		return usageError("interrupted")
	}
	if refused > 0 {
		return checkFailed("%d of %d messages refused", refused, f.count)
	}
	return nil
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
