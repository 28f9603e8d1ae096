package socks

import (
	"bytes"
	"net/netip"
	"testing"
)

func TestMessage(t *testing.T) {
	check := func(code byte, ap string, want ...byte) {
		t.Helper()
		if got := Message(code, netip.MustParseAddrPort(ap)); !bytes.Equal(got, want) {
			t.Errorf("Message(%d, %s) = %v, want %v", code, ap, got, want)
		}
	}
	check(CmdConnect, "127.0.0.1:25", 5, 1, 0, AddrIPv4, 127, 0, 0, 1, 0, 25)
	// A v4-mapped address goes out as IPv4.
	check(Succeeded, "[::ffff:127.0.0.1]:1080", 5, 0, 0, AddrIPv4, 127, 0, 0, 1, 0x04, 0x38)
	check(HostUnreachable, "[::1]:587", 5, 4, 0, AddrIPv6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x02, 0x4b)
}

func TestReplyText(t *testing.T) {
	for rep, want := range map[byte]string{NotAllowed: "connection not allowed by ruleset", AddrNotSupported: "address type not supported", Succeeded: "unassigned", 9: "unassigned"} {
		if got := ReplyText(rep); got != want {
			t.Errorf("ReplyText(%d) = %q, want %q", rep, got, want)
		}
	}
}
