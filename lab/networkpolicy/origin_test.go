package networkpolicy

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// The lines matter: the origins below name them.
const attributionYAML = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: allow-smtp
  namespace: internal
spec:
  podSelector:
    matchLabels: {exsim.io/role: mailbox}
  ingress:
    - from:
        - namespaceSelector: {}
          podSelector:
            matchLabels: {exsim.io/role: edge}
      ports:
        - port: 25
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: ex01-out
  namespace: internal
spec:
  podSelector:
    matchLabels: {exsim.io/server: ex01}
  policyTypes: [Ingress, Egress]
  egress:
    - to:
        - ipBlock:
            cidr: 127.0.30.0/24
            except: [127.0.30.2/32]
      ports:
        - port: 25
`

// origins maps a trail of rule comments to the origins' strings.
func origins(t *testing.T, rs *Ruleset, trail []string) []string {
	t.Helper()
	var out []string
	for _, c := range trail {
		r, ok := rs.Lookup(c)
		if !ok {
			t.Fatalf("Lookup(%q): no such rule", c)
		}
		if r.Comment != c {
			t.Fatalf("Lookup(%q) = rule %q", c, r.Comment)
		}
		out = append(out, r.Origin.String())
	}
	return out
}

// attributionRules is attributionYAML translated for the contoso lab.
func attributionRules(t *testing.T) *Ruleset {
	t.Helper()
	pols, _, err := Parse("policies.yaml", []byte(attributionYAML))
	if err != nil {
		t.Fatal(err)
	}
	rs, err := Translate(contoso(t), pols)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func TestAttribution(t *testing.T) {
	rs := attributionRules(t)
	prog := ParseNft(t, rs.Text())
	for _, tc := range []struct {
		p     Packet
		allow bool
		trail []string // the origins of every rule on the way, the deciding one last
	}{
		{tcp(edge01, ex01, 25), true, []string{
			"new connection: the egress check",
			"source not selected by any policy with policyType Egress (or not a pod): egress allowed",
			"new connection: the ingress check",
			"policies.yaml:1: EX01 ingress isolated by allow-smtp (policies.yaml:1), ex01-out (policies.yaml:17)",
			"policies.yaml:10: allow-smtp ingress[0] from namespaceSelector {} podSelector exsim.io/role=edge tcp 25",
		}},
		{tcp(inet01, ex01, 25), false, []string{
			"new connection: the egress check",
			"source not selected by any policy with policyType Egress (or not a pod): egress allowed",
			"new connection: the ingress check",
			"policies.yaml:1: EX01 ingress isolated by allow-smtp (policies.yaml:1), ex01-out (policies.yaml:17)",
			"policies.yaml:1: EX01 ingress denied: selected by allow-smtp (policies.yaml:1), ex01-out (policies.yaml:17); none of their ingress rules allows it",
		}},
		{tcp(inet01, ex02, 25), false, []string{
			"new connection: the egress check",
			"source not selected by any policy with policyType Egress (or not a pod): egress allowed",
			"new connection: the ingress check",
			"policies.yaml:1: EX02 ingress isolated by allow-smtp (policies.yaml:1)",
			"policies.yaml:1: EX02 ingress denied: selected by allow-smtp (policies.yaml:1); none of their ingress rules allows it",
		}},
		{tcp(ex01, inet01, 25), true, []string{
			"new connection: the egress check",
			"policies.yaml:17: EX01 egress isolated by ex01-out (policies.yaml:17)",
			"policies.yaml:27: ex01-out egress[0] to ipBlock 127.0.30.0/24 except 127.0.30.2/32 tcp 25",
			"new connection: the ingress check",
			"destination not selected by any policy with policyType Ingress (or not a pod): ingress allowed",
		}},
		{tcp(ex01, inet01, 587), false, []string{
			"new connection: the egress check",
			"policies.yaml:17: EX01 egress isolated by ex01-out (policies.yaml:17)",
			"policies.yaml:17: EX01 egress denied: selected by ex01-out (policies.yaml:17); none of their egress rules allows it",
		}},
	} {
		allow, trail := prog.Eval(t, tc.p)
		if allow != tc.allow {
			t.Errorf("Eval(%v) = %v, want %v", tc.p, allow, tc.allow)
		}
		if got := origins(t, rs, trail); !slices.Equal(got, tc.trail) {
			t.Errorf("origins of %v:\n%s\nwant\n%s", tc.p, strings.Join(got, "\n"), strings.Join(tc.trail, "\n"))
		}
	}
	// The deny decision is data, not only words.
	_, trail := prog.Eval(t, tcp(inet01, ex01, 25))
	last, _ := rs.Lookup(trail[len(trail)-1])
	o := last.Origin
	if o.Kind != KindDefaultDeny || o.Direction != Ingress || o.Server != "EX01" || len(o.Policies) != 2 ||
		o.Policies[1] != (PolicyRef{File: "policies.yaml", Line: 17, Namespace: "internal", Name: "ex01-out"}) {
		t.Errorf("deny origin = %+v", o)
	}
}

func TestLookupAndComments(t *testing.T) {
	rs := attributionRules(t)
	text := rs.Text()
	for i, r := range rs.Rules {
		if want := fmt.Sprintf("np:%d", i); r.Comment != want {
			t.Errorf("Rules[%d].Comment = %q, want %q", i, r.Comment, want)
		}
		if strings.Count(text, r.Text()+"\n") != 1 {
			t.Errorf("rule %q is not once in the text", r.Text())
		}
	}
	for _, bad := range []string{"", "np:", "np:-1", fmt.Sprintf("np:%d", len(rs.Rules)), "3", "xx:3", "np:3x"} {
		if _, ok := rs.Lookup(bad); ok {
			t.Errorf("Lookup(%q) found a rule", bad)
		}
	}
	// The shape the lab loads: the table replaced, a forward hook with
	// policy drop, replies first.
	for _, want := range []string{
		"table inet exsim\ndelete table inet exsim\n",
		"\tchain forward {\n\t\ttype filter hook forward priority filter; policy drop;\n\t\t# reply or related packet of an allowed connection\n\t\tct state established,related accept comment \"np:0\"\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
}
