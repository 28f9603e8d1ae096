package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/spf13/cobra"

	"github.com/exsim/exsim/topology"
)

func newTopologyCmd(g *globals) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "topology",
		Short: "Print the resolved topology: servers, addresses, zones and every listener",
		Example: `  exsim topology
  exsim topology --format json | jq '.servers[] | {name, address}'
  exsim topology --config lab.yaml --port-offset 10000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := g.loadTopology()
			if err != nil {
				return err
			}
			v := t.View()
			switch format {
			case "json":
				return writeJSON(g, v)
			case "yaml":
				b, err := yaml.MarshalWithOptions(v, yaml.Indent(2), yaml.IndentSequence(true))
				if err != nil {
					return err
				}
				_, err = g.stdout.Write(b)
				return err
			default:
				printTopologyTable(g, v)
				return nil
			}
		},
	}
	formatFlag(cmd, &format, "table", "json", "yaml")
	return cmd
}

func printTopologyTable(g *globals, v topology.View) {
	fmt.Fprintf(g.stdout, "Organization %s, site %s, Exchange %d, accepted domains: %s\n\n", v.Organization, v.Site, v.Version, strings.Join(v.AcceptedDomains, ", "))
	var servers, listeners, mailboxes [][]any
	for _, s := range v.Servers {
		servers = append(servers, []any{s.Name, s.Role, s.Zone, s.FQDN, s.Address})
		for _, l := range s.Listeners {
			state := "enabled"
			if !l.Enabled {
				state = "disabled"
			}
			listeners = append(listeners, []any{s.Name, l.Name, l.Protocol, topology.PortString(l.Port, l.Transport), l.TLS, state})
		}
	}
	for _, m := range v.Mailboxes {
		mailboxes = append(mailboxes, []any{m.Address, m.DisplayName, m.Server})
	}
	writeTable(g.stdout, "SERVER\tROLE\tZONE\tFQDN\tADDRESS", servers)
	fmt.Fprintln(g.stdout)
	writeTable(g.stdout, "SERVER\tLISTENER\tPROTOCOL\tPORT\tTLS\tSTATE", listeners)
	fmt.Fprintln(g.stdout)
	writeTable(g.stdout, "MAILBOX\tDISPLAY NAME\tHOME SERVER", mailboxes)
}

func newInitCmd(g *globals) *cobra.Command {
	var out string
	var force bool
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Write the chosen built-in topology as an editable lab.yaml",
		Example: `  exsim init                         # contoso as ./lab.yaml
  exsim init -t contoso-noedge -o noedge.yaml
  exsim up --config lab.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			src, err := builtinInitFile(g.topology)
			if err != nil {
				return err
			}
			if out == "-" {
				_, err := g.stdout.Write(src)
				return err
			}
			flags := os.O_CREATE | os.O_WRONLY | os.O_EXCL
			if force {
				flags = os.O_CREATE | os.O_WRONLY | os.O_TRUNC
			}
			f, err := os.OpenFile(out, flags, 0o644)
			if err != nil {
				if os.IsExist(err) {
					return usageError("%s exists; use --force to overwrite it", out)
				}
				return usageError("%v", err)
			}
			if _, err := f.Write(src); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "wrote %s (topology %s); edit it, then: exsim up --config %s\n", out, g.topology, out)
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "lab.yaml", "file to write, - for standard output")
	cmd.Flags().BoolVar(&force, "force", false, "overwrite an existing file")
	return cmd
}

// builtinInitFile is the built-in topology name as `exsim init` writes it:
// the comment that opens its source, then every key with its comment.
func builtinInitFile(name string) ([]byte, error) {
	src, err := topology.BuiltinSource(name)
	if err != nil {
		return nil, usageError("%v", err)
	}
	t, err := topology.Builtin(name)
	if err != nil {
		return nil, err
	}
	var header []string
	for _, l := range strings.Split(string(src), "\n") {
		c, ok := strings.CutPrefix(l, "#")
		if !ok {
			break
		}
		header = append(header, strings.TrimPrefix(c, " "))
	}
	header = append(header, "", "Written by `exsim init -t "+name+"`. Every key of a topology is here with what it means;",
		"keys this lab leaves unset are commented out with an example. Edit, then: exsim up --config lab.yaml", "")
	return initFile(t, strings.Join(header, "\n"))
}
