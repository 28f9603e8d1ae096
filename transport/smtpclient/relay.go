// A transaction relayed step by step, for a proxy (Front End Transport)
// that answers each of its client's commands with the next hop's own reply.
//
// Front End Transport picks the Transport service by the message's
// recipients ("Mail flow and the transport pipeline", learn.microsoft.com:
// a single mailbox recipient goes to a Mailbox server of its delivery
// group), so its proxy has nothing to send before the first RCPT: Mail
// only records the sender, and the first Rcpt sends MAIL and RCPT in one
// write. With PIPELINING and CHUNKING the message then goes as one
// BDAT LAST chunk (no dot-stuffing), and a transaction that reached its
// end needs no RSET: two round trips a message, where MAIL, RCPT, DATA,
// the body and an RSET each cost one. Without them each command waits
// for its reply, as go-smtp's client sends it.

package smtpclient

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// relayState is where a relayed transaction stands on the server.
type relayState int

const (
	relayIdle    relayState = iota // no transaction
	relayPending                   // MAIL recorded, not sent yet
	relayOpen                      // the server accepted MAIL
)

// errNoMail is a Rcpt or Data without a Mail before it.
var errNoMail = errors.New("smtpclient: RCPT or DATA without MAIL")

// Mail starts a relayed transaction: env's sender and MAIL parameters
// (env.To is not used; Rcpt adds recipients), and size, the message size
// the client declared (SIZE=, 0 for none). Nothing is sent yet.
func (c *Client) Mail(env *Envelope, size int64) {
	e := *env
	e.To = nil
	c.relay, c.relayEnv, c.relaySize = relayPending, e, size
}

// InTransaction reports whether the server holds an open transaction
// (MAIL accepted, the message not yet sent): Reset then costs an RSET.
func (c *Client) InTransaction() bool { return c.relay == relayOpen }

// Rcpt relays one recipient and returns the server's reply: the RCPT
// reply, or the MAIL reply when the server refused the sender (MAIL is
// then sent again with the next Rcpt). A non-nil error means the
// connection failed (see ReplyOf).
func (c *Client) Rcpt(rc Rcpt) (Reply, error) {
	switch {
	case c.relay == relayIdle:
		return Reply{}, errNoMail
	case c.pipe == nil:
		return c.rcptOneByOne(rc)
	}
	p := c.pipe
	var cmds []string
	if c.relay == relayPending {
		mail, err := p.mailCommand(&c.relayEnv, int(c.relaySize))
		if err != nil {
			return Reply{}, err
		}
		cmds = append(cmds, mail)
	}
	line, err := p.rcptCommand(rc)
	if err != nil {
		return Reply{}, err
	}
	cmds = append(cmds, line)
	if err := p.send(cmds, nil, p.o.Timeout); err != nil {
		return Reply{}, err
	}
	defer p.conn.SetDeadline(time.Time{})
	if c.relay == relayPending {
		mailR, err := p.read(p.o.Timeout)
		if err != nil {
			return Reply{}, err
		}
		// The RCPT's reply follows either way (a 503 after a refused MAIL).
		rcptR, err := p.read(p.o.Timeout)
		if err != nil {
			return Reply{}, err
		}
		if !mailR.OK() {
			return mailR, nil
		}
		c.relay = relayOpen
		return rcptR, nil
	}
	return p.read(p.o.Timeout)
}

// rcptOneByOne is Rcpt without PIPELINING: MAIL (first), then RCPT, each
// waiting for its reply. go-smtp's client does not return the text of a
// reply that accepted: an accepted recipient's Reply is a bare 250.
func (c *Client) rcptOneByOne(rc Rcpt) (Reply, error) {
	if c.relay == relayPending {
		if err := c.c.Mail(c.relayEnv.From, mailOptions(&c.relayEnv, c.relaySize)); err != nil {
			return ReplyOf(err)
		}
		c.relay = relayOpen
	}
	if err := c.c.Rcpt(rc.Address, rcptOptions(rc)); err != nil {
		return ReplyOf(err)
	}
	return Reply{Code: 250}, nil
}

// Data sends the message (body's parts in order) of a transaction whose
// recipients the server accepted and returns its final reply; the
// transaction is over either way. A non-nil error means the connection
// failed.
func (c *Client) Data(body ...[]byte) (Reply, error) {
	if c.relay != relayOpen {
		return Reply{}, errNoMail
	}
	c.relay = relayIdle
	if c.pipe == nil {
		return c.dataOneByOne(body)
	}
	p := c.pipe
	size := 0
	for _, b := range body {
		size += len(b)
	}
	if err := p.send([]string{"BDAT " + strconv.Itoa(size) + " LAST"}, body, p.o.Timeout+p.o.DataTimeout); err != nil {
		return Reply{}, err
	}
	defer p.conn.SetDeadline(time.Time{})
	r, err := p.read(p.o.DataTimeout)
	if err != nil {
		return Reply{}, err
	}
	if !r.OK() {
		// As Deliver: after a refused chunk, start clean.
		if err := c.c.Reset(); err != nil {
			if _, connErr := ReplyOf(err); connErr != nil {
				return Reply{}, connErr
			}
		}
	}
	return withEnhanced(r), nil
}

// dataOneByOne is Data with DATA and go-smtp's dot-stuffing.
func (c *Client) dataOneByOne(body [][]byte) (Reply, error) {
	w, err := c.c.Data()
	if err != nil {
		return ReplyOf(err)
	}
	for _, b := range body {
		if _, err := w.Write(b); err != nil {
			return Reply{}, err
		}
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		return ReplyOf(err)
	}
	return withEnhanced(Reply{Code: 250, Text: strings.TrimSpace(resp.StatusText)}), nil
}

// Reset ends the relayed transaction: an RSET when the server holds one
// open, nothing otherwise. An error means the connection failed.
func (c *Client) Reset() error {
	open := c.relay == relayOpen
	c.relay, c.relayEnv = relayIdle, Envelope{}
	if !open {
		return nil
	}
	if err := c.c.Reset(); err != nil {
		_, connErr := ReplyOf(err)
		if connErr == nil {
			connErr = err // a refused RSET leaves the session in doubt
		}
		return connErr
	}
	return nil
}
