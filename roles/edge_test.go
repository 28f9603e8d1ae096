package roles

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exsim/exsim/internal/clienttest"
	"github.com/exsim/exsim/internal/control"
	"github.com/exsim/exsim/internal/labnet"
	"github.com/exsim/exsim/internal/labtest"
	"github.com/exsim/exsim/roles/edgesync"
	"github.com/exsim/exsim/topology"
	"github.com/exsim/exsim/transport"
)

func fastEdgeSync(top *topology.Topology) {
	d := topology.Duration(time.Second)
	top.Timers.EdgeSyncConfigurationInterval = &d
	top.Timers.EdgeSyncRecipientInterval = &d
}

func waitSync(t *testing.T, rt *Runtime, server string) control.EdgeSyncStatus {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		st, err := rt.EdgeSync(server)
		if err != nil {
			t.Fatal(err)
		}
		if !st.LastSuccess.IsZero() && st.RecipientEntries > 0 {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no EdgeSync success: %+v", server, st)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestEdgeSyncOverLDAPS(t *testing.T) {
	rt := startLab(t, "contoso", fastEdgeSync)
	ex01 := waitSync(t, rt, "EX01")
	if !ex01.Participates || ex01.Edge != "EDGE01" {
		t.Errorf("EX01 EdgeSync = %+v", ex01)
	}
	edge := waitSync(t, rt, "EDGE01")
	if strings.Join(edge.AcceptedDomains, ",") != "contoso.com" || strings.Join(edge.MailboxServers, ",") != "EX01" || edge.RecipientEntries != 2 || edge.ConfigEntries != ex01.ConfigEntries {
		t.Errorf("EDGE01 holds %+v, want contoso.com, smart host EX01, alice and bob", edge)
	}
	ex02, _ := rt.EdgeSync("EX02")
	if ex02.Participates || !ex02.LastAttempt.IsZero() {
		t.Errorf("EX02 (added after the subscription) pushed: %+v", ex02)
	}

	creds, err := edgesync.LoadCredentials(filepath.Join(rt.DataDir(), "EX01", "EdgeSync-EDGE01.json"))
	if err != nil {
		t.Fatal(err)
	}
	e := rt.Server("EDGE01").Config
	url := fmt.Sprintf("ldaps://%s:%d", e.Address, 50636+labtest.PortOffset)
	search := func(args ...string) (string, error) {
		return clienttest.Ldapsearch(t, rt.ca.PEM(), url, append([]string{"-x", "-b", "CN=Recipients,OU=MSExchangeGateway", "-s", "one"}, args...)...)
	}
	out, err := search("-D", creds.Username, "-w", creds.Password, "cn")
	if err != nil || strings.Count(out, "dn: ") != 2 {
		t.Errorf("ldapsearch with EX01's replication account: %v\n%s", err, out)
	}
	if out, err := search("cn"); err == nil || !strings.Contains(out, "000004DC") {
		t.Errorf("ldapsearch without credentials: %v\n%s", err, out)
	}
	if out, err := search("-D", creds.Username, "-w", "wrong", "cn"); err == nil || !strings.Contains(out, "52e") {
		t.Errorf("ldapsearch with a wrong password: %v\n%s", err, out)
	}
}

func TestEdgeRejectsUnknownOnlyAfterEdgeSync(t *testing.T) {
	top := labtest.Topology(t, "contoso", blocks.Next(t))
	fastEdgeSync(top)
	faults := &labnet.Faults{}
	f, _ := faults.Add(labnet.Fault{From: "EX01", To: top.Server("EDGE01").Address, Port: 50636 + labtest.PortOffset, Action: labnet.ActionReset})
	rt, err := Start(context.Background(), Options{Topology: top, DataDir: t.TempDir(), Logger: testLogger(t), Faults: faults})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(context.Background())

	// Before EdgeSync the Edge knows no organization: a temporary refusal,
	// never a bounce.
	res := sendFrom(t, rt, "INET01", "carol@fabrikam.com", "too early", "nobody@contoso.com")
	if res.Accepted || !strings.HasPrefix(res.Reply, "451 4.4.0 EdgeSync has not synchronized") {
		t.Errorf("before EdgeSync: %+v", res)
	}
	st, _ := rt.EdgeSync("EX01")
	if st.LastError == "" {
		t.Errorf("EX01 with 50636 blocked reports no error: %+v", st)
	}
	faults.Remove(f.ID)
	waitSync(t, rt, "EDGE01")
	res = sendFrom(t, rt, "INET01", "carol@fabrikam.com", "after", "nobody@contoso.com")
	if res.Accepted || res.Reply != "550 5.1.1 User unknown" {
		t.Errorf("after EdgeSync: %+v", res)
	}

	// EdgeSync blocked again: the Edge keeps validating on its last data
	// and says its data is stale.
	faults.Add(labnet.Fault{From: "EX01", To: top.Server("EDGE01").Address, Port: 50636 + labtest.PortOffset, Action: labnet.ActionDrop})
	deadline := time.Now().Add(15 * time.Second)
	for {
		es, _ := rt.EdgeSync("EDGE01")
		if es.Stale {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("EDGE01 never reported stale data: %+v", es)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if res := sendFrom(t, rt, "INET01", "carol@fabrikam.com", "stale", "nobody@contoso.com"); res.Reply != "550 5.1.1 User unknown" {
		t.Errorf("stale Edge: %+v, want recipient validation on the last data", res)
	}
	if res := sendFrom(t, rt, "INET01", "carol@fabrikam.com", "stale ok", "alice@contoso.com"); !res.Accepted {
		t.Errorf("stale Edge refused alice: %+v", res)
	}
}

func TestRenewedSubscriptionAddsEX02(t *testing.T) {
	rt := startLab(t, "contoso", fastEdgeSync)
	waitSync(t, rt, "EX01")
	if err := rt.RenewEdgeSubscription("EDGE01", nil); err != nil {
		t.Fatal(err)
	}
	st := waitSync(t, rt, "EX02")
	if !st.Participates {
		t.Errorf("EX02 after renewal: %+v", st)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		es, _ := rt.EdgeSync("EDGE01")
		if strings.Join(es.MailboxServers, ",") == "EX01,EX02" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("EDGE01's inbound smart hosts = %v, want EX01,EX02", es.MailboxServers)
		}
		time.Sleep(100 * time.Millisecond)
	}
	waitSync(t, rt, "EX01") // EX01 moved to its new credentials and still pushes
}

func TestEdgeMessageRateLimit(t *testing.T) {
	rt := startLab(t, "contoso", func(top *topology.Topology) {
		fastEdgeSync(top)
		top.Server("EDGE01").Edge.MessageRateLimit = 2
	})
	waitSync(t, rt, "EDGE01")
	for i := range 2 {
		if res := sendFrom(t, rt, "INET01", "carol@fabrikam.com", fmt.Sprint("within ", i), "alice@contoso.com"); !res.Accepted {
			t.Fatalf("message %d within the limit: %+v", i, res)
		}
	}
	res := sendFrom(t, rt, "INET01", "carol@fabrikam.com", "over", "alice@contoso.com")
	if res.Accepted || res.Reply != "421 4.4.2 Message submission rate for this client has exceeded the configured limit" {
		t.Errorf("third message in a minute: %+v", res)
	}
}

// TestOpenProxySenderIsBlocked: INET01 impersonates an open proxy; the
// Edge's open proxy test finds it through its SOCKS and HTTP ports and
// sender reputation blocks its next message.
func TestOpenProxySenderIsBlocked(t *testing.T) {
	rt := startLab(t, "contoso", func(top *topology.Topology) {
		fastEdgeSync(top)
		top.Server("INET01").Internet.OpenProxy = true
	})
	waitSync(t, rt, "EDGE01")
	// The test runs beside the first session, which it does not hold up.
	if res := sendFrom(t, rt, "INET01", "carol@fabrikam.com", "first", "alice@contoso.com"); !res.Accepted {
		t.Fatalf("first message: %+v", res)
	}
	var verdict string
	deadline := time.Now().Add(20 * time.Second)
	for verdict == "" && time.Now().Before(deadline) {
		for _, e := range track(t, rt, "EDGE01", transport.TrackingQuery{EventID: "AGENTINFO"}) {
			if strings.Contains(e.CustomData, "OpenProxy=") {
				verdict = e.CustomData
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(verdict, "OpenProxy=true") || !strings.Contains(verdict, "SRL=9") {
		t.Fatalf("EDGE01's open proxy verdict on INET01: %q", verdict)
	}
	inet := rt.Server("INET01").Config.Address
	res := sendFrom(t, rt, "INET01", "carol@fabrikam.com", "second", "alice@contoso.com")
	want := "550 5.7.1 External client with IP address " + inet + " does not have permissions to submit to this server"
	if res.Accepted || !strings.HasPrefix(res.Reply, want) {
		t.Errorf("second message from the open proxy: %+v, want %q", res, want)
	}
	b, err := os.ReadFile(filepath.Join(rt.DataDir(), "EDGE01", "SenderReputation.json"))
	if err != nil || !strings.Contains(string(b), inet) {
		t.Errorf("sender reputation not on disk: %v\n%s", err, b)
	}
}
