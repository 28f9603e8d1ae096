package topology

import (
	"strings"
	"testing"
)

func TestPersona(t *testing.T) {
	good, _ := BuiltinSource("contoso")
	with := func(extra string) string {
		return strings.Replace(string(good), "version: 2019\n", "version: 2019\n"+extra, 1)
	}
	top, err := Parse("lab.yaml", good)
	if err != nil {
		t.Fatal(err)
	}
	if top.CU != 13 || top.Windows != 2019 || top.Certs.Key != CertKeyRSA || top.HTTPSTLS13() || top.BuildNumber() != "15.2.1258.12" {
		t.Errorf("defaults: %s, key %s, TLS 1.3 %v, build %s; want 2019 CU13 on 2019, rsa, no TLS 1.3, 15.2.1258.12",
			top.PersonaString(), top.Certs.Key, top.HTTPSTLS13(), top.BuildNumber())
	}
	cu15, err := Parse("lab.yaml", []byte(with("cu: 15\nwindows: 2022\ncerts:\n  key: ecdsa\n")))
	if err != nil {
		t.Fatal(err)
	}
	if !cu15.HTTPSTLS13() || cu15.BuildNumber() != "15.2.1748.10" || cu15.Certs.Key != CertKeyECDSA {
		t.Errorf("CU15 on 2022: TLS 1.3 %v, build %s, key %s; want true, 15.2.1748.10, ecdsa", cu15.HTTPSTLS13(), cu15.BuildNumber(), cu15.Certs.Key)
	}
	if cu15on2019, _ := Parse("lab.yaml", []byte(with("cu: 15\n"))); cu15on2019 == nil || cu15on2019.HTTPSTLS13() {
		t.Error("CU15 on Windows Server 2019 offers TLS 1.3; want TLS 1.2 only (SChannel 2019 has no TLS 1.3)")
	}
	for _, tc := range []struct{ extra, key, lineHas string }{
		{"cu: 12\n", "cu", "cu: 12"},
		{"windows: 2012\n", "windows", "windows: 2012"},
		{"cu: 14\nwindows: 2025\n", "windows", "windows: 2025"},
		{"certs:\n  key: dsa\n", "certs.key", "key: dsa"},
	} {
		es, line := parseFails(t, with(tc.extra))
		if !strings.Contains(es[0].Error(), ": "+tc.key+": ") {
			t.Errorf("%q: error %q, want lab.yaml:<line>: %s: ...", tc.extra, es[0], tc.key)
		}
		if !strings.Contains(line, tc.lineHas) {
			t.Errorf("%q: error names line %d %q, want the line with %q", tc.extra, es[0].Line, line, tc.lineHas)
		}
	}
}
