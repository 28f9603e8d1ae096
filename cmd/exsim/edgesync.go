package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/exsim/exsim/internal/control"
	"github.com/exsim/exsim/topology"
)

func newEdgeSyncCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "edgesync",
		Short: "EdgeSync: status of the push to the Edge, and renewing the Edge Subscription",
	}
	status := noArgsCmd("status", "Test-EdgeSynchronization: what each Mailbox server pushed and what each Edge holds", func(cmd *cobra.Command) error {
		t, err := g.labTopology()
		if err != nil {
			return err
		}
		var names []string
		for _, s := range t.Servers {
			if s.Role == topology.RoleMailbox || s.Role == topology.RoleEdge {
				names = append(names, s.Name)
			}
		}
		var rows [][]any
		for _, name := range g.onlyServedHere(cmd.Context(), names) { // inside a container: its own server
			s := t.Server(name)
			c, err := g.adminFor(s.Name)
			if err != nil {
				return err
			}
			st, err := c.EdgeSync(cmd.Context(), s.Name)
			if err != nil {
				rows = append(rows, []any{s.Name, s.Role, "", "", "", "", "", err})
				continue
			}
			last := "never"
			if !st.LastSuccess.IsZero() {
				last = st.LastSuccess.Local().Format(time.DateTime)
			}
			rows = append(rows, []any{s.Name, s.Role, st.Participates, last, st.ConfigEntries, st.RecipientEntries, st.Stale, st.LastError})
		}
		return writeTable(g.stdout, "SERVER\tROLE\tPARTICIPATES\tLAST SUCCESS\tCONFIG\tRECIPIENTS\tSTALE\tLAST ERROR", rows)
	})
	var participants []string
	renew := &cobra.Command{
		Use:   "renew EDGE",
		Short: "New-EdgeSubscription again: Mailbox servers added since take part from now on",
		Long: `Renews the Edge Subscription of an Edge Transport server: a new subscription file with a
new bootstrap account, imported by every Mailbox server of the site (or --participants),
so a Mailbox server added after the first subscription starts pushing EdgeSync data.`,
		Example: `  exsim edgesync renew EDGE01
  exsim edgesync renew EDGE01 --participants EX01,EX02`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := g.askServer(args[0], func(c *control.Client) error {
				return c.RenewEdgeSubscription(cmd.Context(), args[0], participants)
			}); err != nil {
				return err
			}
			who := "every Mailbox server of the site"
			if len(participants) > 0 {
				who = strings.Join(participants, ", ")
			}
			fmt.Fprintf(g.stdout, "%s: Edge Subscription renewed; %s import it within seconds (exsim edgesync status)\n", args[0], who)
			return nil
		},
	}
	renew.Flags().StringSliceVar(&participants, "participants", nil, "the Mailbox servers that take part (default: all of the site)")
	cmd.AddCommand(status, renew)
	return cmd
}
