package roles

import (
	"net/netip"
	"testing"

	"github.com/exsim/exsim/topology"
)

// TestBindAnyAddresses: with BindAny (a Kubernetes pod behind its
// Service's ClusterIP) every listener binds the unspecified address of
// its family on its own port, loopback-only ones stay on loopback; without
// it each binds the topology's address.
func TestBindAnyAddresses(t *testing.T) {
	top, err := topology.Builtin("contoso")
	if err != nil {
		t.Fatal(err)
	}
	edge := *top.Server("EDGE01")
	edge.Address = "10.96.2.1" // a ClusterIP
	for _, tc := range []struct {
		bindAny bool
		bind    string
		port    int
		want    string
	}{
		{true, "10.96.2.1", 25, "0.0.0.0:25"},
		{true, "fd00::1", 443, "[::]:443"},
		{true, "127.0.0.1", 50389, "127.0.0.1:50389"},
		{false, "10.96.2.1", 25, "10.96.2.1:25"},
	} {
		s := &Server{Config: &edge, rt: &Runtime{o: Options{BindAny: tc.bindAny}}}
		l := topology.Listener{Bind: netip.MustParseAddr(tc.bind), Port: tc.port}
		if got := s.bindAddr(l).String(); got != tc.want {
			t.Errorf("BindAny=%v bindAddr(%s:%d) = %s, want %s", tc.bindAny, tc.bind, tc.port, got, tc.want)
		}
	}
}
