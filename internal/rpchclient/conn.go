package rpchclient

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/exsim/exsim/internal/dcerpc"
)

// receiveWindow is the OUT channel's receive window the client offers
// in CONN/A1 (Windows offers 64 KB).
const receiveWindow = 65536

// Conn is a virtual connection and the DCE/RPC association over it. Its
// calls run one at a time.
type Conn struct {
	o       Options
	in, out *channel
	outBody io.Reader
	// Set by CONN/A3 and CONN/C2.
	ConnectionTimeout time.Duration
	outCookie         [16]byte

	mu       sync.Mutex
	inErr    error // the IN channel's early answer (a refusal)
	received uint32
	acked    uint32
	callID   uint32
	maxXmit  int
	Account  string // set by Bind: the user the bind authenticated
}

// Dial opens the IN and OUT channels and waits for CONN/C2: the virtual
// connection is then ready for Bind.
func Dial(ctx context.Context, o Options) (*Conn, error) {
	c := &Conn{o: o, maxXmit: 4280}
	var vc, inCookie, assoc [16]byte
	for _, b := range [][]byte{vc[:], inCookie[:], c.outCookie[:], assoc[:]} {
		rand.Read(b)
	}
	inConn, err := o.Dial(ctx)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { inConn.Close() })
	defer stop()
	b1 := dcerpc.BuildRTS(dcerpc.RTSFlagNone, cmd(dcerpc.RTSVersion, 1), cookieCmd(dcerpc.RTSCookie, vc), cookieCmd(dcerpc.RTSCookie, inCookie),
		cmd(dcerpc.RTSChannelLifetime, channelLifetime), cmd(dcerpc.RTSClientKeepalive, 300000), cookieCmd(dcerpc.RTSAssociationGroup, assoc))
	if c.in, err = openChannel(inConn, &o, "RPC_IN_DATA", o.target(), channelLifetime, b1); err != nil {
		inConn.Close()
		return nil, err
	}
	go c.watchIn()
	outConn, err := o.Dial(ctx)
	if err != nil {
		c.in.conn.Close()
		return nil, err
	}
	stopOut := context.AfterFunc(ctx, func() { outConn.Close() })
	defer stopOut()
	a1 := dcerpc.BuildRTS(dcerpc.RTSFlagNone, cmd(dcerpc.RTSVersion, 1), cookieCmd(dcerpc.RTSCookie, vc), cookieCmd(dcerpc.RTSCookie, c.outCookie),
		cmd(dcerpc.RTSReceiveWindowSize, receiveWindow))
	out, err := openChannel(outConn, &o, "RPC_OUT_DATA", o.target(), len(a1), a1)
	if err != nil {
		c.Close()
		outConn.Close()
		return nil, c.firstErr(err)
	}
	c.mu.Lock()
	c.out = out
	c.mu.Unlock()
	resp, err := c.out.readResponse("RPC_OUT_DATA")
	if err == nil && resp.StatusCode != http.StatusOK {
		err = &ChannelError{Method: "RPC_OUT_DATA", Status: resp.Status, Auth: resp.Header.Values("WWW-Authenticate")}
	}
	if err != nil {
		c.Close()
		return nil, c.firstErr(err)
	}
	c.outBody = resp.Body
	if err := c.handshake(); err != nil {
		c.Close()
		return nil, c.firstErr(err)
	}
	return c, nil
}

// watchIn reads the IN channel's answer: the proxy answers only to refuse
// or end the channel.
func (c *Conn) watchIn() {
	resp, err := c.in.readResponse("RPC_IN_DATA")
	if err == nil {
		resp.Body.Close()
		err = &ChannelError{Method: "RPC_IN_DATA", Status: resp.Status, Auth: resp.Header.Values("WWW-Authenticate")}
	}
	c.mu.Lock()
	c.inErr = err
	out := c.out
	c.mu.Unlock()
	if out != nil {
		out.conn.Close()
	}
}

// firstErr prefers the IN channel's refusal, which explains why the OUT
// channel ended.
func (c *Conn) firstErr(err error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ce *ChannelError
	if errors.As(c.inErr, &ce) {
		return c.inErr
	}
	return err
}

