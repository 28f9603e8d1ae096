package networkpolicy

import (
	"strings"
	"testing"
	"time"
)

// policy is a small valid NetworkPolicy document; %s is spliced into spec.
const policyHead = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: allow-smtp
  namespace: internal
spec:
`

func TestParseErrorsNameFileLineAndKey(t *testing.T) {
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"unknown spec key", policyHead + "  podSelector: {}\n  ingres: []\n", "policies.yaml:8: spec.ingres: unknown field"},
		{"unknown key deep in a list", policyHead + "  podSelector: {}\n  ingress:\n    - from:\n        - podSelector: {}\n      prots: []\n",
			"policies.yaml:11: spec.ingress[0].prots: unknown field"},
		{"duplicate key", policyHead + "  podSelector: {}\n  podSelector: {}\n", "policies.yaml:8:"},
		{"wrong type", policyHead + "  podSelector: {}\n  ingress:\n    - ports:\n        - protocol: [TCP]\n",
			"policies.yaml:10: spec.ingress[0].ports[0].protocol: array is not a v1.Protocol"},
		{"named port", policyHead + "  podSelector: {}\n  ingress:\n    - ports:\n        - port: smtp\n",
			"policies.yaml:10: spec.ingress[0].ports[0].port: named port \"smtp\": exsim's servers have no container port names"},
		{"bad protocol", policyHead + "  podSelector: {}\n  egress:\n    - ports:\n        - protocol: ICMP\n",
			"policies.yaml:10: spec.egress[0].ports[0].protocol: \"ICMP\": a NetworkPolicy port is TCP, UDP or SCTP"},
		{"endPort below port", policyHead + "  podSelector: {}\n  egress:\n    - ports:\n        - port: 30\n          endPort: 20\n",
			"policies.yaml:11: spec.egress[0].ports[0].endPort: 20: endPort must be between port (30) and 65535"},
		{"endPort without port", policyHead + "  podSelector: {}\n  egress:\n    - ports:\n        - endPort: 20\n",
			"policies.yaml:10: spec.egress[0].ports[0].endPort: endPort needs a numeric port"},
		{"port out of range", policyHead + "  podSelector: {}\n  egress:\n    - ports:\n        - port: 70000\n",
			"policies.yaml:10: spec.egress[0].ports[0].port: 70000 is not a port"},
		{"bad cidr", policyHead + "  podSelector: {}\n  ingress:\n    - from:\n        - ipBlock:\n            cidr: 10.0.0.0/33\n",
			"policies.yaml:11: spec.ingress[0].from[0].ipBlock.cidr: \"10.0.0.0/33\" is not a CIDR"},
		{"except outside cidr", policyHead + "  podSelector: {}\n  ingress:\n    - from:\n        - ipBlock:\n            cidr: 10.0.0.0/16\n            except: [10.1.0.0/24]\n",
			"policies.yaml:12: spec.ingress[0].from[0].ipBlock.except[0]: 10.1.0.0/24 is not inside the cidr 10.0.0.0/16"},
		{"ipBlock with selector", policyHead + "  podSelector: {}\n  ingress:\n    - from:\n        - ipBlock: {cidr: 10.0.0.0/8}\n          podSelector: {}\n",
			"policies.yaml:10: spec.ingress[0].from[0]: ipBlock cannot be combined"},
		{"empty peer", policyHead + "  podSelector: {}\n  ingress:\n    - from:\n        - {}\n",
			"policies.yaml:10: spec.ingress[0].from[0]: a peer needs podSelector, namespaceSelector or ipBlock"},
		{"bad operator", policyHead + "  podSelector:\n    matchExpressions:\n      - {key: exsim.io/role, operator: Near, values: [edge]}\n",
			"policies.yaml:7: spec.podSelector:"},
		{"Exists with values", policyHead + "  podSelector:\n    matchExpressions:\n      - {key: exsim.io/role, operator: Exists, values: [edge]}\n",
			"policies.yaml:7: spec.podSelector:"},
		{"bad policyType", policyHead + "  podSelector: {}\n  policyTypes: [Ingress, Outgress]\n",
			"policies.yaml:8: spec.policyTypes[1]: \"Outgress\" is neither Ingress nor Egress"},
		{"no namespace", strings.Replace(policyHead, "  namespace: internal\n", "", 1) + "  podSelector: {}\n",
			"policies.yaml:3: metadata.namespace: required"},
		{"no name", strings.Replace(policyHead, "  name: allow-smtp\n", "", 1) + "  podSelector: {}\n",
			"policies.yaml:3: metadata.name: required"},
		{"another kind", "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n", "policies.yaml:2: kind: Pod (apiVersion \"v1\") is not a NetworkPolicy"},
		{"another apiVersion", strings.Replace(policyHead, "networking.k8s.io/v1", "extensions/v1beta1", 1) + "  podSelector: {}\n",
			"policies.yaml:2: kind: NetworkPolicy (apiVersion \"extensions/v1beta1\") is not a NetworkPolicy of networking.k8s.io/v1"},
		{"not a mapping", "- a\n- b\n", "policies.yaml:1: a document must be a mapping"},
		{"YAML syntax", policyHead + "  podSelector: {\n", "policies.yaml:"},
		{"second document", policyHead + "  podSelector: {}\n---\n" + policyHead + "  podSelector: {}\n  ingres: []\n",
			"policies.yaml:16: spec.ingres: unknown field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Parse("policies.yaml", []byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse(%s) = %v, want an error containing %q", tc.name, err, tc.want)
			}
		})
	}
}

func TestParseDocuments(t *testing.T) {
	src := "# leading comment\n---\n" + policyHead + "  podSelector: {}\n" +
		"---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: internal\n" +
		"---\n# only a comment\n...\n" +
		"--- " + `{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: inline, namespace: internet}, spec: {podSelector: {}}}` + "\n" +
		"---\n" + strings.Replace(policyHead, "allow-smtp", "third", 1) + "  podSelector: {}\n  ingress:\n    - from:\n        - podSelector: {}\n      ports:\n        - port: 25\n"
	pols, notes, err := Parse("p.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range pols {
		got = append(got, p.Name())
	}
	if want := "internal/allow-smtp internet/inline internal/third"; strings.Join(got, " ") != want {
		t.Errorf("policies = %v, want %s", got, want)
	}
	if len(notes) != 1 || !strings.HasPrefix(notes[0], `p.yaml:11: Namespace "internal" skipped`) {
		t.Errorf("notes = %q, want one naming the Namespace at line 11", notes)
	}
	if pols[0].Line != 3 || pols[1].Line != 18 || pols[2].Line != 20 {
		t.Errorf("lines = %d, %d, %d, want 3, 18, 20", pols[0].Line, pols[1].Line, pols[2].Line)
	}
	third := &pols[2]
	for path, want := range map[string]int{"spec.ingress[0]": 28, "spec.ingress[0].ports[0]": 31, "spec.ingress[0].from[0].podSelector": 29, "spec.nothing": 25, "metadata.nothing.deeper": 22, "nothing": 20} {
		if got := third.LineOf(path); got != want {
			t.Errorf("LineOf(%q) = %d, want %d", path, got, want)
		}
	}
	if p := third.Object.Spec.Ingress[0].Ports[0].Port; p == nil || p.IntVal != 25 {
		t.Errorf("ingress[0].ports[0].port = %v, want 25", p)
	}
}

func TestParseReportsEveryUnknownKeyInLineOrder(t *testing.T) {
	_, _, err := Parse("p.yaml", []byte(policyHead+"  podSelector: {}\n  ingres: []\n  egres: []\n"))
	want := "p.yaml:8: spec.ingres: unknown field\np.yaml:9: spec.egres: unknown field"
	if err == nil || err.Error() != want {
		t.Errorf("Parse = %v, want\n%s", err, want)
	}
}

func TestParseCRLFAndFile(t *testing.T) {
	src := strings.ReplaceAll(policyHead+"  podSelector: {}\n---\n"+policyHead+"  podSelector: {}\n  ingres: []\n", "\n", "\r\n")
	if _, _, err := Parse("crlf.yaml", []byte(src)); err == nil || err.Error() != "crlf.yaml:16: spec.ingres: unknown field" {
		t.Errorf("Parse(CRLF) = %v, want crlf.yaml:16: spec.ingres: unknown field", err)
	}
	if _, _, err := ParseFile("testdata/nonexistent.yaml"); err == nil || !strings.Contains(err.Error(), "testdata/nonexistent.yaml") {
		t.Errorf("ParseFile(missing) = %v, want an error naming the file", err)
	}
}

// TestParseAliases: aliases work as in Kubernetes, and nested aliases
// that would expand a billion times are refused instead of eaten.
func TestParseAliases(t *testing.T) {
	src := policyHead + "  podSelector: &sel\n    matchLabels: {exsim.io/role: mailbox}\n  ingress:\n    - from:\n        - podSelector: *sel\n"
	pols, _, err := Parse("a.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if got := pols[0].Object.Spec.Ingress[0].From[0].PodSelector.MatchLabels["exsim.io/role"]; got != "mailbox" {
		t.Errorf("aliased selector = %q, want mailbox", got)
	}
	laughs := "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	for i := 'b'; i <= 'j'; i++ {
		prev := string(i - 1)
		laughs += string(i) + ": &" + string(i) + " [*" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + "]\n"
	}
	done := make(chan error, 1)
	go func() {
		_, _, err := Parse("laughs.yaml", []byte(policyHead+"  podSelector: {}\nx:\n"+indent(laughs)))
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || err.Error() != "laughs.yaml:1: document contains excessive aliasing" {
			t.Errorf("Parse(billion laughs) = %v, want laughs.yaml:1: document contains excessive aliasing", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Parse(billion laughs) still running after 20s")
	}
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimSuffix(s, "\n"), "\n", "\n  ") + "\n"
}
