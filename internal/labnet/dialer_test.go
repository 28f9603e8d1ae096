package labnet

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/exsim/exsim/internal/loopback"
)

func listen(t *testing.T, addr string) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	loopback.Serve(t, l, func(c net.Conn) { c.Write([]byte(c.RemoteAddr().String())) })
	return l
}

func TestDialBindsSource(t *testing.T) {
	l := listen(t, "127.0.0.1:0")
	d := &Dialer{Server: "EX01", Source: netip.MustParseAddr("127.0.20.1")}
	c, err := d.DialContext(context.Background(), "tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 64)
	n, _ := c.Read(buf)
	host, _, _ := net.SplitHostPort(string(buf[:n]))
	if host != "127.0.20.1" {
		t.Errorf("server saw %s, want 127.0.20.1", host)
	}
}

func TestGuardRefusesOutside(t *testing.T) {
	l := listen(t, "127.0.0.1:0")
	d := &Dialer{Guard: &AllowList{Addrs: map[netip.Addr]bool{netip.MustParseAddr("127.0.0.2"): true}}}
	_, err := d.DialContext(context.Background(), "tcp", l.Addr().String())
	if !errors.Is(err, ErrOutsideTopology) {
		t.Errorf("DialContext outside = %v, want ErrOutsideTopology", err)
	}
	if _, err := d.DialContext(context.Background(), "tcp", "mx.fabrikam.com:25"); err == nil {
		t.Error("dialling a name succeeded; names must go through the lab DNS")
	}
}

func TestFaults(t *testing.T) {
	l := listen(t, "127.0.0.1:0")
	ap := netip.MustParseAddrPort(l.Addr().String())
	var faults Faults
	d := &Dialer{Server: "INET01", Faults: &faults, Timeout: 200 * time.Millisecond}
	ctx := context.Background()

	f, err := faults.Add(Fault{From: "INET01", To: "127.0.0.1", Port: int(ap.Port()), Action: ActionReset})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.DialContext(ctx, "tcp", l.Addr().String()); !IsRefused(err) {
		t.Errorf("reset fault: %v, want refused", err)
	}
	other := &Dialer{Server: "EX01", Faults: &faults}
	if c, err := other.DialContext(ctx, "tcp", l.Addr().String()); err != nil {
		t.Errorf("fault from INET01 hit EX01: %v", err)
	} else {
		c.Close()
	}
	faults.Remove(f.ID)

	faults.Add(Fault{To: "127.0.0.1", Action: ActionDrop})
	start := time.Now()
	if _, err := d.DialContext(ctx, "tcp", l.Addr().String()); !IsTimeout(err) {
		t.Errorf("drop fault: %v, want timeout", err)
	}
	if time.Since(start) < 150*time.Millisecond {
		t.Error("drop returned before the timeout")
	}
	faults.Clear()

	faults.Add(Fault{Action: ActionDelay, Delay: 50 * time.Millisecond})
	start = time.Now()
	c, err := d.DialContext(ctx, "tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if time.Since(start) < 50*time.Millisecond {
		t.Error("delay fault did not delay")
	}
	if _, err := faults.Add(Fault{Action: "explode"}); err == nil {
		t.Error("Add accepted a bad action")
	}
}
