package main

import (
	"context"
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
	var format string
	status := noArgsCmd("status", "Test-EdgeSynchronization: what each Mailbox server pushed and what each Edge holds", func(cmd *cobra.Command) error {
		items, err := askServers(cmd.Context(), g, []topology.Role{topology.RoleMailbox, topology.RoleEdge}, func(ctx context.Context, c *control.Client, name string) ([]control.EdgeSyncStatus, error) {
			st, err := c.EdgeSync(ctx, name)
			return []control.EdgeSyncStatus{st}, err
		})
		if err != nil {
			return err
		}
		return writeListing(g, format, items, "SERVER\tROLE\tPARTICIPATES\tLAST SUCCESS\tCONFIG\tRECIPIENTS\tSTALE\tLAST ERROR", func(st control.EdgeSyncStatus) []any {
			last := "never"
			if !st.LastSuccess.IsZero() {
				last = st.LastSuccess.Local().Format(time.DateTime)
			}
			return []any{st.Server, st.Role, st.Participates, last, st.ConfigEntries, st.RecipientEntries, st.Stale, st.LastError}
		})
	})
	formatFlag(status, &format, "table", "json")
	var participants []string
	renew := &cobra.Command{
		Use:   "renew EDGE",
		Short: "New-EdgeSubscription again: Mailbox servers added since take part from now on",
		Long: `Renews the Edge Subscription of an Edge Transport server: a new subscription file with a
new bootstrap account, imported by every Mailbox server of the site (or --participants),
so a Mailbox server added after the first subscription starts pushing EdgeSync data.`,
		Example: `  exsim edgesync renew EDGE01
  exsim edgesync renew EDGE01 --participants EX01,EX02`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: g.serverArg(topology.RoleEdge),
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
	completeWith(renew, "participants", g.serverNames(topology.RoleMailbox))
	cmd.AddCommand(status, renew)
	return cmd
}
