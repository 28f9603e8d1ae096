package control

import (
	"fmt"
	"log/slog"
	"testing"

	"github.com/exsim/exsim/transport"
)

// trackingLab answers Track from one tracking log directory.
type trackingLab struct {
	Lab
	dir string
}

func (l *trackingLab) Track(server string, q transport.TrackingQuery) ([]transport.TrackingEvent, error) {
	ev, _, err := transport.SearchTracking(l.dir, server, q)
	return ev, err
}

// BenchmarkDashboardCounters measures one count of the connector counters
// (what the event stream does after an action, and every countersPeriod
// otherwise) over a tracking log of a relayed load test: five
// events a message, as a Mailbox server writes them.
func BenchmarkDashboardCounters(b *testing.B) {
	for _, msgs := range []int{2000, 20000} {
		b.Run(fmt.Sprintf("%d-messages", msgs), func(b *testing.B) {
			dir := b.TempDir()
			tl, err := transport.NewTrackingLog(dir, "EX01", "15.2.1258.12", nil)
			if err != nil {
				b.Fatal(err)
			}
			for i := range msgs {
				for _, e := range []struct{ id, src, conn string }{
					{transport.EventReceive, transport.SourceSMTP, `EX01\Default Frontend EX01`},
					{transport.EventReceive, transport.SourceSMTP, `EX01\Default EX01`},
					{transport.EventSend, transport.SourceSMTP, "Intra-Organization SMTP Send Connector"},
					{transport.EventReceive, transport.SourceSMTP, `EX01\Default Mailbox Delivery EX01`},
					{transport.EventDeliver, "STOREDRIVER", `EX01\Default Mailbox Delivery EX01`},
				} {
					if err := tl.Write(transport.LogTransport, &transport.TrackingEvent{EventID: e.id, Source: e.src, ConnectorID: e.conn,
						MessageID: fmt.Sprintf("<%d@bench>", i), Sender: "carol@fabrikam.com", Recipients: []string{"alice@contoso.com"}, MessageSubject: "load"}); err != nil {
						b.Fatal(err)
					}
				}
			}
			tl.Close()
			d := newDashboard(&trackingLab{dir: dir}, "t", slog.New(slog.DiscardHandler))
			b.ResetTimer()
			for b.Loop() {
				if rows := d.counters("EX01"); len(rows) != 4 || rows[1].Received != msgs {
					b.Fatalf("counters = %+v", rows)
				}
			}
		})
	}
}
