package socks

import (
	"bytes"
	"net/netip"
	"testing"
)

func TestMessage(t *testing.T) {
	tests := []struct {
		code byte
		ap   string
		want []byte
	}{
		{CmdConnect, "127.0.0.1:25", []byte{5, 1, 0, AddrIPv4, 127, 0, 0, 1, 0, 25}},
		{Succeeded, "[::ffff:127.0.0.1]:1080", []byte{5, 0, 0, AddrIPv4, 127, 0, 0, 1, 0x04, 0x38}},
		{HostUnreachable, "[::1]:587", []byte{5, 4, 0, AddrIPv6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x02, 0x4b}},
	}
	for _, tc := range tests {
		if got := Message(tc.code, netip.MustParseAddrPort(tc.ap)); !bytes.Equal(got, tc.want) {
			t.Errorf("Message(%d, %s) = %v, want %v", tc.code, tc.ap, got, tc.want)
		}
	}
}

func TestReplyText(t *testing.T) {
	for rep, want := range map[byte]string{NotAllowed: "connection not allowed by ruleset", AddrNotSupported: "address type not supported", Succeeded: "unassigned", 9: "unassigned"} {
		if got := ReplyText(rep); got != want {
			t.Errorf("ReplyText(%d) = %q, want %q", rep, got, want)
		}
	}
}
