package pop3d

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"time"
)

// logonAllowed tells whether plain-text logons are accepted now: always on
// an encrypted session, before TLS only with PlainTextLogin (Exchange's
// SecureLogin default refuses them; EXCHANGE.md section 6).
func (ss *session) logonAllowed() bool {
	return ss.tls || ss.srv.opts.LoginType == PlainTextLogin
}

// stlsAvailable: RFC 2595 section 4, in the AUTHORIZATION state of a
// clear-text session of a server with a certificate.
func (ss *session) stlsAvailable() bool {
	return !ss.tls && ss.srv.opts.TLSConfig != nil && ss.state == stateAuthorization
}

// capabilities is the CAPA list (RFC 2449 section 5). With SecureLogin
// before TLS, Exchange offers only TOP, UIDL and STLS.
func (ss *session) capabilities() []string {
	caps := slices.Clone(ss.p.Capabilities)
	if ss.logonAllowed() {
		if len(ss.p.SASL) > 0 {
			caps = append(caps, "SASL "+strings.Join(ss.p.SASL, " "))
		}
		caps = append(caps, "USER")
	}
	if ss.stlsAvailable() {
		caps = append(caps, "STLS")
	}
	return caps
}

func (ss *session) cmdCapa([]string) error {
	ss.w.WriteString(ss.p.CapaOK + "\r\n")
	for _, c := range ss.capabilities() {
		ss.w.WriteString(c + "\r\n")
	}
	return ss.reply(".")
}

// cmdStls upgrades the session (RFC 2595 section 4).
func (ss *session) cmdStls([]string) error {
	if ss.srv.opts.TLSConfig == nil {
		return ss.protocolError(ss.p.UnknownCommand)
	}
	if !ss.stlsAvailable() {
		return ss.protocolError(ss.p.InvalidState)
	}
	if ss.r.Buffered() > 0 {
		// Clear text pipelined behind STLS would be taken as sent under TLS
		// (the STARTTLS command injection of CVE-2011-0411): refuse it.
		ss.log.Info("data pipelined after STLS, closing")
		ss.reply(ss.p.BadArguments)
		return errClose
	}
	if err := ss.reply(ss.p.StlsOK); err != nil {
		return err
	}
	tc := tls.Server(ss.raw, ss.srv.opts.TLSConfig)
	ss.raw.SetDeadline(time.Now().Add(ss.srv.opts.PreAuthenticatedConnectionTimeout))
	if err := tc.HandshakeContext(ss.ctx); err != nil {
		ss.log.Debug("stls handshake failed", "err", err)
		return errClose
	}
	ss.conn, ss.tls = tc, true
	ss.r.Reset(tc)
	ss.w.Reset(&deadlineWriter{tc, ss.raw, ss.srv.opts.WriteTimeout})
	// RFC 2595 section 4: forget what the client said before TLS.
	ss.user = ""
	return nil
}

func (ss *session) cmdUser(args []string) error {
	if !ss.logonAllowed() {
		return ss.protocolError(ss.p.InvalidState)
	}
	ss.user = args[0]
	return ss.reply(ss.p.UserOK)
}

func (ss *session) cmdPass(args []string) error {
	if !ss.logonAllowed() || ss.user == "" {
		return ss.protocolError(ss.p.InvalidState)
	}
	user := ss.user
	ss.user = "" // RFC 1939 section 7: a failed PASS needs a new USER
	return ss.logon(user, args[0])
}

