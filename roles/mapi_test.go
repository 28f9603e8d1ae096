package roles

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exsim/exsim/internal/labtest"
	"github.com/exsim/exsim/internal/mapi"
	"github.com/exsim/exsim/internal/mapiclient"
)

var mapiBlocks = labtest.NewBlocks(141, 144)

// mapiLab starts contoso without an Edge, with MAPI/HTTP timers t.
func mapiLab(t *testing.T, timers MAPITimers) *Runtime {
	t.Helper()
	top := labtest.Topology(t, "contoso-noedge", mapiBlocks.Next(t))
	rt, err := Start(context.Background(), Options{Topology: top, DataDir: t.TempDir(), Logger: testLogger(t), MAPI: timers})
	if err != nil {
		t.Fatal(err)
	}
	labtest.CloseAtEnd(t, rt)
	return rt
}

// mapiSession connects alice to her mailbox server with the repository's
// MAPI/HTTP client, over the lab's HTTPS with NTLM.
func mapiSession(t *testing.T, rt *Runtime, onPending func(string)) *mapiclient.Session {
	t.Helper()
	hc := webClient(t, rt)
	hc.Timeout = 0 // NotificationWait holds the request
	ex01 := rt.o.Topology.Server("EX01")
	s, err := mapiclient.Dial(t.Context(), mapiclient.Config{
		URL:  fmt.Sprintf("https://%s:%d/mapi/", ex01.FQDN, 443+labtest.PortOffset),
		User: "alice@contoso.com", Password: "P@ssw0rd", HTTP: hc, OnPending: onPending})
	if err != nil {
		t.Fatalf("mapiclient.Dial = %v", err)
	}
	return s
}

// TestMAPIOverHTTPInbox: alice's Outlook-like client logs on over
// MAPI/HTTP, waits with NotificationWait, and lists the Inbox row of a
// message carol sent from the internet over SMTP.
func TestMAPIOverHTTPInbox(t *testing.T) {
	rt := mapiLab(t, MAPITimers{PendingPeriod: 200 * time.Millisecond, NotificationWait: 20 * time.Second})
	ctx := t.Context()
	s := mapiSession(t, rt, nil)
	defer s.Close(ctx)
	es, err := s.ResolveNames(ctx, "bob")
	if err != nil || es[0].Address != "bob@contoso.com" {
		t.Fatalf("ResolveNames(bob) = %+v, %v", es, err)
	}
	before, err := s.Inbox(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	if r := sendFrom(t, rt, "INET01", "carol@fabrikam.com", "mapi over http", "alice@contoso.com"); r.Err != nil {
		t.Fatal(r.Err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		pending, err := s.WaitForMail(ctx)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := s.Inbox(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range rows {
			if m.Subject != "mapi over http" {
				continue
			}
			if len(rows) != len(before)+1 || m.Received.Before(sent.Add(-time.Minute)) || m.Received.After(time.Now().Add(time.Minute)) {
				t.Errorf("Inbox = %+v (before: %d rows): want one new row received now", rows, len(before))
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no Inbox row for the message after 20 s (last NotificationWait: %v)", pending)
		}
	}
}

// TestMAPISessionSurvivesIdleWithPings is a real minute of idleness: a
// Session Context whose idle life is 25 s survives 60 s of PINGs and
// NotificationWaits (each one streaming PENDING lines), while one left
// without requests for 30 s is gone.
func TestMAPISessionSurvivesIdleWithPings(t *testing.T) {
	if testing.Short() {
		t.Skip("takes a real minute; run without -short")
	}
	t.Parallel()
	rt := mapiLab(t, MAPITimers{PendingPeriod: time.Second, SessionTimeout: 25 * time.Second, NotificationWait: 10 * time.Second})
	ctx := t.Context()
	var pendings atomic.Int32
	kept := mapiSession(t, rt, func(req string) {
		if req == mapi.ReqNotificationWait {
			pendings.Add(1)
		}
	})
	left := mapiSession(t, rt, nil)
	start := time.Now()
	for time.Since(start) < 60*time.Second {
		if _, err := kept.WaitForMail(ctx); err != nil {
			t.Fatalf("NotificationWait after %v: %v", time.Since(start).Round(time.Second), err)
		}
		if err := kept.Ping(ctx); err != nil {
			t.Fatalf("PING after %v: %v", time.Since(start).Round(time.Second), err)
		}
	}
	if _, err := kept.Inbox(ctx); err != nil {
		t.Fatalf("Inbox after a minute kept alive: %v", err)
	}
	if pendings.Load() < 10 {
		t.Errorf("%d PENDING lines in a minute of 10 s NotificationWaits with a 1 s period, want one a second", pendings.Load())
	}
	var re *mapiclient.ResponseError
	if _, err := left.Inbox(ctx); !errors.As(err, &re) || re.Code != mapi.RespContextNotFound {
		t.Fatalf("Inbox of the session left idle 60 s = %v, want X-ResponseCode 10 (Context Not Found)", err)
	}
}
