package ldapd

import (
	ber "github.com/go-asn1-ber/asn1-ber"

	"github.com/exsim/exsim/store/directory"
)

// Writes: AddRequest, ModifyRequest and DelRequest (RFC 4511 sections 4.6
// to 4.8). Each needs a bound account with write rights on the entry;
// password attributes are stored hashed.

// writer returns the bound account that may write dn, or the error to
// answer: operationsError with AD's "000004DC" text when the connection is
// anonymous, insufficientAccessRights when the account may not.
func (c *conn) writer(what, dn string) error {
	if c.account == "" {
		return errBindRequired()
	}
	if !c.s.opts.Authorizer.Allowed(c.account, dn, directory.RightWrite) {
		c.log.Info(what+" refused: "+dn, "code", directory.ResultInsufficientAccess)
		return directory.InsufficientAccess()
	}
	return nil
}

// dnAndList decodes the two fields an AddRequest and a ModifyRequest share
// (RFC 4511 sections 4.6 and 4.7): the DN, named dnField in errors, and a
// SEQUENCE OF listField.
func dnAndList(req *ber.Packet, op, dnField, listField string) (string, *ber.Packet, error) {
	if err := application(req, 2, op); err != nil {
		return "", nil, err
	}
	dn, err := octetString(req.Children[0], dnField)
	if err != nil {
		return "", nil, err
	}
	list := req.Children[1]
	if err := sequence(list, ber.TagSequence, 0, listField); err != nil {
		return "", nil, err
	}
	return dn, list, nil
}

func (c *conn) add(m *message) bool {
	dn, list, err := dnAndList(m.request(), "add", "entry", "attributes")
	if err != nil {
		return c.refuse("add", err)
	}
	e := &directory.Entry{DN: dn}
	for _, p := range list.Children {
		name, vals, err := attribute(p)
		if err != nil {
			return c.refuse("add", err)
		}
		e.Attributes = append(e.Attributes, directory.Attribute{Name: name, Values: vals})
	}
	if err := c.writer("add", dn); err != nil {
		return c.reply(m, opAddResponse, err)
	}
	for i, a := range e.Attributes {
		if directory.IsSystemAttribute(a.Name) {
			return c.reply(m, opAddResponse, directory.UnwillingToPerform())
		}
		if directory.IsPasswordAttribute(a.Name) {
			e.Attributes[i].Values = hashAll(a.Values)
		}
	}
	err = c.s.dir.Apply(directory.Change{Kind: directory.ChangeAdd, Entry: e})
	c.log.Debug("add "+dn, "code", codeOf(err))
	return c.reply(m, opAddResponse, err)
}

func (c *conn) modify(m *message) bool {
	dn, list, err := dnAndList(m.request(), "modify", "object", "changes")
	if err != nil {
		return c.refuse("modify", err)
	}
	var mods []directory.Modification
	badOp := false
	for _, p := range list.Children {
		if err := sequence(p, ber.TagSequence, 2, "change"); err != nil {
			return c.refuse("modify", err)
		}
		op, err := integer(p.Children[0], ber.TagEnumerated, "operation")
		if err != nil {
			return c.refuse("modify", err)
		}
		name, vals, err := attribute(p.Children[1])
		if err != nil {
			return c.refuse("modify", err)
		}
		badOp = badOp || op < int64(directory.ModAdd) || op > int64(directory.ModReplace)
		mods = append(mods, directory.Modification{Op: directory.ModOp(op), Attr: name, Values: vals})
	}
	if err := c.writer("modify", dn); err != nil {
		return c.reply(m, opModifyResponse, err)
	}
	if badOp {
		return c.reply(m, opModifyResponse, directory.DecodingError())
	}
	for i, mod := range mods {
		if directory.IsPasswordAttribute(mod.Attr) {
			if mods[i], err = c.passwordMod(dn, mod); err != nil {
				return c.reply(m, opModifyResponse, err)
			}
		}
	}
	err = c.s.dir.Apply(directory.Change{Kind: directory.ChangeModify, DN: dn, Mods: mods})
	c.log.Debug("modify "+dn, "code", codeOf(err))
	return c.reply(m, opModifyResponse, err)
}

// passwordMod turns a modification of a password attribute into one on its
// stored hashes: new values are hashed, deleted values are matched against
// the stored hashes (AD's password change is a delete of the old value and
// an add of the new one).
func (c *conn) passwordMod(dn string, m directory.Modification) (directory.Modification, error) {
	if m.Op != directory.ModDelete || len(m.Values) == 0 {
		m.Values = hashAll(m.Values)
		return m, nil
	}
	e, err := c.s.dir.Get(dn)
	if err != nil {
		return m, err
	}
	var stored []string
	for _, v := range m.Values {
		i := -1
		for j, s := range e.Get(m.Attr) {
			if directory.CheckPassword(s, v) {
				i = j
			}
		}
		if i < 0 {
			return m, directory.NoSuchAttribute(m.Attr)
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
		if directory.IsPasswordHash(v) {
			out[i] = v
			continue
		}
		out[i] = directory.HashPassword(v)
	}
	return out
}

func (c *conn) del(m *message) bool {
	req := m.request()
	if req.TagType != ber.TypePrimitive {
		return c.refuse("delete", malformed("entry"))
	}
	dn := req.Data.String()
	if err := c.writer("delete", dn); err != nil {
		return c.reply(m, opDelResponse, err)
	}
	err := c.s.dir.Apply(directory.Change{Kind: directory.ChangeDelete, DN: dn})
	c.log.Debug("delete "+dn, "code", codeOf(err))
	return c.reply(m, opDelResponse, err)
}
