package control_test

import (
	"context"
	"testing"

	"github.com/exsim/exsim/internal/control"
	"github.com/exsim/exsim/internal/labnet"
	"github.com/exsim/exsim/internal/labtest"
	"github.com/exsim/exsim/probe"
	"github.com/exsim/exsim/roles"
	"github.com/exsim/exsim/topology"
)

// blocks are the dashboard tests' address blocks (see labtest).
var blocks = labtest.NewBlocks(181, 184)

// startDashboard runs the contoso lab with the documented firewall
// simulated (closed flows reset, so a probe takes no timeouts) and its
// admin address, and returns the runtime and the dashboard's URL.
func startDashboard(t *testing.T, edit func(*topology.Topology)) (*roles.Runtime, string) {
	t.Helper()
	top := labtest.Topology(t, "contoso", blocks.Next(t))
	if edit != nil {
		edit(top)
	}
	rt, err := roles.Start(context.Background(), roles.Options{Topology: top, DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	labtest.CloseAtEnd(t, rt)
	for _, f := range probe.SimulatedFirewall(top, probe.Flows(top), labnet.ActionReset) {
		if _, err := rt.Faults().Add(f); err != nil {
			t.Fatal(err)
		}
	}
	api, err := control.Listen("127.0.0.1:0", testToken, rt, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), patience)
		defer cancel()
		if err := api.Shutdown(ctx); err != nil {
			t.Errorf("admin API Shutdown = %v, want nil (an event stream kept it busy?)", err)
		}
	})
	return rt, api.URL()
}

// edgeToMailbox is the id of the flow EDGE01 -> EX01:25.
func edgeToMailbox(t *testing.T) string {
	t.Helper()
	top := labtest.Topology(t, "contoso", 0)
	for _, f := range probe.Flows(top) {
		if f.Source == "EDGE01" && f.Dest == "EX01" && f.BasePort == 25 {
			return f.ID
		}
	}
	t.Fatal("no flow EDGE01 -> EX01:25 in the catalogue")
	return ""
}

// inbox lists the subjects in a mailbox.
func inbox(rt *roles.Runtime, server, address string) []string {
	msgs, _ := rt.MailboxMessages(server, address, "INBOX")
	var out []string
	for _, m := range msgs {
		out = append(out, m.Subject)
	}
	return out
}

// sendInbound sends carol@fabrikam.com's message to alice from INET01,
// once the Edge has its EdgeSync data (before that it answers 451).
func sendInbound(t *testing.T, rt *roles.Runtime, subject string) control.SendResponse {
	t.Helper()
	labtest.Eventually(t, patience, "EdgeSync to EDGE01", func() bool {
		s, err := rt.EdgeSync("EDGE01")
		return err == nil && !s.LastSuccess.IsZero()
	})
	res, err := rt.Send(context.Background(), control.SendRequest{FromServer: "INET01", Sender: "carol@fabrikam.com",
		Recipients: []string{"alice@contoso.com"}, Subject: subject, Body: "through the Edge"})
	if err != nil || !res.Accepted {
		t.Fatalf("send = %+v, %v", res, err)
	}
	return res
}
