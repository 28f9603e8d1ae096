package topology

import (
	"strings"
	"testing"
)

func TestNTLMRequireV2(t *testing.T) {
	good, _ := BuiltinSource("contoso")
	org := func(s string) string {
		return strings.Replace(s, "site: Default-First-Site-Name\n", "site: Default-First-Site-Name\nntlm:\n  require_v2: true\n", 1)
	}
	ex02 := func(v string) func(string) string {
		return func(s string) string {
			return strings.Replace(s, "      edge_sync: false\n", "      edge_sync: false\n      ntlm: {require_v2: "+v+"}\n", 1)
		}
	}
	for _, tc := range []struct {
		name       string
		edits      []func(string) string
		ex01, ex02 bool
	}{
		{"default", nil, false, false},
		{"organization", []func(string) string{org}, true, true},
		{"server", []func(string) string{ex02("true")}, false, true},
		{"server overrides organization", []func(string) string{org, ex02("false")}, true, false},
	} {
		src := string(good)
		for _, e := range tc.edits {
			src = e(src)
		}
		top, err := Parse("lab.yaml", []byte(src))
		if err != nil {
			t.Fatalf("%s: Parse = %v", tc.name, err)
		}
		if got := top.NTLMRequireV2("EX01"); got != tc.ex01 {
			t.Errorf("%s: NTLMRequireV2(EX01) = %v, want %v", tc.name, got, tc.ex01)
		}
		if got := top.NTLMRequireV2("ex02"); got != tc.ex02 {
			t.Errorf("%s: NTLMRequireV2(ex02) = %v, want %v", tc.name, got, tc.ex02)
		}
	}
}

func TestNTLMErrorsNameLineAndKey(t *testing.T) {
	good, _ := BuiltinSource("contoso")
	for _, tc := range []struct {
		name, insert, substr, line string
	}{
		{"unknown key", "ntlm:\n  require_v3: true\n", `unknown key "require_v3"`, "require_v3"},
		{"wrong type", "ntlm:\n  require_v2: sometimes\n", "expected true or false", "sometimes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			es, line := parseFails(t, strings.Replace(string(good), "site: Default-First-Site-Name\n", "site: Default-First-Site-Name\n"+tc.insert, 1))
			if !strings.Contains(es.Error(), tc.substr) {
				t.Errorf("error %q, want %q", es, tc.substr)
			}
			if !strings.Contains(line, tc.line) {
				t.Errorf("error %q points at line %q", es[0], line)
			}
		})
	}
}
