package rca

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/exsim/exsim/internal/dcerpc"
	"github.com/exsim/exsim/internal/mapi"
	"github.com/exsim/exsim/internal/mapiclient"
	"github.com/exsim/exsim/internal/nspi"
	"github.com/exsim/exsim/internal/rpchclient"
)

// The RPC server ports of the mailbox and the address book behind the
// RPC proxy (Exchange 2013 and later; see servers/httpd/rpc.go).
const (
	emsmdbPort = 6001
	nspiPort   = 6004
)

// errNoDN: an Autodiscover answer without the LegacyDN the mailbox is
// connected with.
var errNoDN = errors.New("the Autodiscover answer gives no User LegacyDN to connect to the mailbox with")

// rpcHTTP is the RPC over HTTP part of the Outlook test: the two channels
// of a virtual connection to the mailbox server Autodiscover named (EXCH
// Server: the mailbox GUID at the domain), then NSPI over it: an NTLM
// bind, NspiBind, NspiUpdateStat, NspiQueryRows of the first entries and
// NspiUnbind; then EMSMDB on a second virtual connection to port 6001:
// an NTLM bind, EcDoConnectEx as the LegacyDN Autodiscover gave,
// RopLogon and the folder list in EcDoRpcExt2, EcDoDisconnect.
func rpcHTTP(r *run, w *web, server, legacyDN string) {
	if server == "" {
		server = w.host
	}
	var c *rpchclient.Conn
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	o := w.rpchOptions(server, nspiPort)
	if !r.step("RPC over HTTP: establish the RPC_IN_DATA and RPC_OUT_DATA channels", func() (string, error) {
		var err error
		if c, err = rpchclient.Dial(r.ctx, o); err != nil {
			return "", explainDial(err)
		}
		return fmt.Sprintf("virtual connection to %s:%d through %s (NTLM on both channels); CONN/A3 ConnectionTimeout %s, CONN/C2 received",
			server, nspiPort, o.Host, c.ConnectionTimeout), nil
	}) {
		return
	}
	r.step("RPC over HTTP: bind the address book (NSPI)", func() (string, error) {
		if err := c.Bind(r.ctx, dcerpc.UUIDBytes(nspi.InterfaceUUID), 56, 0); err != nil {
			return "", err
		}
		h, err := nspi.Bind(r.ctx, c)
		if err != nil {
			return "NTLM bind as " + r.o.User, err
		}
		st, err := nspi.UpdateStat(r.ctx, c, h)
		if err != nil {
			return "NspiBind", err
		}
		rows, err := nspi.QueryRows(r.ctx, c, h, 3, nspi.TagDisplayName, nspi.TagSMTPAddress)
		if err != nil {
			return "NspiBind, NspiUpdateStat", err
		}
		first := make([]string, len(rows))
		for i, row := range rows {
			first[i] = row[0] + " <" + row[1] + ">"
		}
		if err := nspi.Unbind(r.ctx, c, h); err != nil {
			return "NspiBind, NspiUpdateStat, NspiQueryRows", err
		}
		return fmt.Sprintf("NTLM bind as %s; NspiBind; the Global Address List holds %d entries (first: %s); NspiUnbind",
			r.o.User, st.TotalRecs, strings.Join(first, ", ")), nil
	})
	r.step("RPC over HTTP: bind the mailbox (EMSMDB)", func() (string, error) {
		if legacyDN == "" {
			return "", errNoDN
		}
		mc, err := rpchclient.Dial(r.ctx, w.rpchOptions(server, emsmdbPort))
		if err != nil {
			return "", explainDial(err)
		}
		defer mc.Close()
		done := fmt.Sprintf("virtual connection to %s:%d", server, emsmdbPort)
		if err := mc.Bind(r.ctx, dcerpc.UUIDBytes(mapi.EMSMDBUUID), mapi.EMSMDBMajor, mapi.EMSMDBMinor); err != nil {
			return done, err
		}
		done += fmt.Sprintf("; NTLM bind to EMSMDB %d.%d as %s", mapi.EMSMDBMajor, mapi.EMSMDBMinor, r.o.User)
		s, err := mapiclient.DialRPC(r.ctx, mc, legacyDN)
		if err != nil {
			return done, err
		}
		done += fmt.Sprintf("; EcDoConnectEx as %q (%s); RopLogon", s.DisplayName, legacyDN)
		folders, err := s.Folders(r.ctx)
		if err != nil {
			s.Close(r.ctx)
			return done, err
		}
		done += fmt.Sprintf("; %d folders under the Top of Information Store", len(folders))
		if err := s.Close(r.ctx); err != nil {
			return done, err
		}
		return done + "; EcDoDisconnect", nil
	})
}

// rpchOptions are the RPC over HTTP options of the host: each channel is
// a connection from the position, with TLS verified against the lab CA.
func (w *web) rpchOptions(server string, port int) rpchclient.Options {
	return rpchclient.Options{
		Dial: func(ctx context.Context) (net.Conn, error) {
			conn, err := w.r.env.Dial(ctx, "tcp", net.JoinHostPort(w.addr.String(), strconv.Itoa(w.port)))
			if err != nil {
				return nil, err
			}
			tc := tls.Client(conn, &tls.Config{ServerName: w.host, RootCAs: w.r.env.Roots, MinVersion: tls.VersionTLS12})
			hctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			if err := tc.HandshakeContext(hctx); err != nil {
				conn.Close()
				return nil, err
			}
			return tc, nil
		},
		Host: w.hostport(), Server: server, Port: port, User: w.r.o.User, Password: w.r.o.Password,
	}
}
