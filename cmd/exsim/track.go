package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/exsim/exsim/internal/control"
	"github.com/exsim/exsim/transport"
)

func newTrackCmd(g *globals) *cobra.Command {
	var server, format, start, end string
	var q transport.TrackingQuery
	cmd := &cobra.Command{
		Use:   "track",
		Short: "Get-MessageTrackingLog: search the message tracking logs of the running servers",
		Long: `Searches the message tracking logs (TransportRoles/Logs/MessageTracking) of the running
servers with Get-MessageTrackingLog's filters. Without --server every server is searched
and the events are merged in time order, so one message's path across the organization
reads top to bottom.`,
		Example: `  exsim track --message-id '<20261127151637.018866@vm>'
  exsim track --recipient alice@contoso.com --event DELIVER
  exsim track --server EDGE01 --start 2026-11-27T10:00:00Z --format csv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			for flag, dst := range map[string]*time.Time{start: &q.Start, end: &q.End} {
				if flag == "" {
					continue
				}
				if *dst, err = parseWhen(flag); err != nil {
					return usageError("%v", err)
				}
			}
			all, err := askTransportServers(cmd.Context(), g, server, func(ctx context.Context, c *control.Client, name string) ([]transport.TrackingEvent, error) {
				return c.Track(ctx, name, q)
			})
			if err != nil {
				return err
			}
			sort.SliceStable(all, func(i, j int) bool { return all[i].Timestamp.Before(all[j].Timestamp) })
			switch format {
			case "csv":
				w := csv.NewWriter(g.stdout)
				w.Write([]string{"Timestamp", "Server", "EventId", "Source", "ConnectorId", "Sender", "Recipients", "RecipientStatus", "MessageSubject", "MessageId", "ClientIp", "ServerHostname"})
				for _, e := range all {
					w.Write([]string{e.Timestamp.Format(time.RFC3339Nano), e.Server, e.EventID, e.Source, e.ConnectorID, e.Sender, strings.Join(e.Recipients, ";"), strings.Join(e.RecipientStatus, ";"), e.MessageSubject, e.MessageID, e.ClientIP, e.ServerHostname})
				}
				w.Flush()
				return w.Error()
			default:
				return writeListing(g, format, all, "TIMESTAMP\tSERVER\tEVENTID\tSOURCE\tCONNECTOR\tSENDER\tRECIPIENTS\tSUBJECT", func(e transport.TrackingEvent) []any {
					return []any{e.Timestamp.Local().Format("15:04:05.000"), e.Server, e.EventID, e.Source, e.ConnectorID, e.Sender, strings.Join(e.Recipients, ";"), e.MessageSubject}
				})
			}
		},
	}
	f := cmd.Flags()
	g.serverFlag(cmd, "server", &server, "one server (default: all)", transportRoles...)
	f.StringVar(&q.Sender, "sender", "", "sender address")
	f.StringVar(&q.Recipient, "recipient", "", "recipient address")
	f.StringVar(&q.MessageID, "message-id", "", "Message-Id, with or without <>")
	f.StringVar(&q.EventID, "event", "", "event id: RECEIVE, SEND, DELIVER, DEFER, FAIL, DSN, SUBMIT, ...")
	completeWith(cmd, "event", func(*cobra.Command) []string { return trackingEvents })
	completeWith(cmd, "sender", g.fromTopology(mailboxAddresses))
	completeWith(cmd, "recipient", g.fromTopology(mailboxAddresses))
	f.StringVar(&q.Subject, "subject", "", "subject contains")
	f.StringVar(&start, "start", "", "from this time (RFC 3339, or a duration ago like 10m)")
	f.StringVar(&end, "end", "", "until this time")
	f.IntVar(&q.Limit, "limit", 0, "at most N events per server (ResultSize)")
	formatFlag(cmd, &format, "table", "json", "csv")
	return cmd
}

// trackingEvents are the event ids --event completes.
var trackingEvents = []string{transport.EventReceive, transport.EventSend, transport.EventDeliver, transport.EventDefer, transport.EventFail,
	transport.EventDSN, transport.EventExpand, transport.EventResolve, transport.EventSubmit, transport.EventHARedir, transport.EventDrop,
	transport.EventBadmail, transport.EventPoison, transport.EventAgentInfo}

// parseWhen reads RFC 3339 or "10m" (that long ago).
func parseWhen(s string) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return time.Now().Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("time %q: write RFC 3339 (2026-11-27T10:00:00Z) or a duration ago (10m)", s)
	}
	return t, nil
}
