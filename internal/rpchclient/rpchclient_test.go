package rpchclient_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exsim/exsim/internal/dcerpc"
	"github.com/exsim/exsim/internal/nspi"
	"github.com/exsim/exsim/internal/ntlm"
	"github.com/exsim/exsim/internal/rpchclient"
	"github.com/exsim/exsim/servers/httpd/rpch"
)

const entries = 2000 // enough rows to pass the 64 KB receive window

// proxy is an RPC proxy on loopback: NTLM on the channels and on the
// binds, NSPI on every port.
func proxy(t *testing.T, timeout time.Duration) (rpchclient.Options, *[]string) {
	t.Helper()
	lookup := func(user, _ string) (string, string, bool) {
		return "P@ssw0rd", user, strings.EqualFold(user, "alice@contoso.com")
	}
	nt := ntlm.NewServer(ntlm.Options{TargetName: "CONTOSO", NetBIOSComputer: "EX01", Lookup: lookup})
	book := nspi.NewServer(func(context.Context) ([]nspi.Entry, error) {
		var out []nspi.Entry
		for i := range entries {
			out = append(out, nspi.Entry{DisplayName: fmt.Sprintf("User %04d", i), Address: fmt.Sprintf("user%04d@contoso.com", i)})
		}
		return out, nil
	})
	var mu sync.Mutex
	var accounts []string
	s := rpch.NewServer(rpch.Options{ConnectionTimeout: timeout, NewConn: func(int) *dcerpc.Conn {
		return dcerpc.NewConn(dcerpc.Options{NTLM: nt, Interfaces: []dcerpc.Interface{book.Interface()}})
	}})
	auth := ntlm.NewHTTPAuth(nt, ntlm.HTTPOptions{})
	srv := httptest.NewUnstartedServer(auth.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, _ := ntlm.AccountFromContext(r.Context())
		mu.Lock()
		accounts = append(accounts, r.Method+" "+a)
		mu.Unlock()
		if r.Method == "RPC_IN_DATA" {
			s.ServeIn(w, r, 6004)
			return
		}
		s.ServeOut(w, r)
	})))
	srv.Config.ConnContext = auth.ConnContext
	srv.StartTLS()
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()
	return rpchclient.Options{
		Dial: func(ctx context.Context) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
			if err != nil {
				return nil, err
			}
			return tls.Client(c, &tls.Config{InsecureSkipVerify: true}), nil // the test server's own certificate
		},
		Host: addr, Server: "ex01.contoso.com", Port: 6004, User: "alice@contoso.com", Password: "P@ssw0rd",
	}, &accounts
}

func TestAddressBookOverRPCOverHTTP(t *testing.T) {
	o, accounts := proxy(t, 400*time.Millisecond)
	ctx := context.Background()
	c, err := rpchclient.Dial(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.ConnectionTimeout != 400*time.Millisecond {
		t.Errorf("ConnectionTimeout %v from CONN/A3", c.ConnectionTimeout)
	}
	if err := c.Bind(ctx, dcerpc.UUIDBytes(nspi.InterfaceUUID), 56, 0); err != nil {
		t.Fatal(err)
	}
	h, err := nspi.Bind(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	st, err := nspi.UpdateStat(ctx, c, h)
	if err != nil || st.TotalRecs != entries {
		t.Fatalf("UpdateStat = %+v, %v", st, err)
	}
	rows, err := nspi.QueryRows(ctx, c, h, entries, nspi.TagDisplayName, nspi.TagSMTPAddress)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != entries || rows[entries-1][1] != fmt.Sprintf("user%04d@contoso.com", entries-1) {
		t.Fatalf("%d rows, last %q", len(rows), rows[len(rows)-1])
	}
	// Idle: the proxy's PINGs keep the connection; it lasts the hold.
	if err := c.Hold(ctx, time.Second); err != nil {
		t.Fatalf("Hold: %v", err)
	}
	if err := nspi.Unbind(ctx, c, h); err != nil {
		t.Fatal(err)
	}
	want := []string{"RPC_IN_DATA alice@contoso.com", "RPC_OUT_DATA alice@contoso.com"}
	if got := strings.Join(*accounts, ","); got != strings.Join(want, ",") && got != want[1]+","+want[0] {
		t.Errorf("channels authenticated as %v", *accounts)
	}
}

func TestWrongPasswordIsAChannelError(t *testing.T) {
	o, _ := proxy(t, 0)
	o.Password = "wrong"
	_, err := rpchclient.Dial(context.Background(), o)
	var ce *rpchclient.ChannelError
	if !errors.As(err, &ce) || !strings.HasPrefix(ce.Status, "401") || !strings.Contains(err.Error(), "credentials were refused") {
		t.Fatalf("err = %v, want a 401 ChannelError", err)
	}
}

// dial opens a virtual connection to a new proxy.
func dial(t *testing.T) *rpchclient.Conn {
	t.Helper()
	o, _ := proxy(t, 0)
	c, err := rpchclient.Dial(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestUnknownInterfaceIsABindError(t *testing.T) {
	c := dial(t)
	emsmdb := dcerpc.UUIDBytes("A4F1DB00-CA47-1067-B31F-00DD010662DA") // MS-OXCRPC
	err := c.Bind(context.Background(), emsmdb, 0, 81)
	var be *rpchclient.BindError
	if !errors.As(err, &be) || be.Reason != 1 || !strings.Contains(err.Error(), "abstract syntax not supported") {
		t.Fatalf("err = %v, want the abstract syntax refused", err)
	}
}

func TestCallFaults(t *testing.T) {
	c := dial(t)
	ctx := context.Background()
	if err := c.Bind(ctx, dcerpc.UUIDBytes(nspi.InterfaceUUID), 56, 0); err != nil {
		t.Fatal(err)
	}
	h, err := nspi.Bind(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Call(ctx, 99, append(h[:], 0, 0, 0, 0)); !errors.Is(err, dcerpc.FaultOpRangeError) {
		t.Fatalf("unknown opnum: %v", err)
	}
	if _, err := nspi.UpdateStat(ctx, c, nspi.Handle{1}); !errors.Is(err, dcerpc.FaultContext) {
		t.Fatalf("unknown handle: %v", err)
	}
}

// TestHoldSeesTheCut: a connection the proxy ends is reported by Hold.
func TestHoldSeesTheCut(t *testing.T) {
	o, _ := proxy(t, 0)
	var conns []net.Conn
	var mu sync.Mutex
	dialer := o.Dial
	o.Dial = func(ctx context.Context) (net.Conn, error) {
		c, err := dialer(ctx)
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
		return c, err
	}
	c, err := rpchclient.Dial(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	time.AfterFunc(100*time.Millisecond, func() {
		mu.Lock()
		defer mu.Unlock()
		conns[1].Close() // the OUT channel's connection
	})
	if err := c.Hold(context.Background(), 30*time.Second); err == nil || !strings.Contains(err.Error(), "OUT channel ended") {
		t.Fatalf("Hold = %v, want the OUT channel ended", err)
	}
}
