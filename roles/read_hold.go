package roles

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/exsim/exsim/internal/control"
	"github.com/exsim/exsim/internal/dcerpc"
	"github.com/exsim/exsim/internal/easclient"
	"github.com/exsim/exsim/internal/nspi"
	"github.com/exsim/exsim/internal/rpchclient"
	"github.com/exsim/exsim/topology"
)

// holdPingHeartbeat is the HeartbeatInterval of the held Ping: a phone's
// usual 480 s (MS-ASCMD 2.2.3.84.2 leaves it to the client; Exchange
// accepts 60 to 3540), longer than any hold a scenario gives.
const holdPingHeartbeat = 480

// readEASPing is an ActiveSync device waiting for mail: Provision and
// FolderSync, then a Ping on the Inbox held for req.Hold. A Ping that
// ends with a network error first is reported in Cut (a proxy's idle
// timeout); one answered (mail arrived) lasted.
func readEASPing(ctx context.Context, src *Server, dst *topology.Server, port int, tlsConf *tls.Config, req control.ReadRequest) (control.ReadResponse, error) {
	res := control.ReadResponse{Subjects: []string{}}
	if err := checkHold("activesync-ping", req.Hold); err != nil {
		return res, err
	}
	c := &easclient.Client{URL: fmt.Sprintf("https://%s:%d/Microsoft-Server-ActiveSync", dst.FQDN, port),
		User: req.User, Password: req.Password, DeviceID: "ExsimHold0001", DeviceType: "exsimScenario",
		HTTP: &http.Client{Transport: webTransport(src, dst, port, tlsConf)}}
	if _, err := c.FolderSync(ctx); err != nil { // provisions on the way
		return res, err
	}
	inbox, ok := c.FolderOfType(easclient.TypeInbox)
	if !ok {
		return res, errors.New("activesync: FolderSync returned no Inbox")
	}
	start := time.Now()
	ended := make(chan error, 1)
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		_, _, err := c.Ping(pctx, holdPingHeartbeat, "Email", inbox.ServerID)
		var he *easclient.HTTPError
		var se *easclient.StatusError
		if errors.As(err, &he) || errors.As(err, &se) {
			err = &refusedError{err} // an answer, not a cut
		}
		ended <- err
	}()
	cut, err := held(ctx, req.Hold, start, ended)
	if err != nil {
		return res, err
	}
	res.Cut = cut
	res.Detail = fmt.Sprintf("ActiveSync Ping (HeartbeatInterval %d s) on %s as %s held open for %s", holdPingHeartbeat, c.URL, req.User, req.Hold)
	if cut != "" {
		res.Detail = fmt.Sprintf("ActiveSync Ping on %s as %s ended before %s: %s", c.URL, req.User, req.Hold, cut)
	}
	return res, nil
}

// readRPCHTTP is Outlook Anywhere idle between calls: the RPC_IN_DATA and
// RPC_OUT_DATA channels of a virtual connection to the address book,
// NSPI bound, then the connection held for req.Hold. Channels that end
// first are reported in Cut.
func readRPCHTTP(ctx context.Context, src *Server, dst *topology.Server, port int, tlsConf *tls.Config, req control.ReadRequest) (control.ReadResponse, error) {
	res := control.ReadResponse{Subjects: []string{}}
	if err := checkHold("rpc-http", req.Hold); err != nil {
		return res, err
	}
	host := net.JoinHostPort(dst.FQDN, fmt.Sprint(port))
	c, err := rpchclient.Dial(ctx, rpchclient.Options{
		Dial: func(ctx context.Context) (net.Conn, error) {
			conn, err := dialFrom(ctx, src, dst, port)
			if err != nil {
				return nil, err
			}
			tc := tls.Client(conn, tlsConf)
			if err := tc.HandshakeContext(ctx); err != nil {
				conn.Close()
				return nil, err
			}
			return tc, nil
		},
		Host: host, Server: dst.FQDN, Port: 6004, User: req.User, Password: req.Password,
	})
	if err != nil {
		return res, err
	}
	defer c.Close()
	if err := c.Bind(ctx, dcerpc.UUIDBytes(nspi.InterfaceUUID), 56, 0); err != nil {
		return res, err
	}
	h, err := nspi.Bind(ctx, c)
	if err != nil {
		return res, err
	}
	start := time.Now()
	ended := make(chan error, 1)
	go func() { ended <- c.Hold(ctx, req.Hold+time.Second) }()
	cut, err := held(ctx, req.Hold, start, ended)
	if err != nil {
		return res, err
	}
	res.Cut = cut
	if cut != "" {
		res.Detail = fmt.Sprintf("RPC over HTTP channels to %s (NSPI bound as %s) ended before %s: %s", host, req.User, req.Hold, cut)
		return res, nil
	}
	<-ended // the OUT channel is read by Hold until it returns
	if err := nspi.Unbind(ctx, c, h); err != nil {
		return res, fmt.Errorf("rpc over http: NspiUnbind after the hold: %w", err)
	}
	res.Detail = fmt.Sprintf("RPC over HTTP channels to %s (NSPI bound as %s) held open for %s, NspiUnbind answered after it", host, req.User, req.Hold)
	return res, nil
}
