package smtpclient

import (
	"context"
	"net"
	"strings"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Client is a set-up SMTP session that runs transactions.
type Client struct {
	c *smtp.Client
	// pipe runs transactions with PIPELINING and CHUNKING (pipeline.go);
	// nil when Options.Chunking is off or the server lacks either.
	pipe *pipeline
	// Session is what the server showed before the first transaction.
	Session *Session

	// A transaction relayed step by step (relay.go).
	relay     relayState
	relayEnv  Envelope
	relaySize int64
}

// NewClient sets up a session on conn (already connected) like Dial. On
// error conn is closed.
func NewClient(ctx context.Context, conn net.Conn, o Options) (*Client, error) {
	c, raw, s, err := setUp(ctx, conn, o)
	if err != nil {
		return nil, err
	}
	cl := &Client{c: c, Session: s}
	cl.pipe = newPipeline(c, raw, o)
	return cl, nil
}

// SMTP hands over the go-smtp client, for a proxy that relays a session
// command by command.
func (c *Client) SMTP() *smtp.Client { return c.c }

// Auth authenticates with mech PLAIN (the default for "") or LOGIN
// (RFC 4954).
func (c *Client) Auth(mech, user, password string) error {
	var a sasl.Client
	if strings.EqualFold(mech, "LOGIN") {
		a = sasl.NewLoginClient(user, password)
	} else {
		a = sasl.NewPlainClient("", user, password)
	}
	return c.c.Auth(a)
}

// Close ends the session with QUIT, or drops the connection when QUIT
// fails.
func (c *Client) Close() error {
	if err := c.c.Quit(); err != nil {
		return c.c.Close()
	}
	return nil
}

// Envelope is the SMTP envelope of one transaction.
type Envelope struct {
	From string
	To   []Rcpt
	// UTF8 asks for SMTPUTF8 (RFC 6531): only when an address needs it.
	UTF8 bool
	// EnvID and Ret are the DSN parameters of MAIL FROM (RFC 3461 4.3, 4.4):
	// Ret is "FULL", "HDRS" or "".
	EnvID string
	Ret   string
}

// Rcpt is one recipient with its DSN parameters (RFC 3461 4.1, 4.2).
type Rcpt struct {
	Address string
	// Notify are NEVER, SUCCESS, FAILURE, DELAY; empty sends none.
	Notify []string
	// ORCPT is "type;address", e.g. "rfc822;alice@contoso.com".
	ORCPT string
}

// Deliver runs one transaction: MAIL FROM, RCPT TO for every recipient,
// DATA with body unless no recipient was accepted (body's parts are sent
// in order, so a caller can put a new header section before an unchanged
// body). Every recipient gets its reply: the RCPT reply of a refused one, the final DATA reply of an
// accepted one. A non-nil error means the connection failed (see ReplyOf)
// and the session must be dropped; the replies are then nil. After a
// transaction that did not reach the end of DATA the session is reset
// and can take the next one.
//
// With Options.Chunking and a server that offers PIPELINING and CHUNKING,
// the transaction is MAIL, RCPT... and BDAT n LAST in one write, the body
// sent as it is (no dot-stuffing), then the replies read in order: one
// round trip per message, as Exchange servers talk to each other.
func (c *Client) Deliver(env *Envelope, body ...[]byte) (map[string]Reply, error) {
	if c.pipe != nil {
		return c.pipe.deliver(env, body)
	}
	out := make(map[string]Reply, len(env.To))
	all := func(to []Rcpt, err error) (map[string]Reply, error) {
		r, connErr := ReplyOf(err)
		if connErr != nil {
			return nil, connErr
		}
		for _, rc := range to {
			out[rc.Address] = r
		}
		c.c.Reset()
		return out, nil
	}
	size := 0
	for _, p := range body {
		size += len(p)
	}
	if err := c.c.Mail(env.From, mailOptions(env, int64(size))); err != nil {
		return all(env.To, err)
	}
	accepted := make([]Rcpt, 0, len(env.To))
	for _, rc := range env.To {
		if err := c.c.Rcpt(rc.Address, rcptOptions(rc)); err != nil {
			r, connErr := ReplyOf(err)
			if connErr != nil {
				return nil, connErr
			}
			out[rc.Address] = r
			continue
		}
		accepted = append(accepted, rc)
	}
	if len(accepted) == 0 {
		c.c.Reset()
		return out, nil
	}
	w, err := c.c.Data()
	if err != nil {
		return all(accepted, err)
	}
	for _, p := range body {
		if _, err := w.Write(p); err != nil {
			return nil, err
		}
	}
	resp, err := w.CloseWithResponse()
	var r Reply
	if err != nil {
		var connErr error
		if r, connErr = ReplyOf(err); connErr != nil {
			return nil, connErr
		}
	} else {
		r = withEnhanced(Reply{Code: 250, Text: strings.TrimSpace(resp.StatusText)})
	}
	for _, rc := range accepted {
		out[rc.Address] = r
	}
	return out, nil
}

// mailOptions are go-smtp's MAIL parameters for env and a message of size
// bytes (0: no SIZE).
func mailOptions(env *Envelope, size int64) *smtp.MailOptions {
	mo := &smtp.MailOptions{Size: size, UTF8: env.UTF8, EnvelopeID: env.EnvID}
	switch env.Ret {
	case "FULL":
		mo.Return = smtp.DSNReturnFull
	case "HDRS":
		mo.Return = smtp.DSNReturnHeaders
	}
	return mo
}

func rcptOptions(rc Rcpt) *smtp.RcptOptions {
	ro := &smtp.RcptOptions{}
	for _, n := range rc.Notify {
		ro.Notify = append(ro.Notify, smtp.DSNNotify(strings.ToUpper(n)))
	}
	if t, addr, ok := strings.Cut(rc.ORCPT, ";"); ok {
		ro.OriginalRecipientType = smtp.DSNAddressType(strings.ToUpper(t))
		ro.OriginalRecipient = addr
	}
	return ro
}
