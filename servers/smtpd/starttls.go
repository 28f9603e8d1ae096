package smtpd

import (
	"context"
	"crypto/tls"
	"strings"
	"time"
)

// cmdStartTLS handles STARTTLS (RFC 3207) and Exchange's X-ANONYMOUSTLS,
// which negotiates the same way.
func (c *Conn) cmdStartTLS(arg []byte) bool {
	switch {
	case c.srv.opts.TLSConfig == nil:
		return c.protocolError(ReplyUnrecognizedCommand)
	case c.tlsState != nil, c.bdat != nil:
		return c.protocolError(ReplyBadSequence)
	case len(arg) > 0:
		return c.protocolError(ReplyInvalidArguments)
	}
	c.writeReply(ReplyTLSReady)
	if err := c.flush(); err != nil {
		c.closedBy = "Remote"
		return false
	}
	// RFC 3207 section 6: nothing the client sent before the handshake may
	// be taken as a command afterwards (CVE-2011-0411).
	c.br.Discard(c.br.Buffered())
	tc := tls.Server(c.raw, c.srv.opts.TLSConfig)
	if !c.handshake(tc) {
		return false
	}
	// RFC 3207 section 4.2: forget everything learnt before TLS.
	c.resetTx()
	c.helo, c.ehlo = "", false
	c.authed, c.authID = false, ""
	return c.tlsEstablished()
}

// handshake runs the TLS handshake within the inactivity timeout and makes
// tc the connection.
func (c *Conn) handshake(tc *tls.Conn) bool {
	d := time.Now().Add(c.srv.lim.ConnectionInactivityTimeout)
	if d.After(c.deadline) {
		d = c.deadline
	}
	c.raw.SetDeadline(d)
	ctx, cancel := context.WithDeadline(context.Background(), d)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		if c.srv.opts.ProtocolLog != nil {
			c.plog(EventInfo, "", "TLS negotiation failed with error "+err.Error())
		}
		c.closedBy = "Remote"
		return false
	}
	cs := tc.ConnectionState()
	c.nc = tc
	c.tlsState = &cs
	if c.srv.opts.ProtocolLog != nil {
		var peer string
		if len(cs.PeerCertificates) > 0 {
			peer = cs.PeerCertificates[0].Subject.String()
		}
		c.plog(EventInfo, peer, "TLS protocol "+exchangeProtocolName(cs.Version)+" negotiation succeeded using "+TLSDescription(&cs))
	}
	return true
}

// tlsEstablished tells a TLSSession; its error is sent and ends the session.
func (c *Conn) tlsEstablished() bool {
	ts, ok := c.session.(TLSSession)
	if !ok {
		return true
	}
	if err := ts.TLSEstablished(c.tlsState); err != nil {
		c.farewell(c.backendReply(err, ReplyServiceNotAvailable))
		return false
	}
	return true
}

// TLSDescription is the TLS part of an Exchange Received header:
// "version=TLS1_2, cipher=TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".
func TLSDescription(cs *tls.ConnectionState) string {
	if cs == nil {
		return ""
	}
	return "version=" + tlsVersionName(cs.Version) + ", cipher=" + cipherSuiteName(cs.CipherSuite)
}

// cipherSuiteNames are tls.CipherSuiteName's answers for the suites Go
// knows: tls.CipherSuiteName builds both suite lists on every call, and
// TLSDescription runs for every message an Exchange hop receives.
var cipherSuiteNames = func() map[uint16]string {
	m := map[uint16]string{}
	for _, cs := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		m[cs.ID] = cs.Name
	}
	return m
}()

func cipherSuiteName(id uint16) string {
	if name, ok := cipherSuiteNames[id]; ok {
		return name
	}
	return tls.CipherSuiteName(id)
}

func tlsVersionName(v uint16) string {
	switch v {
	case tls.VersionTLS10:
		return "TLS1_0"
	case tls.VersionTLS11:
		return "TLS1_1"
	case tls.VersionTLS12:
		return "TLS1_2"
	case tls.VersionTLS13:
		return "TLS1_3"
	}
	return strings.ReplaceAll(tls.VersionName(v), " ", "")
}

// exchangeProtocolName is the Schannel protocol name Exchange logs.
func exchangeProtocolName(v uint16) string {
	return "SP_PROT_" + tlsVersionName(v) + "_SERVER"
}
