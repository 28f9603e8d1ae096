package labnet

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/exsim/exsim/internal/loopback"
)

// TestIdleFaultCutsAQuietConnection: the server answers once and then
// says nothing; the idle fault cuts the connection and the client's read
// says why. An echo keeps another connection alive across several idle
// periods' worth of traffic.
func TestIdleFaultCutsAQuietConnection(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	loopback.Serve(t, l, func(c net.Conn) { io.Copy(c, c) })
	var faults Faults
	f, err := faults.Add(Fault{From: "INET01", Action: ActionIdle, Idle: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(f.String(), "after 300ms without traffic") {
		t.Errorf("String() = %q", f.String())
	}
	d := &Dialer{Server: "INET01", Faults: &faults}
	c, err := d.DialContext(context.Background(), "tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 4)
	// Traffic restarts the clock: a ping-pong for longer than the idle
	// timeout in all keeps the connection.
	for range 10 {
		if _, err := c.Write([]byte("ping")); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatalf("a connection with traffic was cut: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Silence: the read ends with the fault's reason, not a hang.
	_, err = c.Read(buf)
	var cut *IdleCutError
	if !errors.As(err, &cut) || cut.Idle != 300*time.Millisecond {
		t.Fatalf("quiet read = %v, want an IdleCutError", err)
	}
	if _, err := faults.Add(Fault{Action: ActionIdle}); err == nil {
		t.Error("Add accepted an idle fault without a duration")
	}
}
