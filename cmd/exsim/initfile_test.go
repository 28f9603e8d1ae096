package main

import (
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/exsim/exsim/topology"
)

// topologyKeys lists every key path of a topology file, from the struct's
// yaml tags (list elements leave no trace: servers.edge.subscribed).
func topologyKeys(path string, t reflect.Type) []string {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	var out []string
	for i := range t.NumField() {
		key, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if key == "" || key == "-" {
			continue
		}
		if path != "" {
			key = path + "." + key
		}
		out = append(out, key)
		out = append(out, topologyKeys(key, t.Field(i).Type)...)
	}
	return out
}

// TestInitWritesEveryKey: `exsim init` writes every key a topology has,
// set or commented out with an example, each with its comment, and the
// file decodes to the built-in topology it was written from.
func TestInitWritesEveryKey(t *testing.T) {
	keys := topologyKeys("", reflect.TypeOf(topology.Topology{}))
	for _, k := range keys {
		if topologyDocs[k].doc == "" {
			t.Errorf("topologyDocs has no comment for %s", k)
		}
	}
	if len(topologyDocs) != len(keys) {
		t.Errorf("topologyDocs documents %d keys, the topology has %d: a key was removed or renamed", len(topologyDocs), len(keys))
	}
	for _, name := range topology.BuiltinNames() {
		out, err := builtinInitFile(name)
		if err != nil {
			t.Fatalf("init -t %s: %v", name, err)
		}
		got, err := topology.Parse("init -t "+name, out)
		if err != nil {
			t.Fatalf("init -t %s does not parse: %v\n%s", name, err, out)
		}
		want, _ := topology.Builtin(name)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("init -t %s parses to\n%+v\nwant the built-in\n%+v", name, got, want)
		}
		if name != topology.DefaultName {
			continue // contoso-noedge has no Edge, so no edge block
		}
		for _, k := range keys {
			leaf := k[strings.LastIndexByte(k, '.')+1:]
			re := regexp.MustCompile(`(?m)^[ #-]*` + leaf + `:`)
			if !re.Match(out) {
				t.Errorf("init -t %s lacks %s:\n%s", name, k, out)
			}
			if !strings.Contains(string(out), "# "+strings.SplitN(topologyDocs[k].doc, "\n", 2)[0]) {
				t.Errorf("init -t %s lacks the comment of %s", name, k)
			}
		}
	}
}

// TestInitFileRoundTrip: a topology that sets every key, examples and all,
// is written active and decodes to itself.
func TestInitFileRoundTrip(t *testing.T) {
	top, err := topology.Builtin("contoso-noedge")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range top.ServersByRole(topology.RoleMailbox) {
		s.Mailbox.BasicAuth = ptr(false)
		s.Mailbox.NTLM = &topology.NTLMOptions{RequireV2: ptr(true)}
		s.Mailbox.VirtualDirectories = topologyDocs["servers.mailbox.virtual_directories"].example.(map[string]topology.VirtualDirectory)
	}
	top.NTLM = &topology.NTLMOptions{RequireV2: ptr(false)}
	for i, m := range top.Mailboxes {
		if top.Server(m.Server).Role == topology.RoleMailbox {
			top.Mailboxes[i].Roles = []string{topology.RoleApplicationImpersonation}
			top.Mailboxes[i].PublishCalendar = true
		}
	}
	top.AllowOutside = []string{"10.0.0.0/8", "2001:db8::/32"}
	top.SendConnectors[0].SmartHosts = []string{"mx.fabrikam.com"}
	top.SendConnectors[1].SmartHosts = []string{"127.0.30.1", "mx.fabrikam.com"}
	top.SendConnectors[1].Cost = 5
	top.Timers = topology.Timers{Profile: topology.ProfileExchange, TransientFailureRetryCount: ptr(3), TransientFailureRetryInterval: dur(time.Minute),
		OutboundConnectionFailureRetryInterval: dur(time.Hour), MessageRetryInterval: dur(90 * time.Second), DelayNotificationTimeout: dur(4 * time.Hour),
		MessageExpirationTimeout: dur(48 * time.Hour), TarpitInterval: dur(time.Second), EdgeSyncConfigurationInterval: dur(3 * time.Minute),
		EdgeSyncRecipientInterval: dur(5 * time.Minute)}
	top.Certs.Key = topology.CertKeyECDSA
	edge := topology.Server{Name: "EDGE01", Role: topology.RoleEdge, FQDN: "edge01.contoso.com", Address: "127.0.10.1", Zone: "internal",
		Edge: &topology.EdgeOptions{Subscribed: false, OpenProxyDetection: ptr(false), OpenProxyVia: "socks5://127.0.30.1:1080", RecipientValidation: ptr(false), MessageRateLimit: 30}}
	top.Servers = append(top.Servers, edge)
	top.Server("INET01").Internet.OpenProxy = true
	// Parse(Marshal) gives the topology its defaults, as a file would.
	b, err := top.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	want, err := topology.Parse("every key", b)
	if err != nil {
		t.Fatalf("the test topology does not validate: %v\n%s", err, b)
	}
	out, err := initFile(want, "every key set")
	if err != nil {
		t.Fatal(err)
	}
	got, err := topology.Parse("init", out)
	if err != nil {
		t.Fatalf("initFile output does not parse: %v\n%s", err, out)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("initFile parses to\n%+v\nwant\n%+v\n%s", got, want, out)
	}
	leaves := map[string]bool{}
	for k := range topologyDocs {
		leaves[k[strings.LastIndexByte(k, '.')+1:]] = true
	}
	// Management roles are refused on an internet account (carol's), so
	// her entry alone keeps the roles example commented out.
	internetAccounts := 0
	for _, m := range want.Mailboxes {
		if want.Server(m.Server).Role == topology.RoleInternet {
			internetAccounts++
		}
	}
	for _, l := range strings.Split(string(out), "\n") {
		k, _, _ := strings.Cut(strings.TrimLeft(l, " #-"), ":")
		if !strings.HasPrefix(strings.TrimSpace(l), "# ") || !leaves[k] {
			continue
		}
		if k == "roles" && internetAccounts > 0 {
			internetAccounts--
			continue
		}
		t.Errorf("initFile commented out %s although the topology sets every key:\n%s", k, out)
	}
}
