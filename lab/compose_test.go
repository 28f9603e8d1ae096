package lab

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/exsim/exsim/internal/control"
	"github.com/exsim/exsim/probe"
	"github.com/exsim/exsim/topology"
)

// TestComposeInSync: the repository's docker-compose.yml and deploy/
// files are `exsim export compose` of the default topology
// (go test -run TestComposeInSync -update rewrites them).
func TestComposeInSync(t *testing.T) {
	files, err := Compose(netTopology(t, topology.DefaultName), ComposeOptions{})
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
	nt := netTopology(t, "contoso")
	files, err := Compose(nt, ComposeOptions{AdminPortBase: 30000})
	if err != nil {
		t.Fatal(err)
	}
	y := string(files[ComposeFile])
	for _, want := range []string{
		`command: ["lab", "firewall", "--config", "/etc/exsim/lab.yaml", "--port-offset", "0"]`,
		`command: ["serve", "--server", "EX01", "--config", "/etc/exsim/lab.yaml", "--data", "/exsim-data", "--admin", "0.0.0.0:9925", "--port-offset", "0", "--route-via", "192.0.2.254"]`,
		"ipv4_address: 192.0.2.254", "ipv4_address: 198.51.100.254", "ipv4_address: 203.0.113.254",
		`- "127.0.0.1:30001:9925"`, "subnet: 192.0.2.0/24", "gateway: 192.0.2.253",
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
	if back.Server("EX01").Address != "192.0.2.1" {
		t.Errorf("image topology EX01 = %s, want 192.0.2.1", back.Server("EX01").Address)
	}
	// The host's side of a bridge never takes a server's or the router's address.
	nt.Servers = append(nt.Servers, topology.Server{Name: "X", Address: "192.0.2.253", Zone: "internal"})
	if gw, _ := hostGateway(nt, netip.MustParsePrefix("192.0.2.0/24")); gw.String() != "192.0.2.252" {
		t.Errorf("hostGateway = %s, want 192.0.2.252", gw)
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

// hostPrefixes are the networks the host already uses (its addresses and
// routes, Docker's networks included): a compose zone must not overlap
// them, or the host would route to the wrong place.
func hostPrefixes(t *testing.T) []netip.Prefix {
	t.Helper()
	var out []netip.Prefix
	for _, args := range [][]string{{"-o", "-4", "route", "show", "table", "all"}, {"-o", "-4", "addr", "show"}} {
		b, err := exec.Command("ip", args...).Output()
		if err != nil {
			t.Skipf("ip %s: %v", strings.Join(args, " "), err)
		}
		for _, f := range strings.Fields(string(b)) {
			if p, err := netip.ParsePrefix(f); err == nil {
				out = append(out, p.Masked())
			} else if a, err := netip.ParseAddr(f); err == nil && a.Is4() {
				out = append(out, netip.PrefixFrom(a, 32))
			}
		}
	}
	return out
}

// composeTopology is the default topology for the compose test: zones
// whose RFC 5737 subnet the host itself uses (a machine on TEST-NET-1)
// move to a free /24 of 198.18.0.0/15 (RFC 2544, also never routed).
func composeTopology(t *testing.T) *topology.Topology {
	t.Helper()
	base, err := topology.Builtin("contoso")
	if err != nil {
		t.Fatal(err)
	}
	used := hostPrefixes(t)
	overlaps := func(p netip.Prefix) bool {
		return slices.ContainsFunc(used, func(u netip.Prefix) bool { return u.Bits() > 0 && u.Overlaps(p) })
	}
	next := 0
	for i := range base.Zones {
		z := &base.Zones[i]
		p := netip.MustParsePrefix(z.Subnet)
		if !overlaps(p) {
			continue
		}
		for ; next < 512; next++ {
			cand := netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18 + byte(next/256), byte(next % 256), 0}), 24)
			if !overlaps(cand) {
				t.Logf("zone %s: the host uses %s; the compose test puts the zone on %s", z.Name, p, cand)
				z.Subnet = cand.String()
				used = append(used, cand)
				break
			}
		}
	}
	nt, err := base.ForNetwork()
	if err != nil {
		t.Fatal(err)
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
	bin := exsimBinary(t)
	if help, _ := exec.Command(bin, "serve", "--help").CombinedOutput(); !bytes.Contains(help, []byte("--route-via")) {
		t.Skip("exsim serve has no --route-via flag yet (lab.RouteVia): the server containers could not route to the other zones")
	}
	nt := composeTopology(t)
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
	// the binary, the topology and the shared data volume).
	if out, err := dc(time.Minute, "exec", "-T", "ex01", "exsim", "queue", "--server", "EX01"); err != nil || !strings.Contains(out, `EX01\Submission`) {
		t.Errorf("docker-compose exec ex01 exsim queue: %v\n%s", err, out)
	}
	fw, err := dc(time.Minute, "logs", "--no-color", "firewall")
	if err != nil || !strings.Contains(fw, "firewall loaded") || !strings.Contains(fw, "removed route: default via") {
		t.Errorf("firewall container log: %v\n%s", err, fw)
	}
}
