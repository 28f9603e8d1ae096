package roles

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exsim/exsim/internal/labnet"
	"github.com/exsim/exsim/internal/labtest"
	"github.com/exsim/exsim/store"
	"github.com/exsim/exsim/transport"
)

func swaks(t *testing.T, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("swaks")
	if err != nil {
		t.Skip("swaks not installed (apt-get install swaks; .ci/run installs it)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("swaks %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// TestInternetServerStoresMailDurably: swaks hands INET01 a message for
// carol@fabrikam.com on 25; it is in carol's mailbox file after INET01
// stopped.
func TestInternetServerStoresMailDurably(t *testing.T) {
	rt := startLab(t, "contoso", nil)
	inet := rt.Server("INET01").Config
	out := swaks(t, "--server", inet.Address, "--port", fmt.Sprint(25+labtest.PortOffset),
		"--from", "someone@example.org", "--to", "carol@fabrikam.com", "--header", "Subject: swaks to INET01")
	if !strings.Contains(out, "<-  220 "+inet.FQDN+" ESMTP") || strings.Contains(out, "Microsoft") {
		t.Errorf("INET01 is not a plain MTA:\n%s", out)
	}
	if !strings.Contains(out, "<-  250 2.0.0 OK") {
		t.Errorf("message not queued:\n%s", out)
	}
	waitMail(t, rt, "INET01", "carol@fabrikam.com", "swaks to INET01")
	if err := rt.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	st, err := store.Open(filepath.Join(rt.DataDir(), "INET01", "Mailbox", "mailboxes.db"), store.Options{Folders: store.BasicFolders()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	mb, err := st.Mailbox("carol@fabrikam.com")
	if err != nil {
		t.Fatal(err)
	}
	inbox, _ := mb.Folder("INBOX")
	msgs, _ := inbox.Messages()
	if len(msgs) != 1 || msgs[0].Subject != "swaks to INET01" {
		t.Fatalf("carol's inbox on disk: %+v", msgs)
	}
	body, _ := inbox.Body(msgs[0].UID)
	if !strings.HasPrefix(string(body), "Received: from ") {
		t.Errorf("stored message does not start with INET01's Received header:\n%s", body)
	}
}

// TestInternetServerQueuesWhileNothingListens: carol submits to INET01 for
// alice@contoso.com; INET01 finds the MX (EDGE01) through the lab DNS, gets
// a reset as from a closed port, keeps the message in Retry and delivers it
// on its own once the Edge answers.
func TestInternetServerQueuesWhileNothingListens(t *testing.T) {
	rt := startLab(t, "contoso", fastEdgeSync)
	waitSync(t, rt, "EDGE01")
	inet, edge := rt.Server("INET01").Config, rt.Server("EDGE01").Config
	f, err := rt.Faults().Add(labnet.Fault{From: "INET01", To: edge.Address, Port: 25 + labtest.PortOffset, Action: labnet.ActionReset})
	if err != nil {
		t.Fatal(err)
	}
	out := swaks(t, "--server", inet.Address, "--port", fmt.Sprint(587+labtest.PortOffset), "--tls",
		"--auth", "PLAIN", "--auth-user", "carol@fabrikam.com", "--auth-password", "P@ssw0rd",
		"--from", "carol@fabrikam.com", "--to", "alice@contoso.com", "--header", "Subject: from the internet")
	if !strings.Contains(out, "<~  250 2.0.0 OK") {
		t.Fatalf("INET01 did not take the message:\n%s", out)
	}

	tr := rt.Server("INET01").transport
	var q transport.QueueInfo
	deadline := time.Now().Add(15 * time.Second)
	for q.RetryCount < 2 && time.Now().Before(deadline) {
		for _, qi := range tr.Queues() {
			if qi.NextHopDomain == "contoso.com" {
				q = qi
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if q.Status != transport.QueueRetry || q.RetryCount < 2 || q.MessageCount != 1 || q.DeliveryType != transport.DeliveryDNS {
		t.Fatalf("INET01's queue to contoso.com after two failed tries: %+v", q)
	}
	if q.LastError == "" || q.NextRetryTime.IsZero() {
		t.Errorf("queue in Retry without LastError or NextRetryTime: %+v", q)
	}
	t.Logf("queue: %s %s retries=%d last error %q", q.Identity, q.Status, q.RetryCount, q.LastError)
	rt.Faults().Remove(f.ID)
	waitMail(t, rt, "EX01", "alice@contoso.com", "from the internet")
}
