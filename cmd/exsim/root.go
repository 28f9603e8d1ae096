package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/exsim/exsim/internal/control"
	"github.com/exsim/exsim/lab"
	"github.com/exsim/exsim/topology"
)

// Exit codes (SPEC section 2; README "Quick tour").
const (
	exitOK    = 0
	exitCheck = 1 // a check failed
	exitUsage = 2 // bad usage or bad input
	exitNoLab = 3 // no lab answers: nothing runs from --data or at --admin
)

// exitError carries an exit code with its error.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// checkFailed is returned by commands whose check found a problem; the
// report has been printed already.
func checkFailed(format string, args ...any) error {
	return &exitError{code: exitCheck, err: fmt.Errorf(format, args...)}
}

func usageError(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

// noLabHint ends every "no lab running" error.
const noLabHint = "start one with exsim up or exsim demo, or give the --data (or --admin) of the lab you mean"

// noLab is the error of a command that found no lab to talk to (exit code
// 3, so scripts can tell it from bad input).
func noLab(err error) error {
	return &exitError{code: exitNoLab, err: fmt.Errorf("no lab running: %w; %s", err, noLabHint)}
}

// adminError classifies an admin API failure: no answer at all is "no lab
// running" (exit code 3); an answer that refuses the request is bad input
// (exit code 2).
func adminError(err error) error {
	if err == nil {
		return nil
	}
	if noAnswer(err) {
		return noLab(err)
	}
	return &exitError{code: exitUsage, err: err}
}

// noAnswer reports whether err says that nothing answered: the connection
// to the admin API was refused or timed out, not answered with an error.
func noAnswer(err error) bool {
	var ae *control.APIError
	if errors.As(err, &ae) {
		return false
	}
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "dial" || errors.Is(err, syscall.ECONNREFUSED)
}

// globals are the flags every command shares.
type globals struct {
	config     string
	topology   string
	data       string
	portOffset int
	logLevel   string
	// adminURL is the admin API address: where up/serve listen, and where
	// the other commands find them (empty: 127.0.0.1:9925, or the lab's
	// DATA/admin-endpoints.json).
	adminURL string
	// bindAny is serve --pod: listen on every address, send from the
	// pod's own (roles.Options.BindAny).
	bindAny bool

	stdin          io.Reader
	stdout, stderr io.Writer
	// root is the command tree, to tell a flag given from its default.
	root *cobra.Command
}

func (g *globals) logger() *slog.Logger {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(g.logLevel)); err != nil {
		lvl = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(g.stderr, &slog.HandlerOptions{Level: lvl}))
}

// loadTopology reads --config or the built-in --topology and gives it the
// --port-offset, which the topology checks against its ports. Every
// command that takes a topology comes through here, so every one rejects
// an offset that moves a port past 65535.
func (g *globals) loadTopology() (*topology.Topology, error) {
	var t *topology.Topology
	var err error
	if cfg := g.configFile(); cfg != "" {
		t, err = topology.Load(cfg)
	} else {
		t, err = topology.Builtin(g.topology)
	}
	if err == nil {
		err = t.SetPortOffset(g.portOffset)
	}
	if err != nil {
		return nil, &exitError{code: exitUsage, err: err}
	}
	return t, nil
}

// labTopology is the topology of the running lab that --data holds, for
// the commands that talk to one (probe, send, queue, track, scenario run,
// edgesync). A namespace lab records its topology, with the addresses on
// its networks, in DATA/lab.yaml and its port offset in the state file:
// falling back to the built-in 127.x addresses there would send from the
// wrong addresses, or into another lab on loopback. It says on standard
// error which lab it uses. An explicit --config or --topology still wins
// (with a note); without a namespace lab in DATA it is loadTopology.
func (g *globals) labTopology() (*topology.Topology, error) {
	dir, err := g.dataDir()
	if err != nil {
		return nil, err
	}
	st, err := lab.LoadState(dir)
	if err != nil {
		return nil, usageError("%v", err)
	}
	if st == nil {
		return g.loopbackTopology(dir)
	}
	if g.config != "" || g.flagChanged("topology") {
		what := "--topology " + g.topology
		if g.config != "" {
			what = "--config " + g.config
		}
		fmt.Fprintf(g.stderr, "exsim: %s holds the namespace lab %q (topology %s); using %s as asked\n", dir, st.Prefix, st.Topology, what)
		return g.loadTopology()
	}
	if g.flagChanged("port-offset") && g.portOffset != st.PortOffset {
		return nil, usageError("--port-offset %d: the namespace lab %q in %s runs with port offset %d", g.portOffset, st.Prefix, dir, st.PortOffset)
	}
	l, err := lab.Open(dir)
	if err != nil {
		return nil, usageError("%v", err)
	}
	fmt.Fprintf(g.stderr, "exsim: using the namespace lab %q in %s (%s)\n", st.Prefix, dir, filepath.Base(st.Topology))
	return l.Topology(), nil
}