// cmdAuth is RFC 5034: AUTH mechanism [initial-response].
func (ss *session) cmdAuth(args []string) error {
	if !ss.logonAllowed() {
		return ss.protocolError(ss.p.InvalidState)
	}
	ss.user = ""
	mech := strings.ToUpper(args[0])
	if mech != "PLAIN" {
		return ss.authOther(mech, args[1:])
	}
	var resp []byte
	if len(args) == 2 {
		var err error
		if resp, err = decodeSASL(args[1]); err != nil {
			return ss.logonFailed()
		}
	} else {
		var err error
		if resp, err = ss.saslResponse(nil); err != nil || resp == nil {
			return err // canceled or undecodable: already answered
		}
	}
	// RFC 4616 section 2: [authzid] NUL authcid NUL passwd.
	parts := bytes.Split(resp, []byte{0})
	if len(parts) != 3 || len(parts[1]) == 0 ||
		(len(parts[0]) > 0 && !bytes.Equal(parts[0], parts[1])) {
		return ss.logonFailed()
	}
	return ss.logon(string(parts[1]), string(parts[2]))
}

// authOther runs a mechanism provided by a MechanismBackend (backend
// mode) or a MechanismAuthenticator (frontend mode). GSSAPI, which the
// Exchange persona advertises, fails as a logon when neither provides it.
func (ss *session) authOther(mech string, initial []string) error {
	next, finish, ok := ss.mechanism(mech)
	if !ok {
		if mech == "GSSAPI" && slices.Contains(ss.p.SASL, mech) {
			return ss.authGSSAPI(initial)
		}
		return ss.reply(ss.p.UnsupportedMechanism)
	}
	var resp []byte // nil: no initial response
	if len(initial) == 1 {
		var err error
		if resp, err = decodeSASL(initial[0]); err != nil {
			return ss.logonFailed()
		}
	}
	for {
		challenge, done, err := next(resp)
		if err != nil {
			ss.log.Info("sasl exchange failed", "err", err)
			return ss.logonError(err)
		}
		if done {
			return finish()
		}
		if resp, err = ss.saslResponse(challenge); err != nil || resp == nil {
			return err
		}
	}
}

// mechanism starts an exchange of mech: its Next, and finish, which opens
// the maildrop (backend mode) or logs on at the POP3 Backend (frontend
// mode) once Next is done.
func (ss *session) mechanism(mech string) (next func([]byte) ([]byte, bool, error), finish func() error, ok bool) {
	if ss.srv.opts.Backend == nil {
		ma, ok := ss.srv.opts.Authenticator.(MechanismAuthenticator)
		if !ok {
			return nil, nil, false
		}
		ex, ok := ma.Mechanism(ss.ctx, mech)
		if !ok {
			return nil, nil, false
		}
		return ex.Next, func() error {
			account, user, password := ex.Credentials()
			return ss.proxyLogon(account, user, password)
		}, true
	}
	mb, ok := ss.srv.opts.Backend.(MechanismBackend)
	if !ok {
		return nil, nil, false
	}
	ex, ok := mb.Mechanism(ss.ctx, mech)
	if !ok {
		return nil, nil, false
	}
	return ex.Next, func() error {
		drop, err := ex.Maildrop(ss.ctx)
		if err != nil {
			return ss.logonError(err)
		}
		return ss.openMaildrop(drop)
	}, true
}

// authGSSAPI answers AUTH GSSAPI as Exchange does when Kerberos fails:
// it takes the client's token (the initial response, or the answer to an
// empty challenge) and fails the logon. The lab has no KDC.
func (ss *session) authGSSAPI(initial []string) error {
	if len(initial) == 0 {
		if resp, err := ss.saslResponse(nil); err != nil || resp == nil {
			return err
		}
	}
	ss.log.Info("GSSAPI logon refused: no Kerberos in the lab")
	return ss.logonFailed()
}