// handshake reads CONN/A3 and CONN/C2 (MS-RPCH section 3.2.2.5.6).
func (c *Conn) handshake() error {
	a3, err := c.readRTS("CONN/A3")
	if err != nil {
		return err
	}
	if ms, ok := a3.Value(dcerpc.RTSConnectionTimeout); ok {
		c.ConnectionTimeout = time.Duration(ms) * time.Millisecond
	} else {
		return errors.New("rpchclient: CONN/A3 without ConnectionTimeout")
	}
	c2, err := c.readRTS("CONN/C2")
	if err != nil {
		return err
	}
	if _, ok := c2.Value(dcerpc.RTSReceiveWindowSize); !ok {
		return errors.New("rpchclient: CONN/C2 without ReceiveWindowSize")
	}
	return nil
}

// readRTS reads the next RTS PDU of the OUT channel that is not a PING.
func (c *Conn) readRTS(name string) (dcerpc.RTS, error) {
	for {
		pdu, err := dcerpc.ReadPDU(c.outBody)
		if err != nil {
			return dcerpc.RTS{}, fmt.Errorf("rpchclient: waiting for %s: %w", name, err)
		}
		p, err := dcerpc.ParseRTS(pdu)
		if err != nil {
			return dcerpc.RTS{}, fmt.Errorf("rpchclient: waiting for %s: %w", name, err)
		}
		if p.Flags&dcerpc.RTSFlagPing == 0 {
			return p, nil
		}
	}
}

// next reads the next RPC PDU of the OUT channel; RTS PDUs (PINGs, the
// proxy's flow control) are consumed on the way. It acknowledges what it
// read when half the receive window is used (MS-RPCH section 3.2.2.4.2).
func (c *Conn) next() ([]byte, error) {
	for {
		pdu, err := dcerpc.ReadPDU(c.outBody)
		if err != nil {
			return nil, c.firstErr(fmt.Errorf("rpchclient: OUT channel: %w", err))
		}
		if dcerpc.Type(pdu) == dcerpc.PtypeRTS {
			if _, err := dcerpc.ParseRTS(pdu); err != nil {
				return nil, err
			}
			continue
		}
		c.received += uint32(len(pdu))
		if c.received-c.acked > receiveWindow/2 {
			c.acked = c.received
			ack := dcerpc.BuildRTS(dcerpc.RTSFlagOtherCmd, cmd(dcerpc.RTSDestination, dcerpc.RTSFDOutProxy), ackCmd(c.received, receiveWindow, c.outCookie))
			if err := c.send(ack); err != nil {
				return nil, err
			}
		}
		return pdu, nil
	}
}

// send writes PDUs on the IN channel.
func (c *Conn) send(pdus ...[]byte) error {
	for _, p := range pdus {
		if _, err := c.in.conn.Write(p); err != nil {
			return c.firstErr(fmt.Errorf("rpchclient: IN channel: %w", err))
		}
	}
	return nil
}

// Hold waits d on the idle virtual connection, as Outlook does between
// calls, reading the OUT channel's PINGs. It returns nil when the
// connection lasted, or why it ended (an idle timeout on the way).
func (c *Conn) Hold(ctx context.Context, d time.Duration) error {
	deadline := time.Now().Add(d)
	c.out.conn.SetReadDeadline(deadline)
	defer c.out.conn.SetReadDeadline(time.Time{})
	stop := context.AfterFunc(ctx, func() { c.out.conn.SetReadDeadline(time.Now()) })
	defer stop()
	for {
		pdu, err := dcerpc.ReadPDU(c.outBody)
		if err != nil {
			if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() && !time.Now().Before(deadline) {
				return nil
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return c.firstErr(fmt.Errorf("rpchclient: OUT channel ended: %w", err))
		}
		if dcerpc.Type(pdu) != dcerpc.PtypeRTS {
			return fmt.Errorf("rpchclient: unexpected PDU type %d on an idle connection", dcerpc.Type(pdu))
		}
	}
}

// Close ends both channels.
func (c *Conn) Close() error {
	c.mu.Lock()
	out := c.out
	c.mu.Unlock()
	if c.in != nil {
		c.in.conn.Close()
	}
	if out != nil {
		out.conn.Close()
	}
	return nil
}

func le32(b []byte) uint32 { return binary.LittleEndian.Uint32(b) }
