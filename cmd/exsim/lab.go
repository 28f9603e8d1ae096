package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/exsim/exsim/internal/control"
	"github.com/exsim/exsim/lab"
	"github.com/exsim/exsim/probe"
	"github.com/exsim/exsim/scenarios"
	"github.com/exsim/exsim/topology"
)

// labScenarioRunner runs the built-in scenarios that fit the lab's
// topology (scenarios.Select: by its shape and the servers and mailboxes
// it has, not by its name, so a --config lab.yaml runs them too) against
// a lab's servers, through their admin APIs (reached inside their
// namespaces), with progress on standard error. The ones it skips are in
// the results with the reason.
func labScenarioRunner(g *globals) lab.ScenarioRunner {
	return func(ctx context.Context, env lab.ScenarioEnv) ([]lab.ScenarioResult, error) {
		all, err := scenarios.Builtin()
		if err != nil {
			return nil, err
		}
		scs, skipped := scenarios.Select(all, env.Topology)
		features := map[string]string{}
		for _, f := range probe.Flows(env.Topology) {
			features[f.ID] = f.Feature
		}
		var out []lab.ScenarioResult
		for _, r := range runScenarios(ctx, g, labEnv{env}, scs) {
			res := lab.ScenarioResult{Name: r.Name, Pass: r.Pass, Detail: r.Error, Duration: r.Duration}
			if r.Row != "" && r.Pass {
				res.Detail = r.Row
			}
			var fs []string
			for _, id := range r.Flows {
				if f := features[id]; f != "" && !slices.Contains(fs, f) {
					fs = append(fs, f)
				}
			}
			res.Feature = strings.Join(fs, "; ")
			out = append(out, res)
		}
		for _, sk := range skipped {
			fmt.Fprintf(g.stderr, "skipped: %s: %s\n", sk.Scenario.Name, sk.Reason)
			out = append(out, lab.ScenarioResult{Name: sk.Scenario.Name, Skipped: sk.Reason})
		}
		return out, nil
	}
}

// labEnv is a lab as the scenario runner sees it.
type labEnv struct{ env lab.ScenarioEnv }

var _ scenarios.Env = labEnv{}

func (e labEnv) Client(server string) (*control.Client, error) {
	for name, c := range e.env.Admin {
		if strings.EqualFold(name, server) {
			return c, nil
		}
	}
	return nil, usageError("no server %s in the lab", server)
}
func (e labEnv) Topology() *topology.Topology { return e.env.Topology }

func newLabCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "lab up|test|down|status",
		Short: "The lab on real network namespaces behind a real nftables firewall (Linux, root)",
		Long: `Builds the topology on Linux network namespaces: one namespace per server, each server
a separate exsim process inside it with its address in its zone's subnet, and a router
namespace with one bridge per zone and a real nftables ruleset in its forward chain.
Traffic between zones crosses the firewall; traffic inside a zone does not.

  exsim lab up      build it and start the servers (they keep running)
  exsim lab test    the CI job: up, probe every flow, scenarios, down, report
  exsim lab diff    review a firewall change: the flows it breaks or opens, and the rule
  exsim lab down    remove every namespace, link and process of the lab
  exsim lab status  what runs`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newLabUpCmd(g), newLabDownCmd(g), newLabStatusCmd(g), newLabTestCmd(g), newLabDiffCmd(g), newLabFirewallCmd(g))
	return cmd
}

// labFlags are the flags of lab up and lab test.
type labFlags struct {
	prefix   string
	firewall string
	format   string
	wait     time.Duration
}

func (f *labFlags) add(cmd *cobra.Command, prefix string) {
	cmd.Flags().StringVar(&f.prefix, "prefix", prefix, "namespace name prefix (PREFIX-router, PREFIX-ex01...): labs with different prefixes coexist")
	cmd.Flags().StringVar(&f.firewall, "firewall", "", `the router's ruleset: an nft FILE, "open" (no filtering), or empty for the minimal ruleset of exsim export nftables`)
	cmd.Flags().DurationVar(&f.wait, "wait", lab.DefaultWait, "how long to wait for every server to listen")
	enumFlag(cmd, &f.format, "firewall-format", "", "", "the ruleset files' format (default: detected)", append([]string{""}, lab.FirewallFormats...)...)
}

