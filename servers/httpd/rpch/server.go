// Package rpch is the RPC over HTTP v2 (MS-RPCH) server of Outlook
// Anywhere: it pairs an RPC_IN_DATA and an RPC_OUT_DATA request into a
// virtual connection by their cookies (CONN/A1 on the OUT channel, CONN/B1
// on the IN channel), answers CONN/A3 and CONN/C2, and then carries the
// DCE/RPC PDUs of one association: the client's arrive in the IN
// request's body, the server's leave in the OUT response's body, with
// flow control acknowledgements and keep-alive pings.
//
// exsim plays the RPC proxy and the RPC server in one (Exchange 2013 and
// later do the same through RpcProxyShim), so the inbound and outbound
// proxy roles of MS-RPCH collapse into the handlers here. Channel
// recycling (IN_R1/OUT_R1) is not implemented: a channel ends when its
// lifetime is used up, and the client must reconnect.
package rpch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/exsim/exsim/internal/dcerpc"
)

// Defaults (MS-RPCH section 3.2.3.3 and 3.2.5.3 and Exchange's RPC proxy).
const (
	// ChannelLifetime is the Content-Length of the channels, as the RPC
	// proxy of IIS sends it: 1 GB.
	ChannelLifetime = 1 << 30
	// DefaultConnectionTimeout is CONN/A3's ConnectionTimeout: 120 s.
	DefaultConnectionTimeout = 120 * time.Second
	// receiveWindow is the IN channel's receive window (CONN/C2).
	receiveWindow = 65536
	// pairTimeout bounds the wait for the other channel of a virtual
	// connection.
	pairTimeout = 30 * time.Second
)

// Options configure a Server.
type Options struct {
	// NewConn returns the DCE/RPC association of a new virtual
	// connection. port is the RPC server port of the request's query
	// (/rpc/rpcproxy.dll?server:6004).
	NewConn func(port int) *dcerpc.Conn
	// ConnectionTimeout is sent in CONN/A3; the OUT channel sends a PING
	// when it has sent nothing for half of it. Zero: 120 s.
	ConnectionTimeout time.Duration
	Logger            *slog.Logger
}

// Server pairs channels into virtual connections.
type Server struct {
	o   Options
	mu  sync.Mutex
	vcs map[[16]byte]*vconn
}

