package roles

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestSplitAndStrip(t *testing.T) {
	raw := "Received: from a\r\n by b; date\r\nX-MS-Exchange-Organization-AuthAs: Internal\r\nSubject: hi\r\n\tthere\r\nx-ms-exchange-organization-scl: -1\r\n\r\nbody\r\n"
	m := splitMessage([]byte(raw))
	if got := m.get("subject"); got != "hi\tthere" {
		t.Errorf("get(Subject) = %q", got)
	}
	if n := m.count("Received"); n != 1 {
		t.Errorf("count(Received) = %d", n)
	}
	s := m.without(orgPrefix)
	out := string(s.bytes([]string{"Received: from x (1.2.3.4) by y (5.6.7.8) with Microsoft SMTP Server id 15.2.1258.12; Fri, 5 Aug 2016 16:24:41 -0700"}, []string{hdrAuthAs + ": Anonymous"}))
	if strings.Contains(out, "AuthAs: Internal") || strings.Contains(strings.ToLower(out), "organization-scl") {
		t.Errorf("org headers not stripped:\n%s", out)
	}
	if !strings.HasPrefix(out, "Received: from x (1.2.3.4) by y (5.6.7.8) with Microsoft SMTP Server id\r\n 15.2.1258.12; Fri, 5 Aug 2016 16:24:41 -0700\r\nReceived: from a\r\n by b; date\r\n") {
		t.Errorf("prepend/fold wrong:\n%q", out)
	}
	if !strings.HasSuffix(out, hdrAuthAs+": Anonymous\r\n\r\nbody\r\n") {
		t.Errorf("append wrong:\n%q", out)
	}
}

func TestSplitOddMessages(t *testing.T) {
	for _, tc := range []struct{ in, wantHdr, wantBody string }{
		{"no header at all\r\n", "", "no header at all\r\n"},
		{"Subject: x\nFrom: y\n\nbare lf\n", "Subject: x\r\nFrom: y\r\n", "bare lf\n"},
		{"Subject: only header\r\n", "Subject: only header\r\n", ""},
		{"Subject: x\r\nnot a header line\r\nmore\r\n", "Subject: x\r\n", "not a header line\r\nmore\r\n"},
		{"", "", ""},
	} {
		m := splitMessage([]byte(tc.in))
		if string(m.header) != tc.wantHdr || string(m.body) != tc.wantBody {
			t.Errorf("splitMessage(%q) = %q / %q, want %q / %q", tc.in, m.header, m.body, tc.wantHdr, tc.wantBody)
		}
	}
	// The input must not be modified.
	in := []byte("Subject: x\nbad line\nrest")
	cp := append([]byte(nil), in...)
	splitMessage(in)
	if !bytes.Equal(in, cp) {
		t.Errorf("splitMessage modified its input: %q", in)
	}
}

func TestReceivedFormat(t *testing.T) {
	when := time.Date(2024, 3, 29, 23, 50, 41, 0, time.FixedZone("", 3600))
	got := received(receivedHop{heloName: "edge01.contoso.com", clientIP: "192.0.2.25", byFQDN: "ex01.contoso.com", byIP: "192.0.2.31", tls: "version=TLS1_2, cipher=TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", build: "15.2.1258.12", via: "Frontend Transport", when: when})
	want := "Received: from edge01.contoso.com (192.0.2.25) by ex01.contoso.com (192.0.2.31) with Microsoft SMTP Server (version=TLS1_2, cipher=TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256) id 15.2.1258.12 via Frontend Transport; Fri, 29 Mar 2024 23:50:41 +0100"
	if got != want {
		t.Errorf("received() =\n%s\nwant\n%s", got, want)
	}
	plain := received(receivedHop{heloName: "ex01.contoso.com", clientIP: "192.0.2.31", byFQDN: "ex01.contoso.com", byIP: "192.0.2.31", build: "15.2.1258.12", when: when})
	if !strings.Contains(plain, "with Microsoft SMTP Server id 15.2.1258.12;") {
		t.Errorf("no-TLS form: %s", plain)
	}
	at := arrivalTime(time.Date(2024, 3, 29, 22, 50, 41, 911200000, time.UTC))
	if at != "29 Mar 2024 22:50:41.9112 (UTC)" {
		t.Errorf("arrivalTime = %q", at)
	}
	if back, ok := parseArrivalTime(at); !ok || back.Second() != 41 {
		t.Errorf("parseArrivalTime(%q) = %v %v", at, back, ok)
	}
}

func FuzzHeaders(f *testing.F) {
	f.Add([]byte("Subject: x\r\n\r\nbody"))
	f.Add([]byte("Received: a\r\n b\r\nX-MS-Exchange-Organization-AuthAs: Internal\r\n\r\n"))
	f.Add([]byte(" leading continuation\r\n\r\n"))
	f.Add([]byte("\n\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cp := append([]byte(nil), data...)
		m := splitMessage(data)
		if !bytes.Equal(cp, data) {
			t.Fatal("input modified")
		}
		out := m.without(orgPrefix).bytes([]string{"Received: test"}, []string{hdrAuthAs + ": Anonymous"})
		again := splitMessage(out)
		if again.get("Received") != "test" {
			t.Fatalf("prepended Received lost: %q", out)
		}
		if again.count(hdrAuthAs) != 1 {
			t.Fatalf("header firewall left %d AuthAs fields in %q", again.count(hdrAuthAs), out)
		}
		if !bytes.HasSuffix(out, m.body) {
			t.Fatal("body changed")
		}
	})
}
