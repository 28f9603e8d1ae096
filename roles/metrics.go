package roles

import (
	"context"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/exsim/exsim/probe"
	"github.com/exsim/exsim/transport"
)

// metrics are the Prometheus metrics of one process, in a registry of its
// own (never the global one: tests run several labs in one process). The
// names follow the performance counters an Exchange administrator watches;
// each says which counter it models. Exchange's counter sets are
// per-instance (per connector, or _total); exsim's labels carry the
// instance: server, and connector where Exchange has one instance per
// connector.
//
// Queue lengths, EdgeSync times and listener states are read when
// scraped (collectors over the running servers); counters move where
// the event happens: a receive connector's listener, a server's SMTP
// dialer, its message tracking log, the Edge's recipient filter and the
// probe.
type metrics struct {
	reg *prometheus.Registry

	// MSExchangeTransport SmtpReceive(<connector>)\Connections Current and
	// \Connections Created: connections to a Receive connector.
	recvCurrent *prometheus.GaugeVec
	recvTotal   *prometheus.CounterVec
	// MSExchangeTransport SmtpSend(<connector>)\Connections Current and
	// \Connections Created: connections a server opens to next hops (per
	// server: exsim's dialer does not know the Send connector).
	sendCurrent *prometheus.GaugeVec
	sendTotal   *prometheus.CounterVec
	// MSExchangeTransport Queues(_total)\Messages Submitted Total, per
	// Receive connector (the RECEIVE events of message tracking).
	submitted *prometheus.CounterVec
	// MSExchangeTransport Queues(_total)\Messages Completed Delivery
	// Total, per connector: SEND events by Send connector, DELIVER events
	// (Mailbox Transport Delivery into a mailbox database).
	delivered *prometheus.CounterVec
	// MSExchange Recipient Filter Agent\Recipients Rejected by Recipient
	// Validation: RCPT TO refused with 550 5.1.1 on the Edge because
	// EdgeSync's recipient list lacks the address.
	recipientRejects *prometheus.CounterVec
	// The last probe result per flow (no Exchange counter: exsim's own).
	probePass    *prometheus.GaugeVec
	probeRunTime *prometheus.GaugeVec
}

func newMetrics(rt *Runtime) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	f := factory{m.reg}
	m.recvCurrent = f.gauge("exsim_transport_smtpreceive_connections_current",
		`Connections open to a Receive connector (MSExchangeTransport SmtpReceive\Connections Current).`, "server", "connector")
	m.recvTotal = f.counter("exsim_transport_smtpreceive_connections_total",
		`Connections accepted by a Receive connector since start (MSExchangeTransport SmtpReceive\Connections Created).`, "server", "connector")
	m.sendCurrent = f.gauge("exsim_transport_smtpsend_connections_current",
		`SMTP connections open from a server to next hops (MSExchangeTransport SmtpSend\Connections Current).`, "server")
	m.sendTotal = f.counter("exsim_transport_smtpsend_connections_total",
		`SMTP connections opened by a server since start (MSExchangeTransport SmtpSend\Connections Created).`, "server")
	m.submitted = f.counter("exsim_transport_queues_messages_submitted_total",
		`Messages received and queued, by Receive connector (MSExchangeTransport Queues\Messages Submitted Total).`, "server", "connector")
	m.delivered = f.counter("exsim_transport_queues_messages_completed_delivery_total",
		`Messages that completed delivery to the next hop or a mailbox, by connector (MSExchangeTransport Queues\Messages Completed Delivery Total).`, "server", "connector", "event")
	m.recipientRejects = f.counter("exsim_edge_recipient_validation_rejected_total",
		`Recipients the Edge refused because EdgeSync's recipients lack them (MSExchange Recipient Filter Agent\Recipients Rejected by Recipient Validation).`, "server")
	m.probePass = f.gauge("exsim_probe_flow_pass",
		"The last probe of a flow from this process: 1 passed, 0 failed.", "flow", "source", "destination", "port", "outcome")
	m.probeRunTime = f.gauge("exsim_probe_flow_last_run_timestamp_seconds",
		"When the flow was last probed from this process (Unix time).", "flow")
	m.reg.MustRegister(stateCollector{rt}, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// factory registers vectors in one registry.
type factory struct{ reg *prometheus.Registry }

func (f factory) gauge(name, help string, labels ...string) *prometheus.GaugeVec {
	v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	f.reg.MustRegister(v)
	return v
}

func (f factory) counter(name, help string, labels ...string) *prometheus.CounterVec {
	v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	f.reg.MustRegister(v)
	return v
}

// Metrics is the process's registry, for the admin API's /metrics.
func (rt *Runtime) Metrics() prometheus.Gatherer { return rt.metrics.reg }

// countReceive counts the connections a Receive connector's listener
// accepts, and how many are open.
func (m *metrics) countReceive(ln net.Listener, server, connector string) net.Listener {
	return &countingListener{Listener: ln, current: m.recvCurrent.WithLabelValues(server, connector), total: m.recvTotal.WithLabelValues(server, connector)}
}

// countSend counts the connections a server's SMTP delivery agent opens.
func (m *metrics) countSend(dial func(ctx context.Context, network, addr string) (net.Conn, error), server string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	current, total := m.sendCurrent.WithLabelValues(server), m.sendTotal.WithLabelValues(server)
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		total.Inc()
		current.Inc()
		return &countedConn{Conn: c, current: current}, nil
	}
}

// trackingEvent counts the message tracking events that are Exchange's
// queue counters: RECEIVE (submitted), SEND and DELIVER (completed).
func (m *metrics) trackingEvent(server string) func(*transport.TrackingEvent) {
	return func(e *transport.TrackingEvent) {
		switch e.EventID {
		case transport.EventReceive:
			m.submitted.WithLabelValues(server, e.ConnectorID).Inc()
		case transport.EventSend, transport.EventDeliver:
			m.delivered.WithLabelValues(server, e.ConnectorID, e.EventID).Inc()
		}
	}
}

// probed records probe results as the last result per flow.
func (m *metrics) probed(results []probe.Result, now time.Time) {
	for _, r := range results {
		m.probePass.DeletePartialMatch(prometheus.Labels{"flow": r.Flow.ID})
		pass := 0.0
		if r.Pass {
			pass = 1
		}
		outcome := string(r.Outcome)
		if outcome == "" {
			outcome = "error"
		}
		m.probePass.WithLabelValues(r.Flow.ID, r.Flow.Source, r.Flow.Dest, strconv.Itoa(r.Flow.BasePort), outcome).Set(pass)
		m.probeRunTime.WithLabelValues(r.Flow.ID).Set(float64(now.UnixNano()) / 1e9)
	}
}

type countingListener struct {
	net.Listener
	current prometheus.Gauge
	total   prometheus.Counter
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.total.Inc()
	l.current.Inc()
	return &countedConn{Conn: c, current: l.current}, nil
}

// countedConn takes itself off the current count once, on Close.
type countedConn struct {
	net.Conn
	current prometheus.Gauge
	once    sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(c.current.Dec)
	return c.Conn.Close()
}

// Unwrap gives the connection underneath, for code that asks a
// connection for its TCP details.
func (c *countedConn) Unwrap() net.Conn { return c.Conn }
