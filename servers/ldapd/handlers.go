package ldapd

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/jimlambrt/gldap"
)

// handlers answer the requests the front end relays to gldap.
type handlers struct {
	s *Server
	b *backend
}

func (h *handlers) mux() (*gldap.Mux, error) {
	m, err := gldap.NewMux()
	if err != nil {
		return nil, err
	}
	return m, errors.Join(
		m.Bind(h.safe(opBindResponse, h.bind)),
		m.Search(h.safe(opSearchDone, h.search)),
		m.Add(h.safe(opAddResponse, h.add)),
		m.Modify(h.safe(opModifyResponse, h.modify)),
		m.Delete(h.safe(opDelResponse, h.del)),
		m.Unbind(func(*gldap.ResponseWriter, *gldap.Request) {}),
		// Extended operations never reach gldap: the front end answers them.
		m.DefaultRoute(h.safe(opExtendedResponse, func(w *gldap.ResponseWriter, r *gldap.Request) {
			h.reply(w, newResult(r, opExtendedResponse, &Error{Code: ResultProtocolError, Diagnostic: textUnknownExtOp}), nil)
		})),
	)
}

// safe answers a request whose handler panicked with ResultOther instead of
// letting the panic kill the process (gldap runs handlers on goroutines of
// its own, without recovery).
func (h *handlers) safe(app int, fn gldap.HandlerFunc) gldap.HandlerFunc {
	return func(w *gldap.ResponseWriter, r *gldap.Request) {
		defer func() {
			if p := recover(); p != nil {
				h.s.log.Error("request handler panicked", "err", fmt.Errorf("%v", p))
				h.reply(w, newResult(r, app, &Error{Code: ResultOther, Diagnostic: textDirError}), nil)
			}
		}()
		fn(w, r)
	}
}

func (h *handlers) reply(w *gldap.ResponseWriter, resp gldap.Response, log *slog.Logger) {
	if err := w.Write(resp); err != nil && log != nil {
		log.Debug("write to front end failed", "err", err)
	}
}

// newResult builds an LDAPResult of application tag app for err (success
// when nil). matchedDN and diagnosticMessage are set explicitly: gldap's
// defaults are the string "Unused", which AD never sends.
func newResult(r *gldap.Request, app int, err error) *gldap.GeneralResponse {
	code, matched, diag := ResultSuccess, "", ""
	if err != nil {
		le := asResult(err)
		code, matched, diag = le.Code, le.MatchedDN, le.Diagnostic
	}
	return r.NewResponse(gldap.WithApplicationCode(app), gldap.WithResponseCode(code),
		gldap.WithMatchedDN(matched), gldap.WithDiagnosticMessage(diag))
}

// result answers with an LDAPResult of application tag app.
func (h *handlers) result(w *gldap.ResponseWriter, r *gldap.Request, sess *session, app int, err error) {
	var log *slog.Logger
	if sess != nil {
		log = sess.log
		if err != nil && asResult(err).Code == ResultOther {
			log.Error("directory error", "code", ResultOther, "err", err)
		}
	}
	h.reply(w, newResult(r, app, err), log)
}

func (h *handlers) bind(w *gldap.ResponseWriter, r *gldap.Request) {
	m, err := r.GetSimpleBindMessage()
	if err != nil {
		h.result(w, r, nil, opBindResponse, &Error{Code: ResultProtocolError, Diagnostic: textDecoding})
		return
	}
	sess := h.b.session(r.ConnectionID())
	if sess == nil {
		if m.UserName == helloDN && h.b.claim(r.ConnectionID(), string(m.Password)) != nil {
			h.result(w, r, nil, opBindResponse, nil)
			return
		}
		h.result(w, r, nil, opBindResponse, bindError(ErrInvalidCredentials))
		return
	}
	// A bind starts from anonymous (RFC 4513 section 5.1); an empty password
	// is an anonymous bind whatever the name, as on AD.
	sess.setBound("")
	if m.Password == "" {
		sess.log.Debug("anonymous bind")
		h.result(w, r, sess, opBindResponse, nil)
		return
	}
	if err := h.s.opts.Authenticator.Bind(m.UserName, string(m.Password)); err != nil {
		be := bindError(err)
		sess.log.Info("bind refused: "+m.UserName, "code", be.Code)
		h.result(w, r, sess, opBindResponse, be)
		return
	}
	sess.setBound(m.UserName)
	sess.log.Info("bound as " + m.UserName)
	h.result(w, r, sess, opBindResponse, nil)
}

// account returns the bound account of the request's connection, or the
// error to answer: operationsError with AD's "000004DC" text when the
// connection is anonymous or did not come through the front end.
func (h *handlers) account(r *gldap.Request) (*session, string, error) {
	sess := h.b.session(r.ConnectionID())
	if sess == nil {
		return nil, "", errBindRequired()
	}
	acct := sess.bound()
	if acct == "" {
		return sess, "", errBindRequired()
	}
	return sess, acct, nil
}

func (h *handlers) add(w *gldap.ResponseWriter, r *gldap.Request) {
	sess, acct, err := h.account(r)
	if err != nil {
		h.result(w, r, sess, opAddResponse, err)
		return
	}
	m, err := r.GetAddMessage()
	if err != nil {
		h.result(w, r, sess, opAddResponse, &Error{Code: ResultProtocolError, Diagnostic: textDecoding})
		return
	}
	if !h.s.opts.Authorizer.Allowed(acct, m.DN, RightWrite) {
		sess.log.Info("add refused: "+m.DN, "code", ResultInsufficientAccess)
		h.result(w, r, sess, opAddResponse, errAccess())
		return
	}
	e := &Entry{DN: m.DN}
	for _, a := range m.Attributes {
		if IsSystemAttribute(a.Type) {
			h.result(w, r, sess, opAddResponse, errSystemAttribute())
			return
		}
		vals := a.Vals
		if IsPasswordAttribute(a.Type) {
			vals = hashAll(vals)
		}
		e.Attributes = append(e.Attributes, Attribute{Name: a.Type, Values: vals})
	}
	err = h.s.dir.Apply(Change{Kind: ChangeAdd, Entry: e})
	sess.log.Debug("add "+m.DN, "code", asCode(err))
	h.result(w, r, sess, opAddResponse, err)
}

