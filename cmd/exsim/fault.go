package main

import (
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/exsim/exsim/internal/labnet"
)

func newFaultCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "fault",
		Short: "Inject faults between servers of a running lab: drop, reset or delay a flow (no root needed)",
		Long: `Faults make a flow between two servers of a running lab look filtered (drop: nothing
answers until the timeout), closed (reset: the connection is refused) or slow (delay). They
act where the source server opens its connections, so they need no firewall and no root.
Ports are the documented ones; the lab's --port-offset is added for you.`,
		Example: `  exsim fault add --from EX01 --to EDGE01 --port 50636 --action drop   # break EdgeSync
  exsim fault add --from INET01 --to EDGE01 --port 25 --action reset
  exsim fault list
  exsim fault clear            # all
  exsim fault clear 3          # one`,
	}
	var f labnet.Fault
	var delay time.Duration
	add := &cobra.Command{
		Use:   "add",
		Short: "Add a fault",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.From == "" {
				return usageError("--from is required: the source server (faults act where connections start)")
			}
			f.Delay = delay
			if err := (&labnet.Fault{Action: f.Action, Delay: f.Delay, Transport: f.Transport}).Validate(); err != nil {
				return usageError("%v", err)
			}
			c, err := g.adminFor(f.From)
			if err != nil {
				return err
			}
			added, err := c.AddFault(cmd.Context(), f)
			if err != nil {
				return usageError("%v", err)
			}
			fmt.Fprintf(g.stdout, "added %s\n", added.String())
			return nil
		},
	}
	add.Flags().StringVar(&f.From, "from", "", "source server")
	add.Flags().StringVar(&f.To, "to", "", "destination server or address (default: any)")
	add.Flags().IntVar(&f.Port, "port", 0, "documented destination port (default: any)")
	add.Flags().StringVar(&f.Transport, "transport", "", "tcp or udp (default: both)")
	add.Flags().StringVar((*string)(&f.Action), "action", "drop", "drop, reset or delay")
	add.Flags().DurationVar(&delay, "delay", 0, "with --action delay: how long")
	add.Flags().StringVar(&f.Note, "note", "", "why (shown by list)")

	list := &cobra.Command{
		Use:   "list",
		Short: "List the faults",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cs, err := g.adminClients()
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tACTION\tFROM\tTO\tPORT\tTRANSPORT\tNOTE")
			seen := map[string]bool{}
			for _, c := range cs {
				if seen[c.BaseURL] {
					continue
				}
				seen[c.BaseURL] = true
				fs, err := c.Faults(cmd.Context())
				if err != nil {
					return usageError("%v", err)
				}
				for _, x := range fs {
					fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\t%s\n", x.ID, x.Action, x.From, x.To, x.Port, x.Transport, x.Note)
				}
			}
			return tw.Flush()
		},
	}
	clear := &cobra.Command{
		Use:   "clear [ID]",
		Short: "Remove one fault, or all",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cs, err := g.adminClients()
			if err != nil {
				return err
			}
			for _, c := range cs {
				if len(args) == 0 {
					if err := c.ClearFaults(cmd.Context()); err != nil {
						return usageError("%v", err)
					}
					continue
				}
				id, err := strconv.Atoi(args[0])
				if err != nil {
					return usageError("fault id %q is not a number", args[0])
				}
				c.RemoveFault(cmd.Context(), id)
			}
			fmt.Fprintln(g.stdout, "cleared")
			return nil
		},
	}
	cmd.AddCommand(add, list, clear)
	return cmd
}
