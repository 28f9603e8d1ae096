package roles

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

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

// receiveConnector starts one smtpd Receive connector on listener l.
func (s *Server) receiveConnector(l topology.Listener, b smtpd.Backend, o smtpd.Options) error {
	ln, err := s.listen(l)
	if err != nil || ln == nil {
		return err
	}
	o.Hostname = s.Config.FQDN
	o.TLSConfig = s.rt.ca.ServerTLS(s.cert)
	o.ConnectorName = s.Config.Name + `\` + l.Name
	o.Logger = s.log.With("listener", l.Name)
	o.Now = s.rt.o.Now
	srv := smtpd.NewServer(b, o)
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
		Dial:     s.dialer.DialContext,
		Resolver: s.resolver(),
		ExchangeTLS: func(serverName string) *tls.Config {
			return s.clientTLS(serverName)
		},
		Log:             sendLog,
		ConnectorPrefix: s.Config.Name + `\`,
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

// envelope collects a transaction's sender and recipients.
type envelope struct {
	from  string
	mail  *smtpd.MailOptions
	rcpts []transport.Recipient
}

func (e *envelope) reset() { *e = envelope{} }

func (e *envelope) addRcpt(to string, o *smtpd.RcptOptions) {
	r := transport.Recipient{Address: to}
	if o != nil {
		if n := o.Notify.String(); n != "" {
			r.Notify = strings.Split(n, ",")
		}
		if o.ORCPT != "" {
			r.ORCPT = o.ORCPTType + ";" + o.ORCPT
		}
	}
	e.rcpts = append(e.rcpts, r)
}

func (e *envelope) addresses() []string {
	out := make([]string, len(e.rcpts))
	for i, r := range e.rcpts {
		out[i] = r.Address
	}
	return out
}

// readMessage reads the DATA stream; a size-limit error from smtpd is
// returned as is, so the connector answers with Exchange's reply.
func readMessage(r io.Reader) ([]byte, error) {
	buf := bufPool.Get().(*[]byte)
	b := (*buf)[:0]
	defer func() {
		*buf = b[:0]
		bufPool.Put(buf)
	}()
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return append([]byte(nil), b...), nil
		}
		if err != nil {
			return nil, err
		}
	}
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// hostPort splits a net.Addr into its IP string.
func ipOf(a net.Addr) string {
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr().Unmap().String()
	}
	h, _, _ := net.SplitHostPort(a.String())
	return h
}

// newNetworkID returns a Network-Message-Id.
func newNetworkID() string { return uuid.NewString() }

// newMessageID makes a Message-Id for a message that arrived without one,
// as Exchange does (<guid>@<server fqdn>).
func newMessageID(fqdn string) string {
	return fmt.Sprintf("<%s@%s>", strings.ToUpper(uuid.NewString()), fqdn)
}

// hopCount counts the Received fields, Exchange's loop detector.
func hopCount(m message) int { return m.count("Received") }

// maxHopCount is Set-TransportConfig's MaxHopCount (a real server's
// Get-ReceiveConnector reports 60; EXCHANGE.md section 2).
const maxHopCount = 60