// labOptions resolves the flags into lab.Options.
func (g *globals) labOptions(f *labFlags, dataDir string) (lab.Options, error) {
	if err := lab.CheckHost(); err != nil {
		return lab.Options{}, usageError("%v", err)
	}
	if err := lab.ValidPrefix(f.prefix); err != nil {
		return lab.Options{}, usageError("%v", err)
	}
	t, err := g.networkTopology()
	if err != nil {
		return lab.Options{}, err
	}
	fw := f.firewall
	if fw != "" && fw != lab.FirewallOpen && fw != lab.FirewallMinimal {
		if fw, err = filepath.Abs(fw); err != nil {
			return lab.Options{}, usageError("--firewall: %v", err)
		}
		if _, err := os.Stat(fw); err != nil {
			return lab.Options{}, usageError("--firewall: %v", err)
		}
	}
	return lab.Options{
		Topology: t, DataDir: dataDir, Prefix: f.prefix,
		Firewall: fw, FirewallFormat: f.format, LogLevel: g.logLevel, Wait: f.wait, Logger: g.logger(),
	}, nil
}

func newLabUpCmd(g *globals) *cobra.Command {
	var f labFlags
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Build the lab on network namespaces and start every server in its own",
		Example: `  sudo exsim lab up
  sudo exsim lab up --firewall my-rules.nft
  sudo exsim lab up --prefix lab2 --data ./lab2 --firewall open
  sudo ip netns exec exsim-inet01 swaks --to alice@contoso.com --server 198.51.100.1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := g.dataDir()
			if err != nil {
				return err
			}
			o, err := g.labOptions(&f, dir)
			if err != nil {
				return err
			}
			l, err := lab.Up(cmd.Context(), o)
			if err != nil {
				return err
			}
			printLab(g, l)
			fmt.Fprintf(g.stdout, "\nThe servers keep running. Try:\n  exsim queue --data %s --server EX01\n  ip netns exec %s-inet01 ...   (a shell at a server's position)\n  exsim lab down --data %s\n", dir, l.Prefix, dir)
			return nil
		},
	}
	f.add(cmd, lab.DefaultPrefix)
	return cmd
}

func printLab(g *globals, l *lab.Lab) {
	fmt.Fprintf(g.stdout, "Lab %q up: firewall %s in netns %s, topology %s\n\n", l.Prefix, l.Firewall, l.Router, l.State.Topology)
	tw := tabwriter.NewWriter(g.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVER\tROLE\tZONE\tADDRESS\tNETNS\tPID\tLOG")
	t := l.Topology()
	for _, p := range l.Servers {
		s := t.Server(p.Server)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", s.Name, s.Role, s.Zone, s.Address, p.Netns, p.PID, p.Log)
	}
	tw.Flush()
}

func newLabDownCmd(g *globals) *cobra.Command {
	var prefix string
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Stop the lab's servers and remove its namespaces, bridges and veths (also after a crash)",
		Long: `Stops every process inside the lab's namespaces and deletes the namespaces; their
bridges and veths go with them (the lab never creates links in the host's namespace).
It finds the lab by DATA/lab/state.json and by --prefix, so it also cleans up after
a crashed run, and running it again is harmless.`,
		Example: `  sudo exsim lab down
  sudo exsim lab down --prefix lab2`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := lab.CheckHost(); err != nil {
				return usageError("%v", err)
			}
			dir, err := g.dataDir()
			if err != nil {
				return err
			}
			if !cmd.Flags().Changed("prefix") {
				prefix = ""
				if st, _ := lab.LoadState(dir); st == nil {
					prefix = lab.DefaultPrefix
				}
			}
			rep, err := lab.Down(context.WithoutCancel(cmd.Context()), lab.DownOptions{DataDir: dir, Prefix: prefix, Logger: g.logger()})
			printDown(g, rep)
			return err
		},
	}
	cmd.Flags().StringVar(&prefix, "prefix", lab.DefaultPrefix, "namespace name prefix of the lab (default: the one in DATA/lab/state.json)")
	return cmd
}

func printDown(g *globals, rep *lab.DownReport) {
	if rep == nil {
		return
	}
	if rep.Empty() {
		fmt.Fprintln(g.stdout, "Nothing to remove: no lab namespaces or processes.")
		return
	}
	for _, p := range rep.Processes {
		who := p.Server
		if who == "" {
			who = "process"
		}
		fmt.Fprintf(g.stdout, "stopped %s (pid %d) in %s\n", who, p.PID, p.Netns)
	}
	for _, n := range rep.Namespaces {
		fmt.Fprintf(g.stdout, "removed netns %s\n", n)
	}
}

// labStatus is `exsim lab status --format json`.
type labStatus struct {
	Prefix   string            `json:"prefix"`
	Firewall string            `json:"firewall"`
	Router   string            `json:"router"`
	Topology string            `json:"topology"`
	Servers  []labServerStatus `json:"servers"`
}

// labServerStatus is one server of a namespace lab and whether it answers.
type labServerStatus struct {
	Server    string `json:"server"`
	Role      string `json:"role"`
	Zone      string `json:"zone"`
	Address   string `json:"address"`
	Netns     string `json:"netns"`
	PID       int    `json:"pid"`
	Log       string `json:"log"`
	Up        bool   `json:"up"`
	Listeners int    `json:"listeners"` // listening sockets
	Error     string `json:"error,omitempty"`
}

func newLabStatusCmd(g *globals) *cobra.Command {
	var format string
	cmd := noArgsCmd("status", "Show the lab's namespaces, processes and each server's admin API", func(cmd *cobra.Command) error {
		dir, err := g.dataDir()
		if err != nil {
			return err
		}
		if st, err := lab.LoadState(dir); err == nil && st == nil {
			return &exitError{code: exitNoLab, err: fmt.Errorf("no lab running: no namespace lab in %s (exsim lab up starts one)", dir)}
		}
		l, err := lab.Open(dir)
		if err != nil {
			return usageError("%v", err)
		}
		clients, err := l.Clients()
		if err != nil {
			return err
		}
		status := labStatus{Prefix: l.Prefix, Firewall: l.Firewall, Router: l.Router, Topology: l.State.Topology, Servers: []labServerStatus{}}
		t, bad := l.Topology(), 0
		for _, p := range l.Servers {
			s := t.Server(p.Server)
			ss := labServerStatus{Server: s.Name, Role: string(s.Role), Zone: s.Zone, Address: s.Address, Netns: p.Netns, PID: p.PID, Log: p.Log}
			ctx, cancel := context.WithTimeout(cmd.Context(), 3*time.Second)
			health, err := clients[p.Server].Health(ctx)
			cancel()
			if err != nil {
				ss.Error, bad = err.Error(), bad+1
			} else {
				ss.Up = true
				for _, h := range health {
					for _, ls := range h.Listeners {
						if ls.State == "listening" {
							ss.Listeners++
						}
					}
				}
			}
			status.Servers = append(status.Servers, ss)
		}
		if format == "json" {
			err = writeJSON(g, status)
		} else {
			printLab(g, l)
			fmt.Fprintln(g.stdout)
			for _, s := range status.Servers {
				state := fmt.Sprintf("up, %d listeners", s.Listeners)
				if !s.Up {
					state = "DOWN: " + s.Error
				}
				fmt.Fprintf(g.stdout, "%-8s %s\n", s.Server, state)
			}
		}
		if err == nil && bad > 0 {
			return checkFailed("%d server(s) down", bad)
		}
		return err
	})
	formatFlag(cmd, &format, "table", "json")
	return cmd
}

func newLabTestCmd(g *globals) *cobra.Command {
	var f labFlags
	var junit, format, probeVia string
	var timeout time.Duration
	var noScenarios bool
	cmd := &cobra.Command{
		Use:   "test",
		Short: "The CI job: lab up with your firewall, probe every flow, run the scenarios, lab down, report",
		Long: `Builds the lab with the firewall under test (--firewall FILE, an nft ruleset), probes
every documented flow from its source server's namespace, runs the built-in scenarios,
and tears the lab down again, always, also on failure or interrupt. Prints the port
matrix (--format table, json or junit), writes JUnit XML with --junit, and exits 1
when a documented flow is broken or an undocumented one is open, naming the flow and
the Exchange feature it breaks. Without --data it works in a temporary directory,
kept (with the servers' logs) only when the test fails.`,
		Example: `  sudo exsim lab test --firewall my-rules.nft --junit report.xml
  exsim export nftables > my-rules.nft    # the documented minimum, to start from`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkReportPath("--junit", junit); err != nil {
				return err
			}
			o, dir, temp, err := g.labTestOptions(cmd, &f)
			if err != nil {
				return err
			}
			// Lab down runs also on SIGINT/SIGTERM: main cancels the
			// context, Test returns, and its deferred down runs.
			ctx := cmd.Context()
			scenarioRunner := labScenarioRunner(g)
			if noScenarios {
				scenarioRunner = nil
			}
			rep, err := lab.Test(ctx, lab.TestOptions{
				Options: o, ProbeMode: probeVia, ProbeTimeout: timeout, RunScenarios: scenarioRunner, NoScenariosWhy: "--no-scenarios",
				OnPhase: func(p string) { fmt.Fprintf(g.stderr, "exsim lab test: %s\n", p) },
			})
			// No report: the lab did not come up, or an interrupt cut the
			// run short (its flows would read as failed): nothing is
			// written, not even --junit, and the error exits 2.
			if rep == nil {
				if temp {
					// A ruleset that did not load (*lab.FirewallError)
					// stops the lab before any server runs: no log to keep.
					var fe *lab.FirewallError
					if logs, _ := filepath.Glob(filepath.Join(dir, "*", "exsim.log")); errors.As(err, &fe) || len(logs) == 0 {
						os.RemoveAll(dir)
						fmt.Fprintf(g.stderr, "exsim lab test: no server ran; removed the temporary data directory %s\n", dir)
					} else {
						fmt.Fprintf(g.stderr, "exsim lab test: kept %s (servers' logs in %s/<SERVER>/exsim.log)\n", dir, dir)
					}
				}
				return err
			}
			if junit != "" {
				jf, jerr := os.Create(junit)
				if jerr == nil {
					jerr = errors.Join(lab.WriteTestJUnit(jf, rep), jf.Close())
				}
				if jerr != nil {
					return fmt.Errorf("--junit %s: %w", junit, jerr)
				}
			}
			if werr := lab.WriteTestReport(g.stdout, format, rep, format == "table" && colored(g.stdout)); werr != nil {
				return werr
			}
			failed := err != nil || !rep.Passed()
			if temp {
				if failed {
					fmt.Fprintf(g.stderr, "exsim lab test: kept %s (servers' logs in %s/<SERVER>/exsim.log)\n", dir, dir)
				} else {
					os.RemoveAll(dir)
				}
			}
			if err != nil {
				return err
			}
			if !rep.Passed() {
				return checkFailed("%d problem(s); see the report", len(rep.Failures()))
			}
			return nil
		},
	}
	f.add(cmd, lab.DefaultPrefix+"test")
	cmd.Flags().StringVar(&junit, "junit", "", "write a JUnit XML report to FILE")
	formatFlag(cmd, &format, lab.TestFormats...)
	enumFlag(cmd, &probeVia, "probe-via", "", lab.ProbeAdmin, "where the checks run (netns: sockets in each source's namespace; admin: each source server's process, POST /v1/probe)", lab.ProbeNetns, lab.ProbeAdmin)
	cmd.Flags().BoolVar(&noScenarios, "no-scenarios", false, "probe only: skip the mail-flow scenarios")
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "per-flow timeout (default 3s): a flow without an answer by then is filtered")
	return cmd
}

