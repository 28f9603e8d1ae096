package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/exsim/exsim/certs"
	"github.com/exsim/exsim/internal/control"
	"github.com/exsim/exsim/topology"
)

// Firewall choices besides a file.
const (
	FirewallMinimal = "minimal" // the exported minimal ruleset (the default)
	FirewallOpen    = "open"    // policy accept
)

// adminAddr is where each server's admin API listens inside its
// namespace: every namespace has its own loopback.
const adminAddr = "127.0.0.1:9925"

// DefaultWait bounds the wait for every server to listen.
const DefaultWait = 90 * time.Second

// Options describe a lab to bring up.
type Options struct {
	// Topology is the lab on real networks: every server has an address
	// in its zone's subnet (topology.ForNetwork); it carries the port
	// offset the servers are started with.
	Topology *topology.Topology
	// DataDir is the data directory the servers share (absolute).
	DataDir string
	// Prefix names the namespaces (default DefaultPrefix).
	Prefix string
	// Firewall is FirewallMinimal (or ""), FirewallOpen, or the path of
	// a ruleset file loaded in the router namespace (nft -f, or
	// iptables-nft-restore for iptables-save output).
	Firewall string
	// FirewallFormat is the file's format (FirewallFormats); "" detects it.
	FirewallFormat string
	// Exe is the exsim binary the servers run (default: this executable).
	Exe string
	// LogLevel is the servers' --log-level (default info).
	LogLevel string
	// Wait bounds the wait for the servers' listeners (default DefaultWait).
	Wait   time.Duration
	Logger *slog.Logger
}

// Lab is a running lab.
type Lab struct {
	State
	t *topology.Topology
	// Origins maps the router's rules back to the lines of the ruleset
	// file it runs (nil for the minimal and the open ruleset).
	Origins *RuleOrigins
	// exited is closed when a server process started by this process
	// exits (nil for a lab loaded from its state).
	exited map[string]<-chan struct{}
}

// Topology returns the lab's topology.
func (l *Lab) Topology() *topology.Topology { return l.t }

// CheckHost reports why this host cannot run a lab: not root, or no
// network namespaces.
func CheckHost() error {
	if os.Geteuid() != 0 {
		return errors.New("exsim lab needs root (network namespaces, veth, nftables): run it with sudo")
	}
	if _, err := os.Stat("/proc/self/ns/net"); err != nil {
		return fmt.Errorf("exsim lab needs Linux network namespaces: %w", err)
	}
	return nil
}

// Up builds the lab: namespaces, bridges, veths, the firewall, and one
// `exsim serve` process per server, and waits until every server's admin
// API answers with its listeners bound. On any error it removes what it
// made. The processes outlive the caller; Down stops them.
func Up(ctx context.Context, o Options) (*Lab, error) {
	if err := CheckHost(); err != nil {
		return nil, err
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if err := ValidPrefix(o.Prefix); err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Wait <= 0 {
		o.Wait = DefaultWait
	}
	if o.LogLevel == "" {
		o.LogLevel = "info"
	}
	if o.Exe == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("lab: the exsim binary: %w", err)
		}
		o.Exe = exe
	}
	if !filepath.IsAbs(o.DataDir) {
		return nil, fmt.Errorf("lab: data directory %q is not absolute", o.DataDir)
	}
	t := o.Topology
	rs, err := firewallFor(o, t)
	if err != nil {
		return nil, err
	}
	if left, err := listNetns(o.Prefix); err != nil {
		return nil, err
	} else if len(left) > 0 {
		return nil, fmt.Errorf("a lab with prefix %q is up already (namespaces %s): run exsim lab down --prefix %s, or choose another --prefix", o.Prefix, strings.Join(left, ", "), o.Prefix)
	}

	if old, err := LoadState(o.DataDir); err == nil && old != nil && old.Prefix != o.Prefix {
		for _, ns := range old.Namespaces {
			if netnsExists(ns) {
				return nil, fmt.Errorf("%s holds the running lab %q (netns %s): run exsim lab down --data %s first, or use another --data", o.DataDir, old.Prefix, ns, o.DataDir)
			}
		}
	}

	st := State{
		Prefix: o.Prefix, DataDir: o.DataDir, Topology: filepath.Join(o.DataDir, "lab.yaml"),
		PortOffset: t.PortOffset(), Firewall: o.Firewall, Created: time.Now().UTC(),
		Router: nsName(o.Prefix, "router"),
	}
	if st.Firewall == "" {
		st.Firewall = FirewallMinimal
	}
	st.Namespaces = []string{st.Router}
	for _, s := range t.Servers {
		ns := nsName(o.Prefix, s.Name)
		if slices.Contains(st.Namespaces, ns) {
			return nil, fmt.Errorf("server %s: namespace %s is taken (by the router or another server)", s.Name, ns)
		}
		st.Namespaces = append(st.Namespaces, ns)
	}
	if err := prepareData(o, t, st.Topology); err != nil {
		return nil, err
	}
	// Record the intent first: a crash from here on leaves a state file
	// that names everything Down must look for.
	if err := st.save(); err != nil {
		return nil, err
	}
	l := &Lab{State: st, t: t, exited: map[string]<-chan struct{}{}}
	if err := l.build(ctx, o, rs); err != nil {
		_, derr := Down(context.Background(), DownOptions{DataDir: o.DataDir, Prefix: o.Prefix, Logger: o.Logger})
		return nil, errors.Join(err, derr)
	}
	return l, nil
}

