package main

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/exsim/exsim/probe"
	"github.com/exsim/exsim/scenarios"
	"github.com/exsim/exsim/topology"
)

// choiceValue is a string flag that takes one of a fixed set of values: a
// wrong one is refused while the flags are parsed (exit 2, naming the
// choices), and the shell completes the choices.
type choiceValue struct {
	p       *string
	choices []string
}

func (c *choiceValue) String() string { return *c.p }
func (c *choiceValue) Type() string   { return "string" }
func (c *choiceValue) Set(s string) error {
	if !slices.Contains(c.choices, s) {
		return fmt.Errorf("%q: use %s", s, orList(c.choices))
	}
	*c.p = s
	return nil
}

// orList writes choices as "a, b or c".
func orList(choices []string) string {
	cs := given(choices)
	if len(cs) < 2 {
		return strings.Join(cs, "")
	}
	return strings.Join(cs[:len(cs)-1], ", ") + " or " + cs[len(cs)-1]
}

// given leaves out the empty choice (a flag's "not given").
func given(choices []string) []string {
	return slices.DeleteFunc(slices.Clone(choices), func(c string) bool { return c == "" })
}

// enumFlag adds flag name (shorthand short, or "") that takes one of
// choices, with def as its default; usage names the choices.
func enumFlag(cmd *cobra.Command, p *string, name, short, def, usage string, choices ...string) {
	*p = def
	cmd.Flags().VarP(&choiceValue{p: p, choices: choices}, name, short, usage+": "+orList(choices))
	completeWith(cmd, name, func(*cobra.Command) []string { return given(choices) })
}

// formatFlag adds --format/-f: the output formats a command writes, the
// first the default.
func formatFlag(cmd *cobra.Command, p *string, formats ...string) {
	enumFlag(cmd, p, "format", "f", formats[0], "output format", formats...)
}

// serverFlag adds a flag that names a server (--server, --from, --to),
// completed with the names of the topology's servers (of roles, when
// given).
func (g *globals) serverFlag(cmd *cobra.Command, name string, p *string, usage string, roles ...topology.Role) {
	cmd.Flags().StringVar(p, name, "", usage)
	completeWith(cmd, name, g.serverNames(roles...))
}

// completeWith registers the completion of a flag's values: those that
// start with what was typed, in any case.
func completeWith(cmd *cobra.Command, flag string, values func(*cobra.Command) []string) {
	cmd.RegisterFlagCompletionFunc(flag, func(c *cobra.Command, _ []string, typed string) ([]string, cobra.ShellCompDirective) {
		return withPrefix(values(c), typed), cobra.ShellCompDirectiveNoFileComp
	})
}

// withPrefix keeps the completions that start with typed, in any case.
func withPrefix(values []string, typed string) []string {
	return slices.DeleteFunc(values, func(v string) bool { return !strings.HasPrefix(strings.ToLower(v), strings.ToLower(typed)) })
}

// completionTopology is the topology a completion offers names from: the
// lab --data holds, or --config/--topology, without the notes a command
// prints (the shell shows none) and nil when there is none.
func (g *globals) completionTopology() *topology.Topology {
	defer g.quiet()()
	t, err := g.labTopology()
	if err != nil {
		return nil
	}
	return t
}

// fromTopology completes with names taken from the completion topology.
func (g *globals) fromTopology(names func(*topology.Topology) []string) func(*cobra.Command) []string {
	return func(*cobra.Command) []string {
		if t := g.completionTopology(); t != nil {
			return names(t)
		}
		return nil
	}
}

// quiet silences the notes commands print on standard error, which in a
// completion would land in the shell's prompt; it returns the undo.
func (g *globals) quiet() (restore func()) {
	stderr := g.stderr
	g.stderr = io.Discard
	return func() { g.stderr = stderr }
}

// serverNames completes the servers of the topology, or of one role.
func (g *globals) serverNames(roles ...topology.Role) func(*cobra.Command) []string {
	return g.fromTopology(func(t *topology.Topology) (out []string) {
		for _, s := range t.Servers {
			if len(roles) == 0 || slices.Contains(roles, s.Role) {
				out = append(out, s.Name)
			}
		}
		return out
	})
}

// mailboxAddresses completes the topology's mailboxes (--to).
func mailboxAddresses(t *topology.Topology) (out []string) {
	for _, m := range t.Mailboxes {
		out = append(out, m.Address)
	}
	return out
}

// flowIDs completes the flow ids of the topology's probe catalogue.
func flowIDs(t *topology.Topology) (out []string) {
	for _, f := range probe.Flows(t) {
		out = append(out, f.ID)
	}
	return out
}

// scenarioIDs completes the built-in scenarios' ids; a file name completes
// as a file.
func scenarioIDs(_ *cobra.Command, _ []string, typed string) ([]string, cobra.ShellCompDirective) {
	all, err := scenarios.Builtin()
	if err != nil {
		return nil, cobra.ShellCompDirectiveDefault
	}
	out := make([]string, 0, len(all))
	for _, s := range all {
		out = append(out, s.ID+"\t"+s.Name)
	}
	return withPrefix(out, typed), cobra.ShellCompDirectiveDefault
}

// serverArg completes a command's first argument with server names of
// the given roles, and nothing after it.
func (g *globals) serverArg(roles ...topology.Role) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	names := g.serverNames(roles...)
	return func(c *cobra.Command, args []string, typed string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return withPrefix(names(c), typed), cobra.ShellCompDirectiveNoFileComp
	}
}
