package roles

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/exsim/exsim/topology"
	"github.com/exsim/exsim/transport"
)

// The state read when /metrics is scraped. Queue counters model
// MSExchangeTransport Queues(_total) as Microsoft's "Transport Server
// Counters" (learn.microsoft.com, ff367923) describes them: the aggregate
// counts the messages in every delivery queue; "active" queues are the
// ones not waiting for a retry or suspended; remote queues are every
// delivery queue but mailbox delivery and Unreachable.
var (
	descAggregate = prometheus.NewDesc("exsim_transport_queues_aggregate_delivery_queue_length",
		`Messages queued for delivery in all queues (MSExchangeTransport Queues(_total)\Aggregate Delivery Queue Length (All Queues)).`, []string{"server"}, nil)
	descActiveRemote = prometheus.NewDesc("exsim_transport_queues_active_remote_delivery_queue_length",
		`Messages in the active remote delivery queues (MSExchangeTransport Queues(_total)\Active Remote Delivery Queue Length).`, []string{"server"}, nil)
	descActiveMailbox = prometheus.NewDesc("exsim_transport_queues_active_mailbox_delivery_queue_length",
		`Messages in the active mailbox delivery queues (MSExchangeTransport Queues(_total)\Active Mailbox Delivery Queue Length).`, []string{"server"}, nil)
	descRetryRemote = prometheus.NewDesc("exsim_transport_queues_retry_remote_delivery_queue_length",
		`Messages in remote delivery queues waiting to be retried (MSExchangeTransport Queues(_total)\Retry Remote Delivery Queue Length).`, []string{"server"}, nil)
	descUnreachable = prometheus.NewDesc("exsim_transport_queues_unreachable_queue_length",
		`Messages in the Unreachable queue (MSExchangeTransport Queues(_total)\Unreachable Queue Length).`, []string{"server"}, nil)
	// No public Exchange performance counter holds the time of the last
	// synchronization; this models what Test-EdgeSynchronization reports
	// (SyncStatus and the last synchronization of each Edge).
	descEdgeSync = prometheus.NewDesc("exsim_edgesync_last_success_timestamp_seconds",
		"When EdgeSync last succeeded (Unix time; 0: never): on a Mailbox server its last push to the Edge, on an Edge the last data it received.", []string{"server", "role"}, nil)
	descListener = prometheus.NewDesc("exsim_listener_up",
		"1 when the listener is bound and serving, 0 when it failed or is closed as Exchange leaves it.", []string{"server", "listener", "port", "transport"}, nil)
)

// stateCollector reads the running servers' queues, EdgeSync state and
// listeners at each scrape.
type stateCollector struct{ rt *Runtime }

func (c stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descAggregate, descActiveRemote, descActiveMailbox, descRetryRemote, descUnreachable, descEdgeSync, descListener} {
		ch <- d
	}
}

func (c stateCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, s := range c.rt.servers {
		name := s.Config.Name
		if s.transport != nil {
			l := queueLengths(s.transport.Queues())
			gauge(descAggregate, float64(l.aggregate), name)
			gauge(descActiveRemote, float64(l.activeRemote), name)
			gauge(descActiveMailbox, float64(l.activeMailbox), name)
			gauge(descRetryRemote, float64(l.retryRemote), name)
			gauge(descUnreachable, float64(l.unreachable), name)
		}
		if s.Config.Role == topology.RoleEdge || s.Config.Role == topology.RoleMailbox {
			if st, err := c.rt.EdgeSync(name); err == nil && st.Participates {
				v := 0.0
				if !st.LastSuccess.IsZero() {
					v = float64(st.LastSuccess.UnixNano()) / 1e9
				}
				gauge(descEdgeSync, v, name, string(s.Config.Role))
			}
		}
		for _, b := range s.Listeners() {
			up := 0.0
			if b.Err == nil && b.Enabled {
				up = 1
			}
			gauge(descListener, up, name, b.Name, strconv.Itoa(b.Port), string(b.Transport))
		}
	}
}

type lengths struct{ aggregate, activeRemote, activeMailbox, retryRemote, unreachable int }

func queueLengths(qs []transport.QueueInfo) lengths {
	var l lengths
	for _, q := range qs {
		l.aggregate += q.MessageCount
		waiting := q.Status == transport.QueueRetry || q.Status == transport.QueueSuspended
		switch {
		case q.DeliveryType == transport.DeliveryUnreachable:
			l.unreachable += q.MessageCount
		case q.DeliveryType == transport.DeliveryToMailbox:
			if !waiting {
				l.activeMailbox += q.MessageCount
			}
		case q.Status == transport.QueueRetry:
			l.retryRemote += q.MessageCount
		case !waiting:
			l.activeRemote += q.MessageCount
		}
	}
	return l
}