// firewallFor resolves Options.Firewall: a ruleset to program, or nil
// for a file (checked here, loaded later).
func firewallFor(o Options, t *topology.Topology) (*Ruleset, error) {
	switch o.Firewall {
	case "", FirewallMinimal:
		return MinimalRuleset(t)
	case FirewallOpen:
		return OpenRuleset(t), nil
	}
	if _, err := os.Stat(o.Firewall); err != nil {
		return nil, fmt.Errorf("--firewall %s: %w", o.Firewall, err)
	}
	if _, err := exec.LookPath("nft"); err != nil {
		return nil, fmt.Errorf("--firewall %s: loading a ruleset file needs the nft command (package nftables): %w", o.Firewall, err)
	}
	return nil, nil
}

// prepareData writes the topology and creates the lab CA and the admin
// token before any server starts, so the servers share them instead of
// racing to create them.
func prepareData(o Options, t *topology.Topology, topoPath string) error {
	if err := os.MkdirAll(o.DataDir, 0o755); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	b, err := t.Marshal()
	if err != nil {
		return err
	}
	header := "# exsim lab topology on real networks (written by exsim lab up)\n"
	if err := os.WriteFile(topoPath, append([]byte(header), b...), 0o644); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	if _, err := certs.LoadOrCreate(filepath.Join(o.DataDir, "certs"), t.Organization); err != nil {
		return err
	}
	_, err = control.LoadOrCreateToken(o.DataDir)
	return err
}

func (l *Lab) build(ctx context.Context, o Options, rs *Ruleset) error {
	st := &l.State
	for _, ns := range st.Namespaces {
		if err := createNetns(ns); err != nil {
			return err
		}
	}
	bridges, err := buildRouter(st, l.t)
	if err != nil {
		return err
	}
	taken := map[string]bool{}
	for i := range l.t.Servers {
		s := &l.t.Servers[i]
		if err := attachServer(st, l.t, s, nsName(st.Prefix, s.Name), bridges[s.Zone], i, taken); err != nil {
			return err
		}
	}
	if err := l.loadFirewall(o.Firewall, o.FirewallFormat, rs); err != nil {
		return err
	}
	if err := st.save(); err != nil {
		return err
	}
	clients, err := l.clients(func(server string) string { return nsName(st.Prefix, server) })
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, o.Wait)
	defer cancel()
	eps := map[string]Endpoint{}
	// The DNS servers first, and ready before the others start: they
	// resolve through them as they start.
	for _, group := range l.startGroups() {
		var started []Process
		for _, s := range group {
			ns := nsName(st.Prefix, s.Name)
			args := []string{"serve", "--server", s.Name, "--config", st.Topology, "--data", st.DataDir,
				"--admin", adminAddr, "--port-offset", strconv.Itoa(st.PortOffset), "--log-level", o.LogLevel}
			p, done, err := startIn(ns, o.Exe, args, filepath.Join(st.DataDir, s.Name, "exsim.log"))
			if err != nil {
				return err
			}
			p.Server = s.Name
			st.Servers = append(st.Servers, p)
			started = append(started, p)
			l.exited[s.Name] = done
			eps[s.Name] = Endpoint{URL: "http://" + adminAddr, Netns: ns}
			o.Logger.Debug("server started", "server", s.Name)
			if err := st.save(); err != nil {
				return err
			}
		}
		for _, p := range started {
			if err := l.waitServer(ctx, p, clients[p.Server]); err != nil {
				return err
			}
		}
	}
	return writeEndpoints(st.DataDir, eps)
}

// startGroups orders the servers for starting: the DNS servers, then
// the others, each in topology order.
func (l *Lab) startGroups() [][]*topology.Server {
	var dns, rest []*topology.Server
	for i := range l.t.Servers {
		if s := &l.t.Servers[i]; s.Role == topology.RoleDNS {
			dns = append(dns, s)
		} else {
			rest = append(rest, s)
		}
	}
	return [][]*topology.Server{dns, rest}
}

