package transport

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/exsim/exsim/internal/fuzzseed"
)

func TestSplitAndStrip(t *testing.T) {
	raw := "Received: from a\r\n by b; date\r\nX-MS-Exchange-Organization-AuthAs: Internal\r\nSubject: hi\r\n\tthere\r\nx-ms-exchange-organization-scl: -1\r\n\r\nbody\r\n"
	m := SplitMessage([]byte(raw))
	if got := m.Get("subject"); got != "hi\tthere" {
		t.Errorf("get(Subject) = %q", got)
	}
	if n := m.Count("Received"); n != 1 {
		t.Errorf("count(Received) = %d", n)
	}
	s := m.Without(OrgPrefix)
	out := string(s.Bytes([]string{"Received: from x (1.2.3.4) by y (5.6.7.8) with Microsoft SMTP Server id 15.2.1258.12; Fri, 5 Aug 2016 16:24:41 -0700"}, []string{HeaderAuthAs + ": Anonymous"}))
	if strings.Contains(out, "AuthAs: Internal") || strings.Contains(strings.ToLower(out), "organization-scl") {
		t.Errorf("org headers not stripped:\n%s", out)
	}
	if !strings.HasPrefix(out, "Received: from x (1.2.3.4) by y (5.6.7.8) with Microsoft SMTP Server id\r\n 15.2.1258.12; Fri, 5 Aug 2016 16:24:41 -0700\r\nReceived: from a\r\n by b; date\r\n") {
		t.Errorf("prepend/fold wrong:\n%q", out)
	}
	if !strings.HasSuffix(out, HeaderAuthAs+": Anonymous\r\n\r\nbody\r\n") {
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
		m := SplitMessage([]byte(tc.in))
		if string(m.Header) != tc.wantHdr || string(m.Body) != tc.wantBody {
			t.Errorf("SplitMessage(%q) = %q / %q, want %q / %q", tc.in, m.Header, m.Body, tc.wantHdr, tc.wantBody)
		}
	}
	// The input must not be modified.
	in := []byte("Subject: x\nbad line\nrest")
	cp := append([]byte(nil), in...)
	SplitMessage(in)
	if !bytes.Equal(in, cp) {
		t.Errorf("splitMessage modified its input: %q", in)
	}
}

func TestReceivedFormat(t *testing.T) {
	when := time.Date(2024, 3, 29, 23, 50, 41, 0, time.FixedZone("", 3600))
	got := ReceivedHop{HeloName: "edge01.contoso.com", ClientIP: "192.0.2.25", ByFQDN: "ex01.contoso.com", ByIP: "192.0.2.31", TLS: "version=TLS1_2, cipher=TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", Build: "15.2.1258.12", Via: "Frontend Transport", When: when}.String()
	want := "Received: from edge01.contoso.com (192.0.2.25) by ex01.contoso.com (192.0.2.31) with Microsoft SMTP Server (version=TLS1_2, cipher=TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256) id 15.2.1258.12 via Frontend Transport; Fri, 29 Mar 2024 23:50:41 +0100"
	if got != want {
		t.Errorf("ReceivedHop.String() =\n%s\nwant\n%s", got, want)
	}
	plain := ReceivedHop{HeloName: "ex01.contoso.com", ClientIP: "192.0.2.31", ByFQDN: "ex01.contoso.com", ByIP: "192.0.2.31", Build: "15.2.1258.12", When: when}.String()
	if !strings.Contains(plain, "with Microsoft SMTP Server id 15.2.1258.12;") {
		t.Errorf("no-TLS form: %s", plain)
	}
	at := ArrivalTime(time.Date(2024, 3, 29, 22, 50, 41, 911200000, time.UTC))
	if at != "29 Mar 2024 22:50:41.9112 (UTC)" {
		t.Errorf("arrivalTime = %q", at)
	}
	if back, ok := ParseArrivalTime(at); !ok || back.Second() != 41 {
		t.Errorf("ParseArrivalTime(%q) = %v %v", at, back, ok)
	}
}

func FuzzHeaders(f *testing.F) {
	fuzzseed.AddBytes(f,
		"Subject: x\r\n\r\nbody",
		"Received: a\r\n b\r\nX-MS-Exchange-Organization-AuthAs: Internal\r\n\r\n",
		" leading continuation\r\n\r\n",
		"\n\n\n",
	)
	f.Fuzz(func(t *testing.T, data []byte) {
		cp := append([]byte(nil), data...)
		m := SplitMessage(data)
		if !bytes.Equal(cp, data) {
			t.Fatal("input modified")
		}
		out := m.Without(OrgPrefix).Bytes([]string{"Received: test"}, []string{HeaderAuthAs + ": Anonymous"})
		again := SplitMessage(out)
		if again.Get("Received") != "test" {
			t.Fatalf("prepended Received lost: %q", out)
		}
		if again.Count(HeaderAuthAs) != 1 {
			t.Fatalf("header firewall left %d AuthAs fields in %q", again.Count(HeaderAuthAs), out)
		}
		if !bytes.HasSuffix(out, m.Body) {
			t.Fatal("body changed")
		}
		// Assembled in place, in front of the body, it is the same message.
		buf := append(make([]byte, headroom, headroom+len(data)), data...)
		in := SplitMessage(buf[headroom:])
		want := in.Without(OrgPrefix).Bytes([]string{"Received: test"}, []string{HeaderAuthAs + ": Anonymous"})
		if got := in.Without(OrgPrefix).BytesInPlace(buf, []string{"Received: test"}, []string{HeaderAuthAs + ": Anonymous"}); !bytes.Equal(got, want) {
			t.Fatalf("BytesInPlace = %q, want %q", got, want)
		}
	})
}
