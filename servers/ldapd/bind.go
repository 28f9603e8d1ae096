package ldapd

import (
	ber "github.com/go-asn1-ber/asn1-ber"

	"github.com/exsim/exsim/store/directory"
)

// bind answers a BindRequest (RFC 4511 section 4.2): version 3 simple
// binds only. A bind starts from anonymous (RFC 4513 section 5.1), whatever
// its outcome; an empty password is an anonymous bind whatever the name, as
// on AD.
func (c *conn) bind(m *message) bool {
	req := m.request()
	c.account = ""
	if err := checkBind(req); err != nil {
		return c.reply(m, opBindResponse, err)
	}
	dn, err := octetString(req.Children[1], "bind name")
	if err != nil {
		return c.refuse("bind", err)
	}
	password := req.Children[2].Data.String()
	if password == "" {
		c.log.Debug("anonymous bind")
		return c.reply(m, opBindResponse, nil)
	}
	if err := c.s.opts.Authenticator.Bind(dn, password); err != nil {
		be := bindError(err)
		c.log.Info("bind refused: "+dn, "code", be.Code)
		return c.reply(m, opBindResponse, be)
	}
	c.account = dn
	c.log.Info("bound as " + dn)
	return c.reply(m, opBindResponse, nil)
}

// checkBind refuses another LDAP version (RFC 4511 section 4.2.1) and SASL,
// which AD LDS offers but this server does not. nil: a simple bind.
func checkBind(req *ber.Packet) *directory.Error {
	if req.TagType != ber.TypeConstructed || len(req.Children) < 3 {
		return directory.DecodingError()
	}
	if v, ok := req.Children[0].Value.(int64); !ok || v != 3 {
		return &directory.Error{Code: directory.ResultProtocolError, Diagnostic: textVersion}
	}
	auth := req.Children[2]
	switch {
	case auth.ClassType == ber.ClassContext && auth.Tag == 0 && auth.TagType == ber.TypePrimitive:
		return nil
	case auth.ClassType == ber.ClassContext && auth.Tag == 3:
		return &directory.Error{Code: directory.ResultAuthMethodNotSupported, Diagnostic: textSASL}
	}
	return directory.DecodingError()
}