// loadFirewall programs the router namespace's nftables: the ruleset over
// netlink, or the user's file in its format, keeping where its rules came
// from.
func (l *Lab) loadFirewall(file, format string, rs *Ruleset) error {
	if rs != nil {
		fd, err := openNetns(l.Router)
		if err != nil {
			return err
		}
		defer fd.Close()
		return rs.Apply(int(fd))
	}
	rf, err := ReadRulesetFile(file, format, l.t)
	if err != nil {
		return &FirewallError{File: file, Err: err}
	}
	l.Origins, err = rf.Load(l.Router)
	return err
}

// FirewallError is a ruleset file that the lab could not use: it is in
// no format exsim reads (or another than named), nft or iptables-restore
// rejected it, or it has no chain that filters the router's forwarded
// traffic. Err's message names the file. exsim lab test and diff exit 2
// for it.
type FirewallError struct {
	File string
	Err  error
}

func (e *FirewallError) Error() string { return e.Err.Error() }
func (e *FirewallError) Unwrap() error { return e.Err }

// NftFile runs `nft -f file` (check only: `nft -c -f`) inside namespace
// ns, and returns nft's own message on failure.
func NftFile(ns, file string, check bool) error {
	nft, err := exec.LookPath("nft")
	if err != nil {
		return fmt.Errorf("nft: %w", err)
	}
	args := []string{"-f", file}
	if check {
		args = []string{"-c", "-f", file}
	}
	cmd := exec.Command(nft, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := inNetns(ns, cmd.Run); err != nil {
		return fmt.Errorf("firewall %s: nft %s: %w\n%s", file, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

// Clients returns an admin API client per server, dialling inside the
// server's namespace.
func (l *Lab) Clients() (map[string]*control.Client, error) {
	netnsOf := map[string]string{}
	for _, p := range l.Servers {
		netnsOf[p.Server] = p.Netns
	}
	return l.clients(func(server string) string { return netnsOf[server] })
}

func (l *Lab) clients(netnsOf func(server string) string) (map[string]*control.Client, error) {
	token, err := control.LoadOrCreateToken(l.DataDir)
	if err != nil {
		return nil, err
	}
	out := map[string]*control.Client{}
	for _, s := range l.t.Servers {
		if ns := netnsOf(s.Name); ns != "" {
			out[s.Name] = &control.Client{BaseURL: "http://" + adminAddr, Token: token,
				HTTP: &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{DialContext: DialIn(ns)}}}
		}
	}
	return out, nil
}

// waitServer polls a server's admin API until it reports its listeners,
// the process exits, or ctx ends.
func (l *Lab) waitServer(ctx context.Context, p Process, c *control.Client) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		hctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		health, err := c.Health(hctx)
		cancel()
		if err == nil {
			return checkListeners(p, health)
		}
		last = err
		select {
		case <-l.exited[p.Server]:
			return fmt.Errorf("%s exited while starting in netns %s; its log %s ends:\n%s", p.Server, p.Netns, p.Log, logTail(p.Log))
		case <-ctx.Done():
			if ctx.Err() == context.Canceled {
				return ctx.Err()
			}
			return fmt.Errorf("%s did not come up (admin API %s in netns %s: %v); see its log %s:\n%s", p.Server, adminAddr, p.Netns, last, p.Log, logTail(p.Log))
		case <-tick.C:
			if l.exited[p.Server] == nil && !p.alive() {
				return fmt.Errorf("%s (pid %d) exited while starting; see its log %s:\n%s", p.Server, p.PID, p.Log, logTail(p.Log))
			}
		}
	}
}

// checkListeners fails when a listener of the server could not bind.
func checkListeners(p Process, health []control.ServerHealth) error {
	for _, h := range health {
		if !strings.EqualFold(h.Name, p.Server) {
			continue
		}
		var failed []string
		for _, ls := range h.Listeners {
			if ls.State == "failed" {
				failed = append(failed, fmt.Sprintf("%s on %s: %s", ls.Name, ls.Address, ls.Error))
			}
		}
		if len(failed) > 0 {
			return fmt.Errorf("%s: listeners failed: %s (log %s)", p.Server, strings.Join(failed, "; "), p.Log)
		}
		return nil
	}
	return fmt.Errorf("%s: the admin API in netns %s does not run it (log %s)", p.Server, p.Netns, p.Log)
}

// logTail is the end of a log file, for error messages.
func logTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "  (" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return "  " + strings.Join(lines, "\n  ")
}

// Open loads a running lab from DATA/lab/state.json.
func Open(dataDir string) (*Lab, error) {
	st, err := LoadState(dataDir)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return nil, fmt.Errorf("no lab in %s (no %s): exsim lab up first", dataDir, statePath(dataDir))
	}
	t, err := topology.Load(st.Topology)
	if err != nil {
		return nil, err
	}
	if err := t.SetPortOffset(st.PortOffset); err != nil {
		return nil, fmt.Errorf("lab in %s: %w", dataDir, err)
	}
	return &Lab{State: *st, t: t}, nil
}
