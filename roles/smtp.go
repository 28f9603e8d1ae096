package roles

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"path/filepath"
	"time"

	"github.com/exsim/exsim/internal/labnet"
	"github.com/exsim/exsim/servers/smtpd"
	"github.com/exsim/exsim/topology"
	"github.com/exsim/exsim/transport"
)

// protoLog adapts a transport.ProtocolLog to smtpd's protocol-log events.
type protoLog struct{ l *transport.ProtocolLog }

func (p protoLog) Log(e smtpd.ProtocolEvent) {
	p.l.Write(transport.ProtocolLine{Time: e.Time, Connector: e.Connector, Session: e.SessionID, Seq: e.Sequence, Local: e.Local, Remote: e.Remote, Event: string(rune(e.Event)), Data: e.Data, Context: e.Context})
}

// transportLogs are a server's SMTP logs under TransportRoles/Logs
// (EXCHANGE.md section 4; SPEC section 3).
type transportLogs struct {
	tracking *transport.TrackingLog
	recv     map[string]*transport.ProtocolLog // by service: FrontEnd, Hub, Mailbox, Edge
	send     map[string]*transport.ProtocolLog
}

func openTransportLogs(s *Server, services ...string) (*transportLogs, error) {
	base := filepath.Join(s.dir, "TransportRoles", "Logs")
	tl, err := transport.NewTrackingLog(filepath.Join(base, "MessageTracking"), s.Config.Name, s.rt.o.Topology.BuildNumber(), s.rt.o.Now)
	if err != nil {
		return nil, err
	}
	tl.Observe = s.rt.metrics.trackingEvent(s.Config.Name)
	logs := &transportLogs{tracking: tl, recv: map[string]*transport.ProtocolLog{}, send: map[string]*transport.ProtocolLog{}}
	s.onClose(func(context.Context) error { return tl.Close() })
	for _, svc := range services {
		for kind, m := range map[transport.ProtocolLogKind]map[string]*transport.ProtocolLog{transport.ProtocolReceive: logs.recv, transport.ProtocolSend: logs.send} {
			pl, err := transport.NewProtocolLog(filepath.Join(base, svc, "ProtocolLog", string(kind)), kind, s.rt.o.Now)
			if err != nil {
				return nil, err
			}
			m[svc] = pl
			s.onClose(func(context.Context) error { return pl.Close() })
		}
	}
	return logs, nil
}

// receiveConnector starts one smtpd Receive connector on listener l. The
// connector's name travels with its ingress path (tracking connector-id);
// via ends its Received headers ("Frontend Transport", "Mailbox
// Transport" or "").
func (s *Server) receiveConnector(l topology.Listener, via string, newBackend func(*transport.Ingress) smtpd.Backend, o smtpd.Options) error {
	ln, err := s.listen(l)
	if err != nil || ln == nil {
		return err
	}
	o.Hostname = s.Config.FQDN
	o.TLSConfig = s.serverTLS(l.Kind)
	o.ConnectorName = s.Config.Name + `\` + l.Name
	ln = s.rt.metrics.countReceive(ln, s.Config.Name, o.ConnectorName)
	o.Logger = s.log.With("listener", l.Name)
	o.Now = s.rt.o.Now
	in := &transport.Ingress{
		Connector: o.ConnectorName, FQDN: s.Config.FQDN, Build: s.rt.o.Topology.BuildNumber(),
		Via: via, Now: s.rt.o.Now,
	}
	srv := smtpd.NewServer(newBackend(in), o)
	s.onClose(srv.Shutdown)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, smtpd.ErrServerClosed) {
			s.log.Error("receive connector stopped", "listener", l.Name, "err", err)
		}
	}()
	return nil
}

// limits are a connector's limits: Exchange's defaults with the
// topology's tarpit.
func limits(t topology.TimerValues, mut func(*smtpd.Limits)) smtpd.Limits {
	l := smtpd.DefaultLimits()
	l.TarpitInterval = t.TarpitInterval
	if l.TarpitInterval == 0 {
		l.TarpitInterval = -1 // smtpd: negative disables
	}
	if mut != nil {
		mut(&l)
	}
	return l
}

// resolver is the server's stub resolver: the lab DNS servers, reached
// from the server's own address.
func (s *Server) resolver() *labnet.Resolver {
	var servers []netip.AddrPort
	for _, d := range s.rt.o.Topology.ServersByRole(topology.RoleDNS) {
		servers = append(servers, s.rt.o.Topology.Endpoint(d, 53))
	}
	return &labnet.Resolver{Servers: servers, Dial: s.dialer.DialContext, Timeout: 2 * time.Second}
}

// smtpSender is the server's SMTP delivery agent.
func (s *Server) smtpSender(sendLog *transport.ProtocolLog) *transport.SMTPSender {
	return &transport.SMTPSender{
		HeloName: s.Config.FQDN,
		Dial:     s.rt.metrics.countSend(s.dialer.DialContext, s.Config.Name),
		Resolver: s.resolver(),
		ExchangeTLS: func(serverName string) *tls.Config {
			return s.clientTLS(serverName)
		},
		Log:             sendLog,
		ConnectorPrefix: s.Config.Name + `\`,
		HeaderFirewall:  s.Config.IsExchange(),
		Logger:          s.log,
	}
}

// newTransport opens a server's Transport service.
func (s *Server) newTransport(router transport.Router, logs *transportLogs, sendLog *transport.ProtocolLog, postmaster string) (*transport.Transport, error) {
	t := s.rt.o.Topology
	tr, err := transport.New(transport.Options{
		Server: s.Config.Name, FQDN: s.Config.FQDN, Address: s.Config.Addr(), DataDir: s.dir,
		Router: router, Sender: s.smtpSender(sendLog), Timers: t.Timers.For(s.Config.Role), Tracking: logs.tracking,
		Postmaster: postmaster, Logger: s.log, Now: s.rt.o.Now,
	})
	if err != nil {
		return nil, err
	}
	tr.Start()
	s.onClose(func(context.Context) error { return tr.Close() })
	return tr, nil
}

// exchangePostmaster is the From of Exchange's NDRs.
func exchangePostmaster(t *topology.Topology) string {
	return "MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@" + t.DefaultDomain()
}

// ipOf is a net.Addr's IP, without the port.
func ipOf(a net.Addr) string {
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr().Unmap().String()
	}
	h, _, _ := net.SplitHostPort(a.String())
	return h
}
