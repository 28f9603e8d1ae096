package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/exsim/exsim/internal/control"
	"github.com/exsim/exsim/topology"
	"github.com/exsim/exsim/transport"
)

// transportRoles are the roles of the servers with queues.
var transportRoles = []topology.Role{topology.RoleEdge, topology.RoleMailbox, topology.RoleInternet}

// transportServers lists the servers that have queues, or just server.
func (g *globals) transportServers(server string) ([]string, error) {
	t, err := g.labTopology()
	if err != nil {
		return nil, err
	}
	if server != "" {
		s := t.Server(server)
		if s == nil {
			return nil, usageError("no server %q in the topology", server)
		}
		return []string{s.Name}, nil
	}
	var out []string
	for _, s := range t.Servers {
		if s.Role != topology.RoleDNS {
			out = append(out, s.Name)
		}
	}
	return out, nil
}

func newQueueCmd(g *globals) *cobra.Command {
	var server, format string
	cmd := &cobra.Command{
		Use:   "queue",
		Short: "Get-Queue: the delivery queues of the running servers, and their actions",
		Long: `Shows the queues of running servers as Get-Queue does: Identity, DeliveryType, Status,
MessageCount, NextHopDomain and LastError. Subcommands show the messages (Get-Message) and
retry, suspend or resume a queue, or suspend, resume or remove a message.`,
		Example: `  exsim queue
  exsim queue --server EX01 --format json
  exsim queue messages --server EX01
  exsim queue retry 'EX01\3'
  exsim queue message remove 12 --server EX01 --ndr`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			items, err := askTransportServers(cmd.Context(), g, server, func(ctx context.Context, c *control.Client, name string) ([]transport.QueueInfo, error) {
				return c.Queues(ctx, name)
			})
			if err != nil {
				return err
			}
			return writeListing(g, format, items, "IDENTITY\tDELIVERYTYPE\tSTATUS\tMESSAGECOUNT\tNEXTHOPDOMAIN\tNEXTHOPCONNECTOR\tLASTERROR", func(q transport.QueueInfo) []any {
				return []any{q.Identity, q.DeliveryType, q.Status, q.MessageCount, q.NextHopDomain, q.NextHopConnector, q.LastError}
			})
		},
	}
	g.serverFlag(cmd, "server", &server, "one server (default: every server with queues)", transportRoles...)
	formatFlag(cmd, &format, "table", "json")
	cmd.AddCommand(newQueueMessagesCmd(g), newQueueMessageCmd(g))
	for _, action := range []string{"retry", "suspend", "resume"} {
		cmd.AddCommand(&cobra.Command{
			Use:               action + " QUEUE",
			Short:             strings.ToUpper(action[:1]) + action[1:] + "-Queue: " + map[string]string{"retry": "connect to the next hop now", "suspend": "stop delivery from the queue", "resume": "resume a suspended queue"}[action],
			Args:              cobra.ExactArgs(1),
			ValidArgsFunction: g.queueIdentities,
			RunE: func(cmd *cobra.Command, args []string) error {
				server, _, ok := strings.Cut(args[0], `\`)
				if !ok {
					return usageError(`queue identity %q: write SERVER\N, e.g. 'EX01\3' (quote the backslash)`, args[0])
				}
				if err := g.askServer(server, func(c *control.Client) error {
					return c.QueueAction(cmd.Context(), server, args[0], action)
				}); err != nil {
					return err
				}
				fmt.Fprintf(g.stdout, "%s: %s\n", args[0], action)
				return nil
			},
		})
	}
	return cmd
}

// queueIdentities completes a queue action's argument with the queues of
// the running lab (Get-Queue's Identity, with the next hop and status).
func (g *globals) queueIdentities(c *cobra.Command, args []string, typed string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	defer g.quiet()()
	ctx, cancel := context.WithTimeout(c.Context(), 3*time.Second)
	defer cancel()
	items, _ := askTransportServers(ctx, g, "", func(ctx context.Context, c *control.Client, name string) ([]transport.QueueInfo, error) {
		return c.Queues(ctx, name)
	})
	var out []string
	for _, q := range items {
		out = append(out, fmt.Sprintf("%s\t%s, %s, %d messages", q.Identity, q.NextHopDomain, q.Status, q.MessageCount))
	}
	return withPrefix(out, typed), cobra.ShellCompDirectiveNoFileComp
}

func newQueueMessagesCmd(g *globals) *cobra.Command {
	var server, queue, format string
	cmd := &cobra.Command{
		Use:   "messages",
		Short: "Get-Message: the messages in the queues",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if server == "" && queue != "" {
				server, _, _ = strings.Cut(queue, `\`)
			}
			items, err := askTransportServers(cmd.Context(), g, server, func(ctx context.Context, c *control.Client, name string) ([]transport.MessageInfo, error) {
				return c.Messages(ctx, name, queue)
			})
			if err != nil {
				return err
			}
			return writeListing(g, format, items, "IDENTITY\tFROMADDRESS\tSTATUS\tSIZE\tSUBJECT\tRECIPIENTS\tLASTERROR", func(m transport.MessageInfo) []any {
				return []any{m.Identity, m.FromAddress, m.Status, m.Size, m.Subject, strings.Join(m.Recipients, ";"), m.LastError}
			})
		},
	}
	g.serverFlag(cmd, "server", &server, "one server (default: every server with queues)", transportRoles...)
	cmd.Flags().StringVar(&queue, "queue", "", `one queue, e.g. 'EX01\3'`)
	formatFlag(cmd, &format, "table", "json")
	return cmd
}

func newQueueMessageCmd(g *globals) *cobra.Command {
	var server string
	var ndr bool
	cmd := &cobra.Command{
		Use:   "message suspend|resume|remove ID",
		Short: "Suspend-Message, Resume-Message or Remove-Message by InternalId",
		Args:  cobra.ExactArgs(2),
		ValidArgsFunction: func(c *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			if len(args) == 0 {
				return []string{"suspend", "resume", "remove"}, cobra.ShellCompDirectiveNoFileComp
			}
			return nil, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if server == "" {
				return usageError("--server is required")
			}
			id, err := strconv.ParseInt(args[1], 10, 64)
			if err != nil {
				return usageError("message id %q: the InternalId, a number (see exsim queue messages)", args[1])
			}
			switch args[0] {
			case "suspend", "resume", "remove":
			default:
				return usageError("action %q: use suspend, resume or remove", args[0])
			}
			if err := g.askServer(server, func(c *control.Client) error {
				return c.MessageAction(cmd.Context(), server, id, args[0], ndr)
			}); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "%s message %d: %s\n", server, id, args[0])
			return nil
		},
	}
	g.serverFlag(cmd, "server", &server, "the server holding the message", transportRoles...)
	cmd.Flags().BoolVar(&ndr, "ndr", false, "with remove: send an NDR to the sender")
	return cmd
}
