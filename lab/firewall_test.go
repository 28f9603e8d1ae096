//go:build linux

package lab

import (
	"net"
	"testing"

	"github.com/vishvananda/netlink"
)

func TestIsDefault(t *testing.T) {
	_, v4, _ := net.ParseCIDR("0.0.0.0/0")
	_, v6, _ := net.ParseCIDR("::/0")
	_, sub, _ := net.ParseCIDR("192.0.2.0/24")
	gw := net.ParseIP("192.0.2.253")
	for _, tc := range []struct {
		name string
		r    netlink.Route
		want bool
	}{
		{"nil dst with gateway", netlink.Route{Gw: gw}, true},
		{"0.0.0.0/0 (16-byte IP, as netlink reports it)", netlink.Route{Dst: &net.IPNet{IP: net.IPv4zero, Mask: net.CIDRMask(0, 32)}, Gw: gw}, true},
		{"0.0.0.0/0 (4-byte IP)", netlink.Route{Dst: v4, Gw: gw}, true},
		{"::/0", netlink.Route{Dst: v6, Gw: net.ParseIP("2001:db8::1")}, true},
		{"connected subnet", netlink.Route{Dst: sub}, false},
		{"nil dst without gateway", netlink.Route{}, false},
	} {
		if got := isDefault(tc.r); got != tc.want {
			t.Errorf("isDefault(%s) = %v, want %v", tc.name, got, tc.want)
		}
	}
}