// loopbackTopology is the topology of the loopback lab that `exsim up` or
// `demo` runs from dir (DATA/running.json), else loadTopology's. An
// explicit --config or --topology still wins, with a note when it differs
// from the running lab's.
func (g *globals) loopbackTopology(dir string) (*topology.Topology, error) {
	t, r, err := g.runningTopologyOf(dir)
	if err != nil {
		return nil, usageError("%v", err)
	}
	if t == nil {
		if path := g.composeDataTopology(dir); path != "" {
			return g.composeLabTopology(path)
		}
		return g.loadTopology()
	}
	if g.config != "" || g.flagChanged("topology") {
		if given := g.topologySource(); given != r.Name {
			fmt.Fprintf(g.stderr, "exsim: %s holds the lab exsim runs as pid %d (%s); using %s as asked\n", dir, r.PID, r.Name, given)
		}
		return g.loadTopology()
	}
	if g.flagChanged("port-offset") && g.portOffset != r.PortOffset {
		return nil, usageError("--port-offset %d: the lab running from %s (pid %d) runs with port offset %d", g.portOffset, dir, r.PID, r.PortOffset)
	}
	if r.Name != topology.DefaultName || r.PortOffset != g.portOffset {
		fmt.Fprintf(g.stderr, "exsim: using the lab exsim runs from %s (pid %d, %s, port offset %d)\n", dir, r.PID, r.Name, r.PortOffset)
	}
	return t, nil
}

// topologySource names where loadTopology takes the topology from: the
// --config file (absolute) or the built-in --topology name.
func (g *globals) topologySource() string {
	if g.config == "" {
		return g.topology
	}
	if abs, err := filepath.Abs(g.config); err == nil {
		return abs
	}
	return g.config
}

// flagChanged reports whether a global flag was given on the command line.
func (g *globals) flagChanged(name string) bool {
	if g.root == nil {
		return false
	}
	f := g.root.PersistentFlags().Lookup(name)
	return f != nil && f.Changed
}

func (g *globals) dataDir() (string, error) {
	d, err := filepath.Abs(g.data)
	if err != nil {
		return "", usageError("--data %s: %v", g.data, err)
	}
	return d, nil
}

func newRootCmd(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:   "exsim",
		Short: "Fake Microsoft Exchange organizations for labs, and a firewall check against Exchange's documented ports",
		Long: `exsim impersonates Exchange 2016/2019 Edge Transport and Mailbox servers, a lab DNS
server and "the internet" in one binary. It binds the listeners Microsoft's "Network ports
for clients and mail flow" names, speaks each protocol as Exchange does, and relays real
mail along Internet -> Edge -> Front End Transport -> Transport -> mailbox and back out.
Its second half checks a network against that document: every documented flow, probed
from its real source, and mail-flow scenarios that say which rule broke which feature.

Start with:  exsim demo`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	g.root = root
	pf := root.PersistentFlags()
	pf.StringVarP(&g.config, "config", "c", "", "topology file (lab.yaml); default: the built-in --topology")
	g.topology = topology.DefaultName
	pf.VarP(&choiceValue{&g.topology, topology.BuiltinNames()}, "topology", "t", "built-in topology: "+orList(topology.BuiltinNames()))
	pf.StringVar(&g.data, "data", "./exsim-data", "data directory: lab CA, queues, mailboxes, logs")
	pf.IntVar(&g.portOffset, "port-offset", 0, "add N to every port (for users who cannot bind ports below 1024)")
	g.logLevel = "info"
	logLevels := []string{"debug", "info", "warn", "error"}
	pf.Var(&choiceValue{&g.logLevel, logLevels}, "log-level", "log level: "+orList(logLevels))
	pf.StringVar(&g.adminURL, "admin", "", "admin API address (default 127.0.0.1:9925): where up/serve listen and the other commands connect")
	root.SetIn(g.stdin)
	root.SetOut(g.stdout)
	root.SetErr(g.stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError("%v\nSee '%s --help'.", err, c.CommandPath())
	})
	completeWith(root, "topology", func(*cobra.Command) []string { return topology.BuiltinNames() })
	completeWith(root, "log-level", func(*cobra.Command) []string { return logLevels })
	for _, add := range commands {
		root.AddCommand(add(g))
	}
	return root
}

// commands lists the subcommand constructors; each file adds its own.
var commands = []func(*globals) *cobra.Command{
	newTopologyCmd, newInitCmd, newUpCmd, newServeCmd, newQueueCmd, newTrackCmd, newFaultCmd, newSendCmd, newProbeCmd, newRCACmd, newScenarioCmd, newDemoCmd, newEdgeSyncCmd, newLabCmd, newExportCmd,
	newVersionCmd, newHealthcheckCmd,
}

// run executes the command line and returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	g := &globals{stdin: stdin, stdout: stdout, stderr: stderr}
	root := newRootCmd(g)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.code != exitCheck || ee.err.Error() != "" {
			fmt.Fprintln(stderr, "exsim:", ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(stderr, "exsim:", err)
	if strings.Contains(err.Error(), "unknown command") || strings.Contains(err.Error(), "unknown flag") || strings.Contains(err.Error(), "arg(s)") {
		return exitUsage
	}
	return exitUsage
}

// stdoutIsTerminal reports whether w is a terminal (progress bars, colour).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// noArgsCmd is a subcommand without arguments, such as the list and status
// commands of fault, scenario, edgesync and lab.
func noArgsCmd(use, short string, run func(cmd *cobra.Command) error) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return run(cmd) },
	}
}