// NewServer returns a Server.
func NewServer(o Options) *Server {
	if o.ConnectionTimeout <= 0 {
		o.ConnectionTimeout = DefaultConnectionTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Server{o: o, vcs: map[[16]byte]*vconn{}}
}

// vconn is a virtual connection: one IN and one OUT channel.
type vconn struct {
	cookie     [16]byte
	out        chan []byte   // PDUs for the OUT channel
	inReady    chan struct{} // closed when CONN/B1 arrived
	outReady   chan struct{} // closed when CONN/A1 arrived
	done       chan struct{} // closed when either channel ends
	inCookie   [16]byte
	once, inOk sync.Once
	outOk      sync.Once
	// Flow control of the OUT channel (MS-RPCH section 3.2.1.1.4): the
	// client's window (CONN/A1, then each FlowControlAck) and how much of
	// what was sent it has acknowledged.
	mu           sync.Mutex
	window, acks uint32
	sent         uint32
	acked        chan struct{} // signalled on each acknowledgement
}

// ack records a FlowControlAck of the client (its bytes received and
// available window).
func (vc *vconn) ack(received, window uint32) {
	vc.mu.Lock()
	vc.acks, vc.window = received, window
	vc.mu.Unlock()
	select {
	case vc.acked <- struct{}{}:
	default:
	}
}

// fits reports whether n more bytes of RPC PDUs fit the client's window.
func (vc *vconn) fits(n int) bool {
	vc.mu.Lock()
	defer vc.mu.Unlock()
	return int64(vc.sent-vc.acks)+int64(n) <= int64(vc.window)
}

func (vc *vconn) sentBytes(n int) {
	vc.mu.Lock()
	vc.sent += uint32(n)
	vc.mu.Unlock()
}

func (s *Server) get(cookie [16]byte) *vconn {
	s.mu.Lock()
	defer s.mu.Unlock()
	vc := s.vcs[cookie]
	if vc == nil {
		vc = &vconn{cookie: cookie, out: make(chan []byte, 64), inReady: make(chan struct{}), outReady: make(chan struct{}), done: make(chan struct{}), acked: make(chan struct{}, 1)}
		s.vcs[cookie] = vc
	}
	return vc
}

func (s *Server) end(vc *vconn) {
	vc.once.Do(func() {
		close(vc.done)
		s.mu.Lock()
		delete(s.vcs, vc.cookie)
		s.mu.Unlock()
	})
}

// wait waits for ch, the end of the virtual connection, ctx or the pairing timeout.
func (vc *vconn) wait(ctx context.Context, ch chan struct{}) error {
	t := time.NewTimer(pairTimeout)
	defer t.Stop()
	select {
	case <-ch:
		return nil
	case <-vc.done:
		return errors.New("rpch: virtual connection closed")
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return errors.New("rpch: the other channel did not arrive")
	}
}

// ServeOut serves an authenticated RPC_OUT_DATA request (MS-RPCH section
// 3.2.5.5.3): CONN/A1 in, 200 with CONN/A3 and, once the IN channel is
// there, CONN/C2, then the server's PDUs until the connection ends.
func (s *Server) ServeOut(w http.ResponseWriter, r *http.Request) {
	pdu, err := dcerpc.ReadPDU(io.LimitReader(r.Body, 1024))
	if err != nil {
		s.badRequest(w, "CONN/A1", err)
		return
	}
	a1, err := dcerpc.ParseRTS(pdu)
	if err == nil {
		err = a1.Expect("CONN/A1", dcerpc.RTSVersion, dcerpc.RTSCookie, dcerpc.RTSCookie, dcerpc.RTSReceiveWindowSize)
	}
	if err != nil {
		s.badRequest(w, "CONN/A1", err)
		return
	}
	vc := s.get(a1.Cmds[1].Cookie)
	defer s.end(vc)
	vc.mu.Lock()
	vc.window = a1.Cmds[3].Value
	vc.mu.Unlock()
	vc.outOk.Do(func() { close(vc.outReady) })
	h := w.Header()
	h.Set("Content-Type", "application/rpc")
	h.Set("Content-Length", strconv.Itoa(ChannelLifetime))
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	send := func(p []byte) error {
		if _, err := w.Write(p); err != nil {
			return err
		}
		return rc.Flush()
	}
	timeout := uint32(s.o.ConnectionTimeout / time.Millisecond)
	if send(dcerpc.BuildRTS(dcerpc.RTSFlagNone, dcerpc.RTSCommand{Type: dcerpc.RTSConnectionTimeout, Value: timeout})) != nil {
		return
	}
	if err := vc.wait(r.Context(), vc.inReady); err != nil {
		s.o.Logger.Info("rpc over http: OUT channel not paired", "err", err)
		return
	}
	c2 := dcerpc.BuildRTS(dcerpc.RTSFlagNone, dcerpc.RTSCommand{Type: dcerpc.RTSVersion, Value: 1}, dcerpc.RTSCommand{Type: dcerpc.RTSReceiveWindowSize, Value: receiveWindow},
		dcerpc.RTSCommand{Type: dcerpc.RTSConnectionTimeout, Value: timeout})
	if send(c2) != nil {
		return
	}
	ping := time.NewTicker(s.o.ConnectionTimeout / 2)
	defer ping.Stop()
	sent := len(c2)
	var pending []byte // a PDU waiting for room in the client's window
	for {
		// RPC PDUs wait for room in the client's receive window; RTS PDUs
		// are not flow controlled.
		if pending != nil && (dcerpc.Type(pending) == dcerpc.PtypeRTS || vc.fits(len(pending))) {
			if dcerpc.Type(pending) != dcerpc.PtypeRTS {
				vc.sentBytes(len(pending))
			}
			if sent+len(pending) > ChannelLifetime {
				s.o.Logger.Info("rpc over http: OUT channel lifetime used up; recycling not simulated")
				return
			}
			if send(pending) != nil {
				return
			}
			sent += len(pending)
			pending = nil
			ping.Reset(s.o.ConnectionTimeout / 2)
			continue
		}
		in := vc.out
		if pending != nil {
			in = nil
		}
		select {
		case pending = <-in:
		case <-vc.acked:
		case <-ping.C:
			// A PING RTS PDU keeps proxies from closing an idle channel
			// (MS-RPCH section 2.2.4.49 and 3.2.3.5.3).
			if send(dcerpc.BuildRTS(dcerpc.RTSFlagPing)) != nil {
				return
			}
		case <-vc.done:
			return
		case <-r.Context().Done():
			return
		}
	}
}

// ServeIn serves an authenticated RPC_IN_DATA request (MS-RPCH section
// 3.2.5.5.2): CONN/B1, then the client's PDUs for the association.
func (s *Server) ServeIn(w http.ResponseWriter, r *http.Request, port int) {
	body := io.LimitReader(r.Body, ChannelLifetime)
	pdu, err := dcerpc.ReadPDU(body)
	if err != nil {
		s.badRequest(w, "CONN/B1", err)
		return
	}
	b1, err := dcerpc.ParseRTS(pdu)
	if err == nil {
		err = b1.Expect("CONN/B1", dcerpc.RTSVersion, dcerpc.RTSCookie, dcerpc.RTSCookie, dcerpc.RTSChannelLifetime, dcerpc.RTSClientKeepalive, dcerpc.RTSAssociationGroup)
	}
	if err != nil {
		s.badRequest(w, "CONN/B1", err)
		return
	}
	vc := s.get(b1.Cmds[1].Cookie)
	defer s.end(vc)
	vc.inCookie = b1.Cmds[2].Cookie
	vc.inOk.Do(func() { close(vc.inReady) })
	if err := vc.wait(r.Context(), vc.outReady); err != nil {
		s.o.Logger.Info("rpc over http: IN channel not paired", "err", err)
		return
	}
	conn := s.o.NewConn(port)
	var received, acked uint32
	for {
		pdu, err := dcerpc.ReadPDU(body)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				s.o.Logger.Info("rpc over http: IN channel ended", "err", err)
			}
			return
		}
		if dcerpc.Type(pdu) == dcerpc.PtypeRTS {
			// Flow control acknowledgements of the OUT channel open the
			// client's window; pings and PingTrafficSentNotify need no
			// answer from the server.
			p, err := dcerpc.ParseRTS(pdu)
			if err != nil {
				s.o.Logger.Info("rpc over http: bad RTS PDU", "err", err)
				return
			}
			for _, c := range p.Cmds {
				if c.Type == dcerpc.RTSFlowControlAck {
					vc.ack(c.Bytes, c.Value)
				}
			}
			continue
		}
		received += uint32(len(pdu))
		out, err := conn.Handle(r.Context(), pdu)
		if err != nil {
			s.o.Logger.Info("rpc over http: association ended", "err", err)
			return
		}
		if received-acked >= receiveWindow/2 {
			// FlowControlAck (MS-RPCH section 2.2.4.50, 3.2.5.5.4): the
			// server has consumed what the client sent.
			acked = received
			out = append(out, dcerpc.BuildRTS(dcerpc.RTSFlagOtherCmd, dcerpc.RTSCommand{Type: dcerpc.RTSFlowControlAck, Bytes: received, Value: receiveWindow, Cookie: vc.inCookie}))
		}
		for _, p := range out {
			select {
			case vc.out <- p:
			case <-vc.done:
				return
			case <-r.Context().Done():
				return
			}
		}
	}
}

func (s *Server) badRequest(w http.ResponseWriter, what string, err error) {
	s.o.Logger.Info("rpc over http: bad "+what, "err", err)
	http.Error(w, fmt.Sprintf("RPC over HTTP: bad %s", what), http.StatusBadRequest)
}