// labTestOptions gives lab test and lab diff their lab options and data
// directory: --data when given, else a new temporary directory (temp true),
// which it removes again when the options cannot be built.
func (g *globals) labTestOptions(cmd *cobra.Command, f *labFlags) (o lab.Options, dir string, temp bool, err error) {
	if fl := cmd.Flags().Lookup("data"); fl != nil && fl.Changed {
		if dir, err = g.dataDir(); err != nil {
			return lab.Options{}, "", false, err
		}
	} else {
		if dir, err = os.MkdirTemp("", "exsim-lab-test-"); err != nil {
			return lab.Options{}, "", false, err
		}
		temp = true
	}
	if o, err = g.labOptions(f, dir); err != nil {
		if temp {
			os.RemoveAll(dir)
		}
		return lab.Options{}, "", false, err
	}
	return o, dir, temp, nil
}

func newLabFirewallCmd(g *globals) *cobra.Command {
	var open bool
	cmd := &cobra.Command{
		Use:   "firewall",
		Short: "Be the lab's firewall in this network namespace (the compose file's firewall container)",
		Long: `Programs the minimal ruleset of the topology (exsim export nftables) into this network
namespace over netlink, removes its default routes so that nothing it forwards can leave
the lab's zones, prints the ruleset, and waits until it is stopped. Needs CAP_NET_ADMIN
and IPv4 forwarding on (compose: sysctls). Used by docker-compose.yml.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := g.networkTopology()
			if err != nil {
				return err
			}
			rs := lab.OpenRuleset(t)
			if !open {
				if rs, err = lab.MinimalRuleset(t); err != nil {
					return usageError("%v", err)
				}
			}
			removed, err := lab.BecomeRouter(rs)
			if err != nil {
				return err
			}
			for _, r := range removed {
				fmt.Fprintln(g.stdout, "removed route:", r)
			}
			if err := rs.WriteNft(g.stdout); err != nil {
				return err
			}
			fmt.Fprintln(g.stdout, "firewall loaded; routing between the zones until stopped")
			return lab.KeepNoDefaultRoute(cmd.Context(), func(r string) { fmt.Fprintln(g.stdout, "removed route:", r) })
		},
	}
	cmd.Flags().BoolVar(&open, "open", false, "allow everything between the zones instead of the minimal ruleset")
	return cmd
}
