package lab

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/exsim/exsim/internal/control"
	"github.com/exsim/exsim/internal/labtest"
	"github.com/exsim/exsim/probe"
	"github.com/exsim/exsim/topology"
)

// TestComposeInSync: the repository's docker-compose.yml and deploy/
// files are `exsim export compose` of the default topology
// (go test -run TestComposeInSync -update rewrites them).
func TestComposeInSync(t *testing.T) {
	files, err := Compose(composeNet(t, topology.DefaultName, nil), ComposeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		p := filepath.Join("..", filepath.FromSlash(n))
		if *update {
			if err := os.WriteFile(p, files[n], 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, err := os.ReadFile(p)
		if err != nil {
			t.Errorf("%v (go test ./lab -run TestComposeInSync -update writes it)", err)
			continue
		}
		if !bytes.Equal(got, files[n]) {
			t.Errorf("%s is not the output of exsim export compose; regenerate it (go test ./lab -run TestComposeInSync -update)", n)
		}
	}
}

// TestComposeShape checks what the compose file promises without Docker.
func TestComposeShape(t *testing.T) {
	nt := composeNet(t, "contoso", nil)
	files, err := Compose(nt, ComposeOptions{AdminPortBase: 30000})
	if err != nil {
		t.Fatal(err)
	}
	y := string(files[ComposeFile])
	for _, want := range []string{
		`command: ["lab", "firewall", "--config", "/etc/exsim/lab.yaml", "--port-offset", "0"]`,
		`command: ["serve", "--server", "EX01", "--config", "/etc/exsim/lab.yaml", "--data", "/exsim-data", "--admin", "0.0.0.0:9925", "--port-offset", "0", "--route-via", "10.231.20.254"]`,
		"ipv4_address: 10.231.20.254", "ipv4_address: 10.231.10.254", "ipv4_address: 10.231.30.254",
		`- "127.0.0.1:30001:9925"`, "subnet: 10.231.20.0/24", "gateway: 10.231.20.253",
		`test: ["CMD", "/usr/local/bin/exsim", "healthcheck", "--admin", "127.0.0.1:9925"]`,
		"- ./deploy/certs:/exsim-data/certs", "dns01:\n        condition: service_healthy",
		`com.docker.network.bridge.enable_ip_masquerade: "false"`, "net.ipv4.ip_forward: \"1\"",
	} {
		if !strings.Contains(y, want) {
			t.Errorf("compose file lacks %q", want)
		}
	}
	if strings.Contains(y, "internal: true") {
		t.Error("zone networks must not be internal: Docker drops routed traffic from other zones on them")
	}
	if !strings.Contains(string(files[ComposeEndpoints]), `"url": "http://127.0.0.1:30001"`) {
		t.Errorf("endpoints:\n%s", files[ComposeEndpoints])
	}
	back, err := topology.Parse("compose lab.yaml", files[ComposeTopology])
	if err != nil {
		t.Fatalf("the image's lab.yaml does not parse: %v", err)
	}
	if back.Server("EX01").Address != "10.231.20.1" {
		t.Errorf("image topology EX01 = %s, want 10.231.20.1", back.Server("EX01").Address)
	}
	if !strings.Contains(string(files[ComposeIgnore]), "certs") || !strings.Contains(string(files[ComposeDocker]), "EXSIM_CONFIG=/etc/exsim/lab.yaml") {
		t.Errorf("the build context must leave the CA out and the image name its topology:\n%s\n%s", files[ComposeIgnore], files[ComposeDocker])
	}
	// The host's side of a bridge never takes a server's or the router's address.
	nt.Servers = append(nt.Servers, topology.Server{Name: "X", Address: "10.231.20.253", Zone: "internal"})
	if gw, _ := hostGateway(nt, netip.MustParsePrefix("10.231.20.0/24")); gw.String() != "10.231.20.252" {
		t.Errorf("hostGateway = %s, want 10.231.20.252", gw)
	}
}

// requireDocker skips unless a Docker engine and docker-compose answer.
func requireDocker(t *testing.T) string {
	t.Helper()
	compose, err := exec.LookPath("docker-compose")
	if err != nil {
		t.Skip("docker-compose not installed")
	}
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("docker not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "docker", "info").CombinedOutput(); err != nil {
		t.Skipf("no Docker engine: %v\n%s", err, out)
	}
	return compose
}

// composeNet is a built-in topology on the networks of a compose lab on
// a host that uses the networks used.
func composeNet(t *testing.T, name string, used []netip.Prefix) *topology.Topology {
	t.Helper()
	base, err := topology.Builtin(name)
	if err != nil {
		t.Fatal(err)
	}
	nt, notes, err := ComposeNetwork(base, used, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range notes {
		t.Log(n)
	}
	return nt
}

func freePorts(t *testing.T, n int) int {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		base := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if base+n > 65535 {
			continue
		}
		ok := true
		for p := base; p < base+n && ok; p++ {
			if c, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p)); err == nil {
				c.Close()
			} else {
				ok = false
			}
		}
		if ok {
			return base
		}
	}
	t.Fatal("no free port range")
	return 0
}

