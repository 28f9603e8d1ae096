package topology

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestPortOffset(t *testing.T) {
	top, err := Builtin("contoso")
	if err != nil {
		t.Fatal(err)
	}
	// LDAPS 50636 on EDGE01 is the highest port: 65535-50636 = 14899.
	for _, tc := range []struct {
		off  int
		want string // error substring; "" for no error
	}{
		{0, ""},
		{10000, ""},
		{14899, ""},
		{14900, "--port-offset 14900 moves LDAPS 50636 on EDGE01 past 65535"},
		{30000, "--port-offset 30000 moves LDAPS 50636 on EDGE01 past 65535"},
		{-1, "--port-offset -1"},
	} {
		err := top.CheckPortOffset(tc.off)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("CheckPortOffset(%d) = %v, want nil", tc.off, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("CheckPortOffset(%d) = %v, want an error with %q", tc.off, err, tc.want)
		}
	}
	if err := top.SetPortOffset(30000); err == nil || top.PortOffset() != 0 {
		t.Errorf("SetPortOffset(30000) = %v, offset now %d; want an error and offset 0", err, top.PortOffset())
	}
	if err := top.SetPortOffset(10000); err != nil {
		t.Fatal(err)
	}
	ex01 := top.Server("EX01")
	if got := top.Port(2525); got != 12525 {
		t.Errorf("Port(2525) = %d, want 12525", got)
	}
	if got, want := top.Endpoint(ex01, 475), netip.MustParseAddrPort("127.0.20.1:10475"); got != want {
		t.Errorf("Endpoint(EX01, 475) = %v, want %v", got, want)
	}
	l, ok := top.Listener(top.Server("EDGE01"), LDAPS)
	if !ok || l.Port != 60636 || l.BasePort != 50636 {
		t.Errorf("Listener(EDGE01, LDAPS) = %+v, want port 60636, documented 50636", l)
	}
	// The copy for real networks keeps the offset.
	nt, err := top.ForNetwork()
	if err != nil {
		t.Fatal(err)
	}
	if nt.PortOffset() != 10000 {
		t.Errorf("ForNetwork().PortOffset() = %d, want 10000", nt.PortOffset())
	}

	// Without an Edge nothing listens on 50636: 30000 fits.
	noedge, err := Builtin("contoso-noedge")
	if err != nil {
		t.Fatal(err)
	}
	if err := noedge.SetPortOffset(30000); err != nil {
		t.Errorf("contoso-noedge SetPortOffset(30000) = %v, want nil", err)
	}
	// A Send connector's port moves too.
	noedge.SendConnectors[0].Port = 60000
	if err := noedge.CheckPortOffset(6000); err == nil || !strings.Contains(err.Error(), `Send connector "To Internet" port 60000`) {
		t.Errorf("CheckPortOffset(6000) with a connector on 60000 = %v, want the connector named", err)
	}
}

func TestOpenProxyListenersFollowTheTable(t *testing.T) {
	top, _ := Builtin("contoso")
	var got []int
	for _, l := range top.Listeners(top.Server("INET01")) {
		switch l.Kind {
		case ProxySOCKS, ProxyWingate, ProxyHTTP:
			got = append(got, l.BasePort)
		}
	}
	want := []int{1081, 1080, 23, 6588, 3128, 80}
	if !slices.Equal(got, want) || !slices.Equal(OpenProxyPorts(), want) {
		t.Errorf("open proxy listeners on %v, table ports %v; want %v", got, OpenProxyPorts(), want)
	}
	tests := OpenProxyTests()
	tests[0].Ports[0] = 1
	if OpenProxyTests()[0].Ports[0] != 1081 {
		t.Error("OpenProxyTests returns the table itself; a caller changed it")
	}
}