func (h *handlers) modify(w *gldap.ResponseWriter, r *gldap.Request) {
	sess, acct, err := h.account(r)
	if err != nil {
		h.result(w, r, sess, opModifyResponse, err)
		return
	}
	m, err := r.GetModifyMessage()
	if err != nil {
		h.result(w, r, sess, opModifyResponse, &Error{Code: ResultProtocolError, Diagnostic: textDecoding})
		return
	}
	if !h.s.opts.Authorizer.Allowed(acct, m.DN, RightWrite) {
		sess.log.Info("modify refused: "+m.DN, "code", ResultInsufficientAccess)
		h.result(w, r, sess, opModifyResponse, errAccess())
		return
	}
	mods := make([]Modification, 0, len(m.Changes))
	for _, c := range m.Changes {
		vals, err := modValues(c.Modification.Vals)
		if err != nil || c.Operation < int64(ModAdd) || c.Operation > int64(ModReplace) {
			h.result(w, r, sess, opModifyResponse, &Error{Code: ResultProtocolError, Diagnostic: textDecoding})
			return
		}
		mod := Modification{Op: ModOp(c.Operation), Attr: c.Modification.Type, Values: vals}
		if IsPasswordAttribute(mod.Attr) {
			if mod, err = h.passwordMod(m.DN, mod); err != nil {
				h.result(w, r, sess, opModifyResponse, err)
				return
			}
		}
		mods = append(mods, mod)
	}
	err = h.s.dir.Apply(Change{Kind: ChangeModify, DN: m.DN, Mods: mods})
	sess.log.Debug("modify "+m.DN, "code", asCode(err))
	h.result(w, r, sess, opModifyResponse, err)
}

// passwordMod turns a modification of a password attribute into one on its
// stored hashes: new values are hashed, deleted values are matched against
// the stored hashes (AD's password change is a delete of the old value and
// an add of the new one).
func (h *handlers) passwordMod(dn string, m Modification) (Modification, error) {
	if m.Op != ModDelete || len(m.Values) == 0 {
		m.Values = hashAll(m.Values)
		return m, nil
	}
	e, err := h.s.dir.Get(dn)
	if err != nil {
		return m, err
	}
	var stored []string
	for _, v := range m.Values {
		i := -1
		for j, s := range e.Get(m.Attr) {
			if CheckPassword(s, v) {
				i = j
			}
		}
		if i < 0 {
			return m, errNoSuchAttribute(m.Attr)
		}
		stored = append(stored, e.Get(m.Attr)[i])
	}
	m.Values = stored
	return m, nil
}

// hashAll hashes written password values. A value that already is a
// HashPassword hash is stored as it is (pre-hashed, as OpenLDAP allows), so
// that an account can be provisioned without sending its password.
func hashAll(vals []string) []string {
	out := make([]string, len(vals))
	for i, v := range vals {
		if IsPasswordHash(v) {
			out[i] = v
			continue
		}
		out[i] = HashPassword(v)
	}
	return out
}

func (h *handlers) del(w *gldap.ResponseWriter, r *gldap.Request) {
	sess, acct, err := h.account(r)
	if err != nil {
		h.result(w, r, sess, opDelResponse, err)
		return
	}
	m, err := r.GetDeleteMessage()
	if err != nil {
		h.result(w, r, sess, opDelResponse, &Error{Code: ResultProtocolError, Diagnostic: textDecoding})
		return
	}
	if !h.s.opts.Authorizer.Allowed(acct, m.DN, RightWrite) {
		sess.log.Info("delete refused: "+m.DN, "code", ResultInsufficientAccess)
		h.result(w, r, sess, opDelResponse, errAccess())
		return
	}
	err = h.s.dir.Apply(Change{Kind: ChangeDelete, DN: m.DN})
	sess.log.Debug("delete "+m.DN, "code", asCode(err))
	h.result(w, r, sess, opDelResponse, err)
}

func asCode(err error) int {
	if err == nil {
		return ResultSuccess
	}
	return asResult(err).Code
}

// modValues recovers the values of a modify change from gldap v0.1.14, which
// hands over the encoded content of the value SET as one string instead of
// the values (it reads the SET element's data rather than its children): a
// run of OCTET STRING elements, empty for "no values".
func modValues(vals []string) ([]string, error) {
	if len(vals) != 1 {
		return nil, errors.New("ldapd: unexpected modify values")
	}
	raw := []byte(vals[0])
	out := []string{}
	for len(raw) > 0 {
		if raw[0] != byte(ber.TagOctetString) {
			return nil, errors.New("ldapd: modify value is not an OCTET STRING")
		}
		n, next, ok := berLength(raw, 1)
		if !ok || next+n > len(raw) {
			return nil, errors.New("ldapd: truncated modify value")
		}
		out = append(out, string(raw[next:next+n]))
		raw = raw[next+n:]
	}
	return out, nil
}

// isAllowedToRead reports whether acct may see the entry.
func (h *handlers) isAllowedToRead(acct string, e *Entry) bool {
	return h.s.opts.Authorizer.Allowed(acct, e.DN, RightRead)
}

// trimmed reports a DN that is only spaces (the root).
func trimmed(dn string) string { return strings.TrimSpace(dn) }
