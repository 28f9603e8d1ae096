// Package socks holds the SOCKS wire format both sides of exsim speak: the
// open proxy of servers/proxyd answers it and the sender reputation tester of
// roles/senderrep asks it. SOCKS4 is the de facto protocol of Ying-Da Lee's
// "SOCKS: A protocol for TCP proxy across firewalls" and its 4A extension;
// SOCKS5 is RFC 1928.
package socks

import (
	"encoding/binary"
	"net/netip"
)

const (
	Version4 = 4
	Version5 = 5

	// CmdConnect is the CONNECT command of both versions.
	CmdConnect = 1

	// SOCKS4 reply codes ("CD" of the reply; VN of the reply is 0).
	V4Granted  = 0x5a
	V4Rejected = 0x5b

	// RFC 1928 section 3: methods.
	NoAuth       = 0x00
	NoAcceptable = 0xff

	// RFC 1928 section 5: address types.
	AddrIPv4   = 0x01
	AddrDomain = 0x03
	AddrIPv6   = 0x04

	// RFC 1928 section 6: reply field.
	Succeeded        = 0x00
	GeneralFailure   = 0x01
	NotAllowed       = 0x02
	NetUnreachable   = 0x03
	HostUnreachable  = 0x04
	ConnRefused      = 0x05
	TTLExpired       = 0x06
	CmdNotSupported  = 0x07
	AddrNotSupported = 0x08
)

// Message is VER=5 code RSV ATYP ADDR PORT with an IP address: a request of
// RFC 1928 section 4 when code is a command, a reply of section 6 when it is
// a reply code.
func Message(code byte, ap netip.AddrPort) []byte {
	a := ap.Addr().Unmap()
	b := []byte{Version5, code, 0}
	if a.Is4() {
		b = append(b, AddrIPv4)
	} else {
		b = append(b, AddrIPv6)
	}
	b = append(b, a.AsSlice()...)
	return binary.BigEndian.AppendUint16(b, ap.Port())
}

// ReplyText names the REP values of RFC 1928 section 6.
func ReplyText(rep byte) string {
	switch rep {
	case GeneralFailure:
		return "general failure"
	case NotAllowed:
		return "connection not allowed by ruleset"
	case NetUnreachable:
		return "network unreachable"
	case HostUnreachable:
		return "host unreachable"
	case ConnRefused:
		return "connection refused"
	case TTLExpired:
		return "TTL expired"
	case CmdNotSupported:
		return "command not supported"
	case AddrNotSupported:
		return "address type not supported"
	}
	return "unassigned"
}
