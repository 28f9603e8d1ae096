package kubernetes_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/exsim/exsim/internal/control"
	"github.com/exsim/exsim/internal/labtest"
	"github.com/exsim/exsim/lab"
	"github.com/exsim/exsim/lab/kubernetes"
	"github.com/exsim/exsim/probe"
	"github.com/exsim/exsim/topology"
)

func TestMain(m *testing.M) { labtest.Main(m) }

// TestServePodBehindClusterIPs runs the exported lab as a cluster would,
// without one: each server is `exsim serve --pod` in a network namespace
// of its own with a pod address of its own (10.244.77.x on one bridge in
// a node namespace),
// and each namespace translates the Services' ClusterIPs to the pods'
// addresses as kube-proxy does (nft DNAT in the nat output hook; replies
// un-NATed by conntrack). The lab must become ready (EdgeSync over the
// Edge's ClusterIP), deliver internet mail to alice through the Edge, and
// pass every flow of the catalogue that must be open from its source
// pod. NetworkPolicies are not enforced here (no CNI): TestExportDecodes
// and lab/networkpolicy's tests cover them.
func TestServePodBehindClusterIPs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: network namespaces and nftables")
	}
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (apt-get install iproute2 nftables)", tool)
		}
	}
	bin := labtest.Binary(t)
	dir := t.TempDir()
	top, err := topology.Builtin("contoso")
	if err != nil {
		t.Fatal(err)
	}
	files, err := kubernetes.Export(top, kubernetes.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, kubernetes.TopologyFile)
	if err := os.WriteFile(cfg, files[kubernetes.TopologyFile], 0o644); err != nil {
		t.Fatal(err)
	}
	kt, err := topology.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}

	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	// The node: a namespace of its own with the pods' bridge, so the host's
	// firewall (br_netfilter, Docker's FORWARD drop) never sees the pods.
	tag := fmt.Sprintf("xk%d", os.Getpid()%100000)
	node, bridge := tag+"-node", tag+"br"
	run("ip", "netns", "add", node)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", node).Run() })
	run("ip", "-n", node, "link", "add", bridge, "type", "bridge")
	run("ip", "-n", node, "addr", "add", "10.244.77.254/24", "dev", bridge)
	run("ip", "-n", node, "link", "set", bridge, "up")
	// Optional: the key exists only where br_netfilter is loaded.
	exec.Command("ip", "netns", "exec", node, "sh", "-c", "echo 0 > /proc/sys/net/bridge/bridge-nf-call-iptables").Run()

	podIP := map[string]string{}
	for i, s := range kt.Servers {
		podIP[s.Name] = fmt.Sprintf("10.244.77.%d", i+1)
	}
	// kube-proxy's part: every ClusterIP to its pod, in every pod.
	nat := []byte("table ip kubeproxy {\n chain output {\n  type nat hook output priority -100;\n")
	for _, s := range kt.Servers {
		nat = fmt.Appendf(nat, "  ip daddr %s dnat to %s\n", s.Address, podIP[s.Name])
	}
	nat = append(nat, " }\n}\n"...)
	natFile := filepath.Join(dir, "kubeproxy.nft")
	if err := os.WriteFile(natFile, nat, 0o644); err != nil {
		t.Fatal(err)
	}

	const token = "pod-test"
	clients := map[string]*control.Client{}
	for i, s := range kt.Servers {
		ns, host, pod := fmt.Sprintf("%s-%d", tag, i), fmt.Sprintf("%sh%d", tag, i), fmt.Sprintf("%sp%d", tag, i)
		run("ip", "netns", "add", ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
		run("ip", "-n", node, "link", "add", host, "type", "veth", "peer", "name", pod, "netns", ns)
		run("ip", "-n", node, "link", "set", host, "master", bridge, "up")
		for _, c := range [][]string{
			{"ip", "link", "set", "lo", "up"},
			{"ip", "link", "set", pod, "up"},
			{"ip", "addr", "add", podIP[s.Name] + "/24", "dev", pod},
			{"ip", "route", "add", "default", "via", "10.244.77.254"},
			{"nft", "-f", natFile},
		} {
			run(append([]string{"ip", "netns", "exec", ns}, c...)...)
		}
		logf, err := os.Create(filepath.Join(dir, s.Name+".log"))
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("ip", "netns", "exec", ns, bin, "serve", "--server", s.Name, "--pod",
			"--config", cfg, "--data", filepath.Join(dir, "data"), "--admin", "0.0.0.0:9925")
		cmd.Env = append(os.Environ(), "EXSIM_ADMIN_TOKEN="+token)
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cmd.Process.Signal(os.Interrupt)
			done := make(chan struct{})
			go func() { cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				<-done
			}
			logf.Close()
			if t.Failed() {
				b, _ := os.ReadFile(logf.Name())
				t.Logf("%s's log:\n%s", s.Name, b)
			}
		})
		// The admin API as kubectl port-forward reaches it: inside the pod.
		clients[s.Name] = &control.Client{BaseURL: "http://127.0.0.1:9925", Token: token,
			HTTP: &http.Client{Timeout: time.Minute, Transport: &http.Transport{DialContext: lab.DialIn(ns)}}}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	eventually := func(what string, ok func() (bool, string)) {
		t.Helper()
		last := ""
		for ctx.Err() == nil {
			done, why := ok()
			if done {
				return
			}
			last = why
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("%s: %s", what, last)
	}
	for name, c := range clients {
		eventually(name+"'s admin API", func() (bool, string) {
			_, err := c.Health(ctx)
			return err == nil, fmt.Sprint(err)
		})
	}
	eventually("EDGE01's first EdgeSync through its ClusterIP", func() (bool, string) {
		es, err := clients["EDGE01"].EdgeSync(ctx, "EDGE01")
		if err != nil {
			return false, err.Error()
		}
		return !es.LastSuccess.IsZero() && es.RecipientEntries > 0, fmt.Sprintf("%+v", es)
	})

	res, err := clients["INET01"].Send(ctx, control.SendRequest{FromServer: "INET01", Sender: "carol@fabrikam.com", Recipients: []string{"alice@contoso.com"}, Subject: "through ClusterIPs"})
	if err != nil || !res.Accepted {
		t.Fatalf("send from INET01 = %+v, %v", res, err)
	}
	eventually("alice's mail", func() (bool, string) {
		msgs, err := clients["EX01"].MailboxMessages(ctx, "EX01", "alice@contoso.com", "INBOX")
		if err != nil {
			return false, err.Error()
		}
		for _, m := range msgs {
			if m.Subject == "through ClusterIPs" {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d other messages", len(msgs))
	})

	checked := 0
	for _, s := range kt.Servers {
		resp, err := clients[s.Name].Probe(ctx, control.ProbeRequest{Timeout: 3 * time.Second})
		if err != nil {
			t.Fatalf("probe from %s: %v", s.Name, err)
		}
		var results []probe.Result
		if err := json.Unmarshal(resp, &results); err != nil {
			t.Fatal(err)
		}
		for _, r := range results {
			if r.Flow.Expect == probe.ExpectClosed {
				continue // no NetworkPolicy engine here: closing is the policies' job
			}
			checked++
			if !r.Pass {
				t.Errorf("flow %s (%s -> %s:%d) from the pod: %s %s %s", r.Flow.ID, r.Flow.Source, r.Flow.Dest, r.Flow.Port, r.Outcome, r.Detail, r.Error)
			}
		}
	}
	if checked < 30 {
		t.Errorf("only %d flows checked", checked)
	}
	t.Logf("%d flows that must be open checked from the pods", checked)
}
