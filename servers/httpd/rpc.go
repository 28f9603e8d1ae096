package httpd

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/exsim/exsim/internal/dcerpc"
	"github.com/exsim/exsim/internal/nspi"
	"github.com/exsim/exsim/servers/httpd/rpch"
)

// The RPC server ports Exchange 2013 and later accept behind
// /rpc/rpcproxy.dll (RpcProxyShim): 6001 for the mailbox (MS-OXCRPC), 6002
// and 6004 for the address book (MS-OXABREF, MS-OXNSPI). impacket's
// exchanger.py documents the same split; Microsoft publishes no list.
const (
	rpcPortMailbox     = 6001
	rpcPortReferral    = 6002
	rpcPortAddressBook = 6004
)

// newAddressBook is the NSPI address book over the Backend's Global
// Address List, served over RPC/HTTP and MAPI/HTTP.
func newAddressBook(b Backend, c *config) *nspi.Server {
	return nspi.NewServer(func(ctx context.Context) ([]nspi.Entry, error) { return addressBook(ctx, b, c) })
}

// newRPCServer is Outlook Anywhere's RPC over HTTP v2 endpoint: EMSMDB
// on 6001 (emsmdb), NSPI on 6002 and 6004, bound with NTLM
// (Options.RPCAuth).
func newRPCServer(book *nspi.Server, emsmdb dcerpc.Interface, c *config) *rpch.Server {
	return rpch.NewServer(rpch.Options{
		ConnectionTimeout: c.RPCConnectionTimeout,
		Logger:            c.log.With("server", c.ServerName, "proto", "rpc"),
		NewConn: func(port int) *dcerpc.Conn {
			o := dcerpc.Options{NTLM: c.RPCAuth, SecondaryAddress: strconv.Itoa(port), AssocGroup: 0x1a2b}
			o.Interfaces = []dcerpc.Interface{book.Interface()}
			if port == rpcPortMailbox {
				o.Interfaces = []dcerpc.Interface{emsmdb}
			}
			return dcerpc.NewConn(o)
		},
	})
}

// serveRPC is Outlook Anywhere (RPC over HTTP v2, MS-RPCH). Its virtual
// directory is the one that does not require SSL (EXCHANGE.md section 6).
// The query names the RPC server and port: /rpc/rpcproxy.dll?ex01:6004.
func (h *Handler) serveRPC(w http.ResponseWriter, r *http.Request, rest string, log *slog.Logger) {
	u := h.authenticateAt(w, r, h.cfg.vdirRPC(), log, rest, "/rpcproxy.dll")
	if u == nil {
		return
	}
	if !allow(w, r, h.cfg, "RPC_IN_DATA", "RPC_OUT_DATA") {
		return
	}
	port := 0
	if i := strings.LastIndexByte(r.URL.RawQuery, ':'); i >= 0 {
		port, _ = strconv.Atoi(r.URL.RawQuery[i+1:])
	}
	if port < rpcPortMailbox || port > rpcPortAddressBook || port == 6003 {
		// RpcProxyShim refuses other endpoints; IIS's RPC proxy answers
		// "503 RPC Error" when it cannot reach the RPC server (the
		// reason phrase impacket checks for).
		log.Info("rpc over http: endpoint refused", "query", r.URL.RawQuery, "code", http.StatusServiceUnavailable)
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	log.Info("rpc over http channel", "method", r.Method, "rcpt", u.Address, "port", port)
	if r.Method == "RPC_IN_DATA" {
		h.rpc.ServeIn(w, r, port)
		return
	}
	h.rpc.ServeOut(w, r)
}
