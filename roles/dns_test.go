package roles

import (
	"context"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/exsim/exsim/servers/dnsd"
	"github.com/exsim/exsim/topology"
)

// serveZones serves the zones the topology derives on a loopback UDP
// port and returns its address.
func serveZones(t *testing.T, top *topology.Topology) string {
	t.Helper()
	zs, err := Zones(top)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := dnsd.New(zs, dnsd.Options{Name: "DNS01"})
	go srv.Serve(pc)
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	return pc.LocalAddr().String()
}

// TestAutodiscoverSRV: every accepted domain has an _autodiscover._tcp SRV
// record, priority 0 weight 0 port 443, pointing at the autodiscover host:
// autodiscover.<primary domain> by default, the host of the autodiscover
// virtual directory's URL when the topology sets one. A Go DNS client
// and, when installed, dig read it.
func TestAutodiscoverSRV(t *testing.T) {
	configured, err := topology.Builtin("contoso")
	if err != nil {
		t.Fatal(err)
	}
	configured.AcceptedDomains = append(configured.AcceptedDomains, "contoso.net")
	cas := configured.ClientAccessServer()
	cas.Mailbox.VirtualDirectories = map[string]topology.VirtualDirectory{
		"autodiscover": {InternalURL: "https://ex01.contoso.com/Autodiscover/Autodiscover.xml", ExternalURL: "https://mail.contoso.com/Autodiscover/Autodiscover.xml"},
	}
	plain, err := topology.Builtin("contoso")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		top    *topology.Topology
		domain string
		target string
	}{
		{"default", plain, "contoso.com", "autodiscover.contoso.com."},
		{"configured", configured, "contoso.com", "mail.contoso.com."},
		{"second accepted domain", configured, "contoso.net", "mail.contoso.com."},
	}
	dig, _ := exec.LookPath("dig")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := serveZones(t, tt.top)
			q := new(dns.Msg)
			q.SetQuestion("_autodiscover._tcp."+tt.domain+".", dns.TypeSRV)
			c := &dns.Client{Timeout: 5 * time.Second}
			r, _, err := c.Exchange(q, addr)
			if err != nil {
				t.Fatal(err)
			}
			if r.Rcode != dns.RcodeSuccess || !r.Authoritative || len(r.Answer) != 1 {
				t.Fatalf("SRV answer:\n%s", r)
			}
			srv, ok := r.Answer[0].(*dns.SRV)
			if !ok || srv.Priority != 0 || srv.Weight != 0 || srv.Port != 443 || srv.Target != tt.target {
				t.Fatalf("SRV = %v, want 0 0 443 %s", r.Answer[0], tt.target)
			}
			// The target's address rides along, as for MX.
			glue := false
			for _, rr := range r.Extra {
				glue = glue || (rr.Header().Name == tt.target && rr.Header().Rrtype == dns.TypeA)
			}
			if !glue {
				t.Errorf("no A record of %s in the additional section:\n%s", tt.target, r)
			}
			if dig == "" {
				t.Log("dig not installed (apt-get install dnsutils): checked with the Go client only")
				return
			}
			host, port, _ := net.SplitHostPort(addr)
			out, err := exec.Command(dig, "-p", port, "@"+host, "+tries=1", "+time=3", "+short", "SRV", "_autodiscover._tcp."+tt.domain).CombinedOutput()
			if got := strings.TrimSpace(string(out)); err != nil || got != "0 0 443 "+tt.target {
				t.Errorf("dig SRV _autodiscover._tcp.%s = %q (%v), want %q", tt.domain, got, err, "0 0 443 "+tt.target)
			}
		})
	}
}
