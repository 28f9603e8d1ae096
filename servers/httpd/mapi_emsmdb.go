package httpd

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/exsim/exsim/internal/mapi"
)

// The EMSMDB request types of MAPI over HTTP (MS-OXCMAPIHTTP 2.2.4).

// Connect answers for the polling and retry settings are those of
// EcDoConnectEx (MS-OXCRPC 3.1.4.1): Exchange's own values are not
// documented; exsim returns OpenChange's (60 s, 6 retries, 10 s).
const (
	mapiMaxPollingInterval = 60000
	mapiMaxRetryCount      = 6
	mapiRetryDelay         = 10000
)

func (c *mapiCall) emsmdb(typ string) {
	switch typ {
	case mapi.ReqConnect:
		c.connect()
	case mapi.ReqExecute:
		c.execute()
	case mapi.ReqDisconnect:
		c.endSession(&mapi.AuxRequest{})
	case mapi.ReqNotificationWait:
		c.notificationWait()
	}
}

// dnPrefix is Connect's DnPrefix: the DN of the organization's servers
// container, to which clients append a server name (szDNPrefix of
// EcDoConnectEx, MS-OXCRPC 3.1.4.1).
func (c *config) dnPrefix() string {
	return "/o=" + c.Organization + "/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Configuration/cn=Servers/cn="
}

// connectStore checks the DN a client connects with (Connect,
// EcDoConnectEx): the user's own or empty.
func (h *Handler) connectStore(u *User, userDN string, log *slog.Logger) (*ropSession, mapi.ErrorCode) {
	dn := legacyDN(h.cfg, u)
	if userDN != "" && !strings.EqualFold(userDN, dn) {
		log.Info("mapi connect refused: user DN is not the caller's", "dn", userDN)
		return nil, mapi.ErrUnknownUser
	}
	return newROPSession(u, dn), mapi.Success
}

// connect is the Connect request type (2.2.4.1): a new Session Context
// for the mailbox of the authenticated user. UserDn must be that user's
// DN (or empty); Exchange refuses a connection as another user, with a
// diagnostic text that is not documented: exsim answers ecUnknownUser in
// the body's ErrorCode.
func (c *mapiCall) connect() {
	var req mapi.ConnectRequest
	if !c.decode(&req) {
		return
	}
	store, code := c.h.connectStore(c.u, req.UserDN, c.log)
	if code != mapi.Success {
		c.respond(func(context.Context) (mapi.Body, error) { return &mapi.ConnectResponse{ErrorCode: code}, nil })
		return
	}
	ms := c.h.mapi.create(c)
	ms.store = store
	if mw, ok := c.h.b.(MailWatcher); ok {
		// The feed starts with the context, so mail that arrives between
		// two NotificationWaits is not missed.
		if w, err := mw.WatchMail(c.u.Address); err == nil {
			ms.watch = w
		} else {
			c.log.Warn("mapi: watch mailbox", "err", err)
		}
	}
	name := c.u.DisplayName
	if name == "" {
		name = c.u.Address
	}
	c.respond(func(context.Context) (mapi.Body, error) {
		return &mapi.ConnectResponse{MaxPollingInterval: mapiMaxPollingInterval, MaxRetryCount: mapiMaxRetryCount,
			RetryDelay: mapiRetryDelay, DNPrefix: c.h.cfg.dnPrefix(), DisplayName: name}, nil
	})
}

// execute is the Execute request type (2.2.4.2): the ROPs of the buffer,
// run in order against the session's objects.
func (c *mapiCall) execute() {
	var req mapi.ExecuteRequest
	if !c.decode(&req) {
		return
	}
	rr, err := parseROPRequest(req.RopBuffer)
	if err != nil {
		// Compressed (MS-OXCRPC 3.1.7.2) and XOR-obfuscated payloads are
		// refused by name so that a client knows to send them plain.
		c.fail(mapi.RespInvalidRequestBody, "the ROP buffer is invalid: "+err.Error())
		return
	}
	ms := c.sess
	c.respond(func(ctx context.Context) (mapi.Body, error) {
		ms.mu.Lock()
		store := ms.store
		ms.mu.Unlock()
		rb, err := rr.run(ctx, ropEnv{c.h, c.log}, store)
		if err != nil {
			return nil, err
		}
		return &mapi.ExecuteResponse{RopBuffer: rb}, nil
	})
}

// ropRequest is a decoded ROP buffer: the rgbIn of EcDoRpcExt2 and the
// RopBuffer of Execute (RPC_HEADER_EXT chains around a ROP buffer).
type ropRequest struct {
	rops        []mapi.ROP
	handles     []uint32
	unsupported *mapi.UnsupportedROPError
}

func parseROPRequest(b []byte) (*ropRequest, error) {
	payload, err := mapi.SplitExt(b)
	if err != nil {
		return nil, err
	}
	buf, err := mapi.ParseROPBuffer(payload)
	if err != nil {
		return nil, err
	}
	rr := &ropRequest{handles: buf.Handles}
	rr.rops, err = mapi.DecodeRequests(buf.ROPs)
	if err != nil && !errors.As(err, &rr.unsupported) {
		return nil, err
	}
	return rr, nil
}

// run executes the ROPs on store and returns the response buffer
// (rgbOut).
func (rr *ropRequest) run(ctx context.Context, env ropEnv, store *ropSession) ([]byte, error) {
	out, handles := store.execute(ctx, env, rr.rops, rr.handles)
	if u := rr.unsupported; u != nil {
		// The ROPs after one exsim does not know cannot be read: the
		// unknown one fails with MAPI_E_NO_SUPPORT and ends the buffer.
		env.log.Info("mapi: ROP not supported", "rop", u.ID)
		out = append(out, &mapi.ErrorResponse{ID: u.ID, HandleIndex: u.HandleIndex, ReturnValue: mapi.ErrNoSupport})
	}
	return mapi.JoinExt((&mapi.ROPBuffer{ROPs: mapi.EncodeROPs(out), Handles: handles}).Bytes())
}

// notificationWait is the NotificationWait request type (2.2.4.4): it
// answers EventPending 1 as soon as the mailbox has changed since the
// last answer (a delivery by SMTP, a change over any protocol: the feed
// EWS notifications and ActiveSync Ping read), or 0 after
// MAPINotificationWait. exsim registers no RopRegisterNotification
// objects: the event is the mailbox's, not a subscription's.
func (c *mapiCall) notificationWait() {
	var req mapi.NotificationWaitRequest
	if !c.decode(&req) {
		return
	}
	ms := c.sess
	c.respond(func(ctx context.Context) (mapi.Body, error) {
		ms.mu.Lock()
		w := ms.watch
		ms.mu.Unlock()
		var ready <-chan struct{}
		if w != nil {
			ready = w.Ready()
		}
		t := time.NewTimer(c.h.cfg.MAPINotificationWait)
		defer t.Stop()
		for {
			select {
			case _, ok := <-ready:
				if !ok {
					ready = nil // the store closed: wait out the period
					continue
				}
				if len(w.Events()) > 0 {
					return &mapi.NotificationWaitResponse{EventPending: 1}, nil
				}
			case <-t.C:
				return &mapi.NotificationWaitResponse{}, nil
			case <-ms.closed:
				return &mapi.NotificationWaitResponse{}, nil
			case <-ctx.Done():
				return &mapi.NotificationWaitResponse{}, nil
			}
		}
	})
}
