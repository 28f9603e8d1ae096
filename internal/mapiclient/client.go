package mapiclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/exsim/exsim/internal/mapi"
)

// Config says where and as whom to connect.
type Config struct {
	// URL is the server's MAPI virtual directory, https://mail.contoso.com/mapi/
	// (a bare https://host means /mapi/ on it). The EMSMDB and NSPI
	// endpoints are emsmdb/ and nspi/ under it.
	URL string
	// User ("alice@contoso.com" or "CONTOSO\alice") and Password for NTLM.
	User, Password string
	// MailboxID, when set, goes in the endpoints' ?MailboxId= query as
	// Autodiscover hands it out (<ExchangeGuid>@<domain>).
	MailboxID string
	// EMSMDBURL and NSPIURL, when set, are the endpoints as Autodiscover
	// names them (mapiHttp MailStore and AddressBook ExternalUrl, query
	// included); they take the place of URL and MailboxID.
	EMSMDBURL, NSPIURL string
	// UserDN is the mailbox's legacyExchangeDN; empty: Dial asks the
	// address book for the DN of User's address.
	UserDN string
	// HTTP carries the requests (its Transport's TLS settings are used;
	// NTLM is added). Nil: http.DefaultClient.
	HTTP *http.Client
	// ClientApplication is X-ClientApplication; empty: an Outlook 2016
	// build string.
	ClientApplication string
	// OnPending, when set, is called for every PENDING keep-alive line
	// of an answer still being worked on.
	OnPending func(request string)
}

// Session is a connected mailbox: an NSPI binding and an EMSMDB Session
// Context with a private mailbox logon over MAPI/HTTP (Dial), or an
// EMSMDB context over DCE/RPC alone (DialRPC).
type Session struct {
	t           *transport // nil over RPC
	emsmdb      *endpoint
	nspi        *endpoint
	rpc         *rpcContext // nil over MAPI/HTTP
	DN          string      // the mailbox's legacyExchangeDN
	DisplayName string      // as Connect returned it
	// MaxPollingInterval is Connect's, the longest a client may wait
	// between requests.
	MaxPollingInterval time.Duration
	folders            [mapi.NumSpecialFolders]uint64
	logonHandle        uint32 // the server object handle of the logon
}

// Connect is Dial with a URL and credentials only.
func Connect(ctx context.Context, url, user, password string) (*Session, error) {
	return Dial(ctx, Config{URL: url, User: user, Password: password})
}

