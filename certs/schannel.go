package certs

import (
	"crypto/ecdsa"
	"crypto/tls"
	"slices"
)

// The TLS persona of exsim's listeners: what SChannel offers on the Windows
// Server an Exchange server runs on, as far as Go's crypto/tls lets a server
// choose. Sources:
//
//   - "TLS Cipher Suites in Windows Server 2019" and "... in Windows Server
//     2022" (learn.microsoft.com/windows/win32/secauthn/, the pages "Cipher
//     Suites in Schannel" links per version): the suites enabled by default
//     and their priority order; TLS 1.2 opens with the ECDHE AES-GCM suites,
//     ECDSA before RSA and AES-256 before AES-128; Windows Server 2022 adds
//     TLS_AES_256_GCM_SHA384 and TLS_AES_128_GCM_SHA256 for TLS 1.3.
//   - "Exchange Server TLS configuration best practices"
//     (learn.microsoft.com/exchange/exchange-tls-configuration): TLS 1.2
//     only on Exchange 2016 and 2019, and the cipher suite list reduced to
//     the ECDHE AES-GCM suites (HealthChecker flags the rest).
//   - "Exchange Server 2019 CU15" (the 2025 H1 Cumulative Update
//     announcement): TLS 1.3 on Windows Server 2022 and later, for HTTPS
//     client access only; SMTP (and so every Receive connector) stays TLS 1.2.
//
// What Go cannot imitate, so a careful scanner still tells exsim apart:
//   - the server's preference order, directly: since Go 1.17 crypto/tls
//     ignores Config.CipherSuites' order and picks by its own (AES-128-GCM
//     before AES-256-GCM on hardware with AES instructions), where SChannel
//     picks AES-256 first. ServerTLSFor works around it for TLS 1.2: per
//     handshake it offers only the first suite of SChannel's list that the
//     client offers (GetConfigForClient), so the choice is SChannel's.
//   - TLS 1.3 suites: Go always enables TLS_AES_128_GCM_SHA256,
//     TLS_AES_256_GCM_SHA384 and TLS_CHACHA20_POLY1305_SHA256 in its own
//     order; SChannel has no ChaCha20. Only listeners that are TLS 1.3 on
//     Exchange offer TLS 1.3 here, so the difference shows there only.
//   - DHE: Go has no finite-field Diffie-Hellman, so Windows' stock
//     TLS_DHE_RSA_WITH_AES_*_GCM_* suites (after the ECDHE ones) are absent;
//     the Exchange guidance disables them anyway.
//   - the stock (unhardened) Windows list continues with ECDHE CBC and
//     RSA key exchange suites; exsim offers the hardened list the Exchange
//     guidance asks for, which is also what a HealthChecker-clean server shows.

// schannelTLS12 are the TLS 1.2 suites, in SChannel's priority order.
// Go uses only those matching the certificate's key (ECDSA or RSA).
var schannelTLS12 = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
}

// SChannelCipherSuites returns the TLS 1.2 suites exsim's listeners offer,
// in SChannel's priority order.
func SChannelCipherSuites() []uint16 { return append([]uint16(nil), schannelTLS12...) }

// serverCurves are SChannel's default key exchange groups on Windows Server
// 2019 and 2022 (curve25519, NistP256, NistP384). Go's default puts the
// hybrid post-quantum X25519MLKEM768 first, which no Windows Server offers
// and which costs a third more CPU per handshake (MEASUREMENTS.md).
var serverCurves = []tls.CurveID{tls.X25519, tls.CurveP256, tls.CurveP384}

// clientCurves are what exsim's own clients offer (servers to servers).
var clientCurves = []tls.CurveID{tls.X25519, tls.CurveP256}

// Persona is the TLS behaviour of one listener.
type Persona struct {
	// TLS13 lets the listener negotiate TLS 1.3: Exchange 2019 CU15 on
	// Windows Server 2022 or later, HTTPS only. Otherwise TLS 1.2 is the
	// highest version, as on every other Exchange listener.
	TLS13 bool
	// ExchangeServerAuth requests a client certificate without requiring
	// one: the Receive connectors on which Exchange servers authenticate
	// each other by certificate (Exchange server authentication). A client
	// without a certificate, or with one the lab CA did not issue, is never
	// refused: the role decides what a certificate proves (CA.PeerName).
	// Without it no CertificateRequest is sent, as IIS, IMAP4, POP3 and the
	// Client Frontend connector do not send one.
	ExchangeServerAuth bool
}

// ServerTLSFor returns the configuration of a listener that presents cert
// with persona p. Session tickets stay enabled (Go's default), so clients
// resume instead of repeating the full handshake.
func (ca *CA) ServerTLSFor(cert tls.Certificate, p Persona) *tls.Config {
	c := &tls.Config{
		Certificates:     []tls.Certificate{cert},
		MinVersion:       tls.VersionTLS12,
		MaxVersion:       tls.VersionTLS12,
		CipherSuites:     SChannelCipherSuites(),
		CurvePreferences: serverCurves,
	}
	if p.TLS13 {
		c.MaxVersion = tls.VersionTLS13
	}
	if p.ExchangeServerAuth {
		c.ClientAuth = tls.RequestClientCert
	}
	_, isECDSA := cert.PrivateKey.(*ecdsa.PrivateKey)
	// SChannel's server preference (see above). The clone inherits c's
	// session ticket keys (crypto/tls uses the original config's), so
	// resumption is unaffected; c is read at handshake time, so settings a
	// caller adds after this call (ServerTLS) are kept.
	c.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		pick := schannelPick(hello.CipherSuites, isECDSA)
		if pick == 0 {
			return nil, nil // no common suite: the handshake fails as it should
		}
		cc := c.Clone()
		cc.GetConfigForClient = nil
		cc.CipherSuites = []uint16{pick}
		return cc, nil
	}
	return c
}

// schannelPick is the TLS 1.2 suite SChannel chooses among offered for a
// certificate of the key type (ECDSA or RSA): its first in priority order.
func schannelPick(offered []uint16, ecdsaKey bool) uint16 {
	for _, s := range schannelTLS12 {
		isECDSASuite := s == tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 || s == tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
		if isECDSASuite == ecdsaKey && slices.Contains(offered, s) {
			return s
		}
	}
	return 0
}

// ServerTLS returns the configuration of a listener that only other lab
// servers use (the Edge's AD LDS on 50636, tests): the SChannel TLS 1.2
// persona, and a client certificate requested and, when given, verified
// against the lab CA during the handshake, so a handler may trust
// PeerCertificates as they are.
func (ca *CA) ServerTLS(cert tls.Certificate) *tls.Config {
	c := ca.ServerTLSFor(cert, Persona{})
	c.ClientAuth = tls.VerifyClientCertIfGiven
	c.ClientCAs = ca.Pool()
	return c
}

// ClientTLS returns the configuration to dial serverName, trusting only the
// lab CA. With a non-nil cert the client presents it (mutual TLS between
// Exchange servers).
func (ca *CA) ClientTLS(serverName string, cert *tls.Certificate) *tls.Config {
	c := &tls.Config{
		RootCAs:          ca.Pool(),
		ServerName:       serverName,
		MinVersion:       tls.VersionTLS12,
		CurvePreferences: clientCurves,
	}
	if cert != nil {
		c.Certificates = []tls.Certificate{*cert}
	}
	return c
}
