package smtpd

import (
	"slices"
	"strconv"
	"strings"
)

// Persona is the EHLO personality of a Receive connector.
type Persona int

const (
	// PersonaFrontend: Default Frontend (25), Client Frontend (587) and
	// Outbound Proxy Frontend (717) on a Mailbox server.
	PersonaFrontend Persona = iota
	// PersonaTransport: Default (2525), Client Proxy (465) and Default
	// Mailbox Delivery (475) on a Mailbox server.
	PersonaTransport
	// PersonaEdge: Default internal Receive connector (25) on an Edge.
	PersonaEdge
)

func (p Persona) String() string {
	switch p {
	case PersonaFrontend:
		return "frontend"
	case PersonaTransport:
		return "transport"
	case PersonaEdge:
		return "edge"
	}
	return "persona(" + strconv.Itoa(int(p)) + ")"
}

// Placeholders in the keyword lists; everything else is sent as written.
const (
	kwSize     = "SIZE"           // "SIZE <MaxMessageSize>"
	kwSizeBare = "SIZE\x00"       // "SIZE" without a value (Transport)
	kwStartTLS = "STARTTLS"       // only before TLS, only with Options.TLSConfig
	kwAnonTLS  = "X-ANONYMOUSTLS" // likewise
	kwAuth     = "AUTH"           // "AUTH <mechanisms>" from the AuthSession; omitted when none
)

// ehloKeywords are the EHLO lists of EXCHANGE.md section 2, in Exchange's
// order. Every keyword here is implemented by this package, except the
// Exchange-server verbs (X-EXPS, XEXCH50, XRDST, XSHADOWREQUEST) that only
// Exchange servers authenticated by Kerberos use; exsim answers them as an
// Exchange server answers a client that has no such permission.
var ehloKeywords = [...][]string{
	PersonaFrontend: {kwSize, "PIPELINING", "DSN", "ENHANCEDSTATUSCODES", kwStartTLS, kwAnonTLS, kwAuth,
		"X-EXPS GSSAPI NTLM", "8BITMIME", "BINARYMIME", "CHUNKING", "SMTPUTF8", "XRDST"},
	PersonaTransport: {kwSizeBare, "PIPELINING", "DSN", "ENHANCEDSTATUSCODES", kwStartTLS, kwAnonTLS, kwAuth,
		"X-EXPS GSSAPI NTLM", "8BITMIME", "BINARYMIME", "CHUNKING", "SMTPUTF8", "XEXCH50", "XRDST", "XSHADOWREQUEST"},
	PersonaEdge: {kwSize, "PIPELINING", "DSN", "ENHANCEDSTATUSCODES", kwStartTLS, kwAnonTLS,
		"X-EXPS NTLM", "8BITMIME", "BINARYMIME", "CHUNKING", "SMTPUTF8", "XRDST"},
}

// advertises reports whether the persona's EHLO list carries keyword.
func (p Persona) advertises(keyword string) bool {
	if p < 0 || int(p) >= len(ehloKeywords) {
		return false
	}
	for _, kw := range ehloKeywords[p] {
		if kw == keyword {
			return true
		}
	}
	return false
}

// expsMechanism reports whether the persona's X-EXPS keyword lists mech.
func (p Persona) expsMechanism(mech string) bool {
	if p < 0 || int(p) >= len(ehloKeywords) {
		return false
	}
	for _, kw := range ehloKeywords[p] {
		if rest, ok := strings.CutPrefix(kw, "X-EXPS "); ok && slices.Contains(strings.Fields(rest), mech) {
			return true
		}
	}
	return false
}

// ehloReply builds the EHLO reply for the connection's current state.
func (c *Conn) ehloReply() *Reply {
	s := c.srv
	p := s.opts.Persona
	if p < 0 || int(p) >= len(ehloKeywords) {
		p = PersonaFrontend
	}
	var b strings.Builder
	b.Grow(256)
	b.WriteString(s.hostname)
	b.WriteString(" Hello [")
	b.WriteString(c.remoteIP)
	b.WriteByte(']')
	for _, kw := range ehloKeywords[p] {
		switch kw {
		case kwSize:
			b.WriteString("\nSIZE ")
			b.WriteString(strconv.FormatInt(s.lim.MaxMessageSize, 10))
			continue
		case kwSizeBare:
			b.WriteString("\nSIZE")
			continue
		case kwStartTLS, kwAnonTLS:
			if s.opts.TLSConfig == nil || c.tlsState != nil {
				continue
			}
		case kwAuth:
			mechs := c.advertisedMechanisms()
			if len(mechs) == 0 {
				continue
			}
			b.WriteString("\nAUTH")
			for _, m := range mechs {
				b.WriteByte(' ')
				b.WriteString(m)
			}
			continue
		}
		b.WriteByte('\n')
		b.WriteString(kw)
	}
	return &Reply{Code: 250, Text: b.String()}
}
