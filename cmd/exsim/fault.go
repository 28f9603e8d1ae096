package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/exsim/exsim/internal/control"
	"github.com/exsim/exsim/internal/labnet"
)

func newFaultCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "fault",
		Short: "Inject faults between servers of a running lab: drop, reset, delay or idle-cut a flow (no root needed)",
		Long: `Faults make a flow between two servers of a running lab look filtered (drop: nothing
answers until the timeout), closed (reset: the connection is refused), slow (delay) or cut
when quiet (idle: a reverse proxy's idle timeout, which breaks long polls). They
act where the source server opens its connections, so they need no firewall and no root.
Ports are the documented ones; the lab's --port-offset is added for you.`,
		Example: `  exsim fault add --from EX01 --to EDGE01 --port 50636 --action drop   # break EdgeSync
  exsim fault add --from INET01 --to EDGE01 --port 25 --action reset
  exsim fault add --from INET01 --to EX01 --port 443 --action idle --idle 30s   # a proxy's idle timeout
  exsim fault list
  exsim fault clear            # all
  exsim fault clear 3          # one`,
	}
	var f labnet.Fault
	var delay, idle time.Duration
	add := &cobra.Command{
		Use:   "add",
		Short: "Add a fault",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.From == "" {
				return usageError("--from is required: the source server (faults act where connections start)")
			}
			f.Delay, f.Idle = delay, idle
			if err := (&labnet.Fault{Action: f.Action, Delay: f.Delay, Idle: f.Idle, Transport: f.Transport}).Validate(); err != nil {
				return adminError(err)
			}
			return g.askServer(f.From, func(c *control.Client) error {
				added, err := c.AddFault(cmd.Context(), f)
				if err == nil {
					fmt.Fprintf(g.stdout, "added %s\n", added.String())
				}
				return err
			})
		},
	}
	g.serverFlag(add, "from", &f.From, "source server")
	g.serverFlag(add, "to", &f.To, "destination server or address (default: any)")
	add.Flags().IntVar(&f.Port, "port", 0, "documented destination port (default: any)")
	enumFlag(add, &f.Transport, "transport", "", "", "transport (default: both)", "", "tcp", "udp")
	enumFlag(add, (*string)(&f.Action), "action", "", string(labnet.ActionDrop), "what the flow sees", string(labnet.ActionDrop), string(labnet.ActionReset), string(labnet.ActionDelay), string(labnet.ActionIdle))
	add.Flags().DurationVar(&delay, "delay", 0, "with --action delay: how long")
	add.Flags().DurationVar(&idle, "idle", 0, "with --action idle: cut the connection after this long without traffic (a proxy's idle timeout)")
	add.Flags().StringVar(&f.Note, "note", "", "why (shown by list)")

	var format string
	list := noArgsCmd("list", "List the faults", func(cmd *cobra.Command) error {
		cs, err := g.adminProcesses()
		if err != nil {
			return err
		}
		var all []labnet.Fault
		for _, c := range cs {
			fs, err := c.Faults(cmd.Context())
			if err != nil {
				return adminError(err)
			}
			all = append(all, fs...)
		}
		return writeListing(g, format, all, "ID\tACTION\tFROM\tTO\tPORT\tTRANSPORT\tNOTE", func(x labnet.Fault) []any {
			return []any{x.ID, x.Action, x.From, x.To, x.Port, x.Transport, x.Note}
		})
	})
	formatFlag(list, &format, "table", "json")
	clear := &cobra.Command{
		Use:   "clear [ID]",
		Short: "Remove one fault, or all",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cs, err := g.adminProcesses()
			if err != nil {
				return err
			}
			for _, c := range cs {
				if len(args) == 0 {
					if err := c.ClearFaults(cmd.Context()); err != nil {
						return adminError(err)
					}
					continue
				}
				id, err := strconv.Atoi(args[0])
				if err != nil {
					return usageError("fault id %q is not a number", args[0])
				}
				if err := c.RemoveFault(cmd.Context(), id); noAnswer(err) {
					return noLab(err)
				}
			}
			fmt.Fprintln(g.stdout, "cleared")
			return nil
		},
	}
	cmd.AddCommand(add, list, clear)
	return cmd
}