// saslResponse sends a continuation with challenge and reads the client's
// answer (RFC 5034 section 4). A nil response with a nil error means the
// exchange was canceled or undecodable and has been answered.
func (ss *session) saslResponse(challenge []byte) ([]byte, error) {
	if err := ss.reply(ss.p.AuthContinue + base64.StdEncoding.EncodeToString(challenge)); err != nil {
		return nil, err
	}
	line, err := ss.readLine(maxSASLResponse)
	if errors.Is(err, errLineTooLong) {
		return nil, ss.protocolError(ss.p.LineTooLong)
	}
	if err != nil {
		ss.readFailed(err)
		return nil, errClose
	}
	if line == "*" {
		return nil, ss.reply(ss.p.AuthCanceled)
	}
	resp, err := base64.StdEncoding.Strict().DecodeString(line)
	if err != nil {
		return nil, ss.logonFailed()
	}
	if resp == nil {
		resp = []byte{}
	}
	return resp, nil
}

// decodeSASL decodes an initial response; "=" is the empty one (RFC 5034
// section 4).
func decodeSASL(s string) ([]byte, error) {
	if s == "=" {
		return []byte{}, nil
	}
	return base64.StdEncoding.Strict().DecodeString(s)
}

// logon checks user and password: with the Backend (backend mode) or with
// the Authenticator and then the POP3 Backend (frontend mode).
func (ss *session) logon(user, password string) error {
	if ss.srv.opts.Backend == nil {
		account, err := ss.srv.opts.Authenticator.Authenticate(ss.ctx, user, password)
		if err != nil {
			return ss.logonError(err)
		}
		return ss.proxyLogon(account, user, password)
	}
	drop, err := ss.srv.opts.Backend.Login(ss.ctx, user, password)
	if err != nil {
		return ss.logonError(err)
	}
	return ss.openMaildrop(drop)
}

// logonError answers a failed Login or Authenticate.
func (ss *session) logonError(err error) error {
	var pe *Error
	switch {
	case errors.Is(err, ErrLogonFailure):
		return ss.logonFailed()
	case errors.Is(err, ErrInUse):
		return ss.reply(ss.p.MaildropInUse)
	case errors.As(err, &pe):
		return ss.reply(pe.Text)
	case ss.ctx.Err() != nil:
		return errClose
	}
	ss.log.Error("logon: store unavailable", "err", err)
	return ss.reply(ss.p.ServerUnavailable)
}

// logonFailed answers a failed logon after a delay that doubles with each
// failure of the connection, and closes the connection at
// MaxLogonFailures, as Exchange and Active Directory slow down password
// guessing.
func (ss *session) logonFailed() error {
	ss.logonFailures++
	ss.log.Info("logon failed", "attempt", ss.logonFailures)
	if d := ss.failureDelay(); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ss.ctx.Done():
			return errClose
		}
	}
	if ss.logonFailures >= ss.srv.opts.MaxLogonFailures {
		ss.reply(ss.p.TooManyLogonFailures)
		ss.state = stateDone
		return errClose
	}
	return ss.reply(ss.p.LogonFailure)
}

func (ss *session) failureDelay() time.Duration {
	d := ss.srv.opts.LogonFailureDelay
	if d <= 0 {
		return 0
	}
	for i := 1; i < ss.logonFailures && d < ss.srv.opts.MaxLogonFailureDelay; i++ {
		d *= 2
	}
	return min(d, ss.srv.opts.MaxLogonFailureDelay)
}

// openMaildrop takes the snapshot and enters the TRANSACTION state
// (RFC 1939 section 4).
func (ss *session) openMaildrop(drop Maildrop) error {
	ss.drop = drop // closed by end() whatever happens next
	msgs, err := drop.Messages(ss.ctx)
	if err == nil {
		err = checkSnapshot(msgs)
	}
	if err != nil {
		if ss.ctx.Err() != nil {
			return errClose
		}
		ss.log.Error("logon: reading maildrop", "err", err)
		ss.reply(ss.p.ServerUnavailable)
		return errClose
	}
	ss.msgs = msgs
	ss.deleted = make([]bool, len(msgs))
	ss.live = len(msgs)
	for _, m := range msgs {
		ss.liveSize += m.Size
	}
	ss.state = stateTransaction
	ss.log.Info("logged on")
	return ss.reply(ss.p.LogonOK)
}