// TestComposeUp brings the compose lab up with Docker (images built FROM
// scratch from the static exsim binary), probes every flow through each
// source container's admin API (published on the host's loopback), and
// brings it down. The compose files are the generator's, as checked in
// (TestComposeInSync), with a test image name, free admin ports, and any
// zone the host itself uses moved to a free subnet.
func TestComposeUp(t *testing.T) {
	compose := requireDocker(t)
	bin := labtest.Binary(t)
	if help, _ := exec.Command(bin, "serve", "--help").CombinedOutput(); !bytes.Contains(help, []byte("--route-via")) {
		t.Skip("exsim serve has no --route-via flag yet (lab.RouteVia): the server containers could not route to the other zones")
	}
	used, err := HostNetworks()
	if err != nil {
		t.Fatal(err)
	}
	nt := composeNet(t, "contoso", used)
	rnd := make([]byte, 4)
	rand.Read(rnd)
	id := hex.EncodeToString(rnd)
	project, token := "exsimtest"+id, "test-"+id
	base := freePorts(t, len(nt.Servers))
	files, err := Compose(nt, ComposeOptions{Image: "exsim-lab-test:" + id, AdminPortBase: base})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for n, b := range files {
		p := filepath.Join(dir, filepath.FromSlash(n))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	exe, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(ComposeBinary)), exe, 0o755); err != nil {
		t.Fatal(err)
	}
	dc := func(timeout time.Duration, args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, compose, append([]string{"-p", project, "-f", filepath.Join(dir, ComposeFile)}, args...)...)
		cmd.Env = append(os.Environ(), "EXSIM_ADMIN_TOKEN="+token)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := dc(time.Minute, "logs", "--no-color", "--tail", "30")
			t.Logf("container logs:\n%s", logs)
		}
		if out, err := dc(3*time.Minute, "down", "-v", "--rmi", "all", "--timeout", "5"); err != nil {
			t.Errorf("docker-compose down: %v\n%s", err, out)
		}
	})
	if out, err := dc(5*time.Minute, "up", "-d", "--build"); err != nil {
		t.Fatalf("docker-compose up: %v\n%s", err, out)
	}
	clients := map[string]*control.Client{}
	for i, s := range nt.Servers {
		clients[s.Name] = &control.Client{BaseURL: fmt.Sprintf("http://127.0.0.1:%d", base+i), Token: token}
	}
	deadline := time.Now().Add(90 * time.Second)
	for name, c := range clients {
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, err := c.Health(ctx)
			cancel()
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s's admin API did not answer: %v", name, err)
			}
			time.Sleep(200 * time.Millisecond) // polling a container's start
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := ProbeThroughAdmin(ctx, clients, probe.Flows(nt), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := failed(res); len(got) > 0 {
		t.Errorf("flows failed in the compose lab: %v\n%s", got, describe(res))
	}
	// Any exsim command works inside a server container (scratch image:
	// the binary, the topology the image names in $EXSIM_CONFIG and the
	// shared data volume), for that container's server alone.
	if out, err := dc(time.Minute, "exec", "-T", "ex01", "exsim", "queue"); err != nil || !strings.Contains(out, `EX01\Submission`) || strings.Contains(out, "not found") || strings.Contains(out, "EDGE01") {
		t.Errorf("docker-compose exec ex01 exsim queue: %v\n%s", err, out)
	}
	if out, err := dc(time.Minute, "exec", "-T", "inet01", "exsim", "send", "--from", "INET01", "--to", "alice@contoso.com", "--subject", "from inside inet01"); err != nil || !strings.Contains(out, "250 2.6.0") {
		t.Errorf("docker-compose exec inet01 exsim send: %v\n%s", err, out)
	}
	// Every server container turns healthy (exsim healthcheck: /healthz).
	for _, s := range nt.Servers {
		for {
			id, _ := dc(time.Minute, "ps", "-q", composeName(s.Name))
			out, _ := exec.Command("docker", "inspect", "--format", "{{.State.Health.Status}}", strings.TrimSpace(id)).CombinedOutput()
			if strings.TrimSpace(string(out)) == "healthy" {
				break
			}
			if time.Now().After(deadline.Add(time.Minute)) {
				t.Fatalf("%s's container is %q, not healthy", s.Name, out)
			}
			time.Sleep(time.Second) // Docker runs the check every 5 s
		}
	}
	// The host: the CA is in the bind-mounted deploy/certs, so a client on
	// the host trusts EX01's certificate, and --data deploy alone finds
	// the admin APIs and the lab's topology.
	host := func(args ...string) (string, error) {
		cmd := exec.Command(bin, append(args, "--data", filepath.Join(dir, ComposeContext))...)
		cmd.Env = append(os.Environ(), "EXSIM_ADMIN_TOKEN="+token)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := host("send", "--from", "INET01", "--to", "alice@contoso.com", "--subject", "from the host"); err != nil || !strings.Contains(out, "250 2.6.0") {
		t.Errorf("exsim send --from INET01 on the host: %v\n%s", err, out)
	}
	ex01 := nt.Server("EX01")
	if out, err := host("send", "--smtp", ex01.FQDN+":587", "--user", "alice@contoso.com", "--password", "P@ssw0rd", "--to", "bob@contoso.com", "--subject", "submitted from the host"); err != nil || !strings.Contains(out, "250 2.6.0") {
		t.Errorf("exsim send --smtp %s:587 on the host (TLS verified with deploy/certs/ca.pem): %v\n%s", ex01.FQDN, err, out)
	}
	if out, err := host("scenario", "run"); err != nil {
		t.Errorf("exsim scenario run on the host: %v\n%s", err, out)
	}
	// EDGE01 is ready once EX01 pushed EdgeSync, and its counters moved
	// with the two messages from INET01.
	for {
		code, body := httpGet(t, clients["EDGE01"].BaseURL+control.ReadyzPath)
		if code == 200 {
			break
		}
		if time.Now().After(deadline.Add(time.Minute)) {
			t.Fatalf("EDGE01 /readyz = %d %s", code, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if code, body := httpGet(t, clients["EDGE01"].BaseURL+control.MetricsPath); code != 200 || !strings.Contains(body, "exsim_transport_queues_messages_submitted_total{") || !strings.Contains(body, `Default internal Receive connector EDGE01",server="EDGE01"} `) {
		t.Errorf("EDGE01 /metrics = %d\n%s", code, body)
	}
	fw, err := dc(time.Minute, "logs", "--no-color", "firewall")
	if err != nil || !strings.Contains(fw, "firewall loaded") || !strings.Contains(fw, "removed route: default via") {
		t.Errorf("firewall container log: %v\n%s", err, fw)
	}
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