// Dial binds to the address book, finds the user's DN when it is not
// given, connects to the mailbox and logs on.
func Dial(ctx context.Context, cfg Config) (*Session, error) {
	s, err := BindAddressBook(ctx, cfg)
	if err != nil {
		return nil, err
	}
	s.DN = cfg.UserDN
	if s.DN == "" {
		addr := cfg.User
		if i := strings.IndexByte(addr, '\\'); i >= 0 {
			addr = addr[i+1:]
		}
		es, err := s.ResolveNames(ctx, addr)
		if err != nil {
			return nil, err
		}
		if es[0].DN == "" {
			return nil, fmt.Errorf("mapiclient: the address book does not resolve %q to one entry", addr)
		}
		s.DN = es[0].DN
	}
	if err := s.Logon(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// BindAddressBook is the first half of Dial: the NSPI Bind only. The
// Session can ResolveNames; Logon with its DN set connects the mailbox.
func BindAddressBook(ctx context.Context, cfg Config) (*Session, error) {
	ems, ab := cfg.EMSMDBURL, cfg.NSPIURL
	if ems == "" || ab == "" {
		base, err := baseURL(cfg.URL)
		if err != nil {
			return nil, err
		}
		q := ""
		if cfg.MailboxID != "" {
			q = "?MailboxId=" + url.QueryEscape(cfg.MailboxID)
		}
		ems, ab = base+"emsmdb/"+q, base+"nspi/"+q
	}
	s := &Session{t: newTransport(&cfg),
		emsmdb: &endpoint{url: ems, jar: map[string]string{}},
		nspi:   &endpoint{url: ab, jar: map[string]string{}}}
	if err := s.bind(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Logon is the second half of Dial: Connect to the mailbox of s.DN, then
// RopLogon.
func (s *Session) Logon(ctx context.Context) error {
	if err := s.overHTTP("Connect"); err != nil {
		return err
	}
	var cr mapi.ConnectResponse
	err := s.t.do(ctx, s.emsmdb, mapi.ReqConnect, &mapi.ConnectRequest{UserDN: s.DN, DefaultCodePage: 1252,
		LcidSort: 0x409, LcidString: 0x409}, &cr)
	if err == nil && cr.ErrorCode != mapi.Success {
		err = fmt.Errorf("mapiclient: Connect: %w", cr.ErrorCode)
	}
	if err != nil {
		return err
	}
	s.DisplayName = cr.DisplayName
	s.MaxPollingInterval = time.Duration(cr.MaxPollingInterval) * time.Millisecond
	return s.logon(ctx)
}

// overHTTP refuses a MAPI/HTTP-only request on a Session over RPC.
func (s *Session) overHTTP(req string) error {
	if s.t == nil {
		return fmt.Errorf("mapiclient: %s is a MAPI over HTTP request; this session is EMSMDB over RPC", req)
	}
	return nil
}

func baseURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return "", fmt.Errorf("mapiclient: URL %q: want https://host/mapi/", raw)
	}
	p := strings.TrimSuffix(u.Path, "/")
	if p == "" {
		p = "/mapi"
	}
	return u.Scheme + "://" + u.Host + p + "/", nil
}

// logon is RopLogon on the private mailbox of s.DN, with the open flags
// of a client on its own mailbox (per-database replica ids, home logon,
// ownership, no mail submission); it keeps the special folder ids.
func (s *Session) logon(ctx context.Context) error {
	var lr mapi.LogonResponse
	handles, err := s.execute(ctx, []mapi.ROP{&mapi.LogonRequest{LogonFlags: mapi.LogonPrivate,
		OpenFlags: mapi.OpenUsePerMDBReplIDMapping | mapi.OpenHomeLogon | mapi.OpenTakeOwnership | mapi.OpenNoMail,
		Essdn:     s.DN}},
		[]uint32{freeHandle}, []mapi.ROP{&lr})
	if err != nil {
		return err
	}
	if lr.ReturnValue != mapi.Success {
		return fmt.Errorf("mapiclient: RopLogon: %w", lr.ReturnValue)
	}
	s.folders = lr.FolderIDs
	s.logonHandle = handles[0]
	return nil
}

// freeHandle is a slot of the handle table that holds no object.
const freeHandle = 0xFFFFFFFF

// execute sends rops in one Execute (or EcDoRpcExt2 over RPC) with the
// server object handle table handles, decodes the responses into want
// and returns the table the server sent back.
func (s *Session) execute(ctx context.Context, rops []mapi.ROP, handles []uint32, want []mapi.ROP) ([]uint32, error) {
	rb, err := mapi.JoinExt((&mapi.ROPBuffer{ROPs: mapi.EncodeROPs(rops), Handles: handles}).Bytes())
	if err != nil {
		return nil, err
	}
	var out []byte
	if s.rpc != nil {
		out, err = s.rpc.rpcExt2(ctx, rb)
	} else {
		out, err = s.executeHTTP(ctx, rb)
	}
	if err != nil {
		return nil, err
	}
	p, err := mapi.SplitExt(out)
	if err != nil {
		return nil, err
	}
	buf, err := mapi.ParseROPBuffer(p)
	if err != nil {
		return nil, err
	}
	if len(buf.Handles) != len(handles) {
		return nil, fmt.Errorf("mapiclient: Execute: %d handles back for %d sent", len(buf.Handles), len(handles))
	}
	return buf.Handles, mapi.DecodeResponses(buf.ROPs, want)
}

// executeHTTP is the Execute request type. The server must not compress
// or obfuscate the answer: mapi reads plain payloads only.
func (s *Session) executeHTTP(ctx context.Context, rb []byte) ([]byte, error) {
	var er mapi.ExecuteResponse
	if err := s.t.do(ctx, s.emsmdb, mapi.ReqExecute, &mapi.ExecuteRequest{Flags: mapi.RPCNoCompression | mapi.RPCNoXorMagic,
		RopBuffer: rb, MaxRopOut: 0x10000}, &er); err != nil {
		return nil, err
	}
	if er.ErrorCode != mapi.Success {
		return nil, fmt.Errorf("mapiclient: Execute: %w", er.ErrorCode)
	}
	return er.RopBuffer, nil
}

// Ping keeps the Session Context alive (the PING request type).
func (s *Session) Ping(ctx context.Context) error {
	if err := s.overHTTP("PING"); err != nil {
		return err
	}
	return s.t.do(ctx, s.emsmdb, mapi.ReqPing, nil, nil)
}

// WaitForMail is NotificationWait: it returns true as soon as the server
// has an event for the mailbox, false when its wait ends without one.
func (s *Session) WaitForMail(ctx context.Context) (bool, error) {
	if err := s.overHTTP("NotificationWait"); err != nil {
		return false, err
	}
	var r mapi.NotificationWaitResponse
	if err := s.t.do(ctx, s.emsmdb, mapi.ReqNotificationWait, &mapi.NotificationWaitRequest{}, &r); err != nil {
		return false, err
	}
	if r.ErrorCode != mapi.Success {
		return false, fmt.Errorf("mapiclient: NotificationWait: %w", r.ErrorCode)
	}
	return r.EventPending != 0, nil
}

// Close disconnects from the mailbox and unbinds from the address book
// (over RPC: EcDoDisconnect).
func (s *Session) Close(ctx context.Context) error {
	if s.rpc != nil {
		return s.rpc.disconnect(ctx)
	}
	var dr, ur mapi.StatusResponse
	err1 := s.t.do(ctx, s.emsmdb, mapi.ReqDisconnect, &mapi.AuxRequest{}, &dr)
	err2 := s.t.do(ctx, s.nspi, mapi.ReqUnbind, &mapi.UnbindRequest{}, &ur)
	return errors.Join(err1, err2)
}
