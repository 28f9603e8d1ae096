package edgesync

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestNewSubscriptionFile(t *testing.T) {
	te := startEdge(t)
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	nc := te.edge.Layout().ConfigNC
	f, acct, err := NewSubscription(EdgeInfo{Name: "EDGE01", FQDN: "edge01.contoso.com", CertPEM: te.certPEM, ConfigNC: nc}, now, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		field     string
		got, want any
	}{
		{"EffectiveDate", f.EffectiveDate, int64(638396640000000000)}, // DateTime(2024,1,1).Ticks
		{"Duration", f.Duration, int64(864000000000)},                 // TimeSpan.FromHours(24).Ticks
		{"ESRAUsername", f.ESRAUsername, "CN=ESRA.EDGE01,CN=Services," + nc},
		{"AdamSslPort", f.AdamSslPort, 50636},
		{"ServerType", f.ServerType, "Edge"},
		{"SerialNumber", f.SerialNumber, "Version 15.2 (Build 1118.7)"},
		{"major", f.VersionNumber >> 22 & 63, 15}, // Exchange's GetExchangeRelease decoding
		{"minor", f.VersionNumber >> 16 & 63, 2},
		{"build", f.VersionNumber & 32767, 1118},
		{"Expires", f.Expires(), now.Add(24 * time.Hour)},
		{"account DN", acct.DN, f.ESRAUsername},
		{"account expiry", acct.Expires, now.Add(24 * time.Hour)},
	} {
		if !reflect.DeepEqual(tc.got, tc.want) {
			t.Errorf("%s = %v, want %v", tc.field, tc.got, tc.want)
		}
	}
	if len(f.ESRAPassword) < 24 || strings.Contains(acct.PasswordHash, f.ESRAPassword) {
		t.Errorf("bootstrap password %q / hash %q", f.ESRAPassword, acct.PasswordHash)
	}

	data, err := f.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	xml := string(data)
	order := []string{"<?xml", "<EdgeSubscriptionData", "<EdgeServerName>EDGE01<", "<EdgeServerFQDN>edge01.contoso.com<", "<EdgeCertificateBlob>MII",
		"<ESRAUsername>", "<ESRAPassword>", "<EffectiveDate>638396640000000000<", "<Duration>864000000000<", "<AdamSslPort>50636<",
		"<ServerType>Edge<", "<ProductID>", "<VersionNumber>", "<SerialNumber>", "</EdgeSubscriptionData>"}
	pos := 0
	for _, tag := range order {
		i := strings.Index(xml[pos:], tag)
		if i < 0 {
			t.Fatalf("subscription file lacks %q after offset %d:\n%s", tag, pos, xml)
		}
		pos += i
	}
	back, err := ParseSubscriptionFile(data)
	if err != nil || !reflect.DeepEqual(back.EdgeCertificateBlob, f.EdgeCertificateBlob) || back.ESRAPassword != f.ESRAPassword {
		t.Errorf("ParseSubscriptionFile round trip = %+v, %v", back, err)
	}

	for _, v := range []time.Duration{time.Minute, -time.Hour} {
		if _, _, err := NewSubscription(EdgeInfo{Name: "EDGE01", FQDN: "e", CertPEM: te.certPEM, ConfigNC: nc}, now, v); err == nil {
			t.Errorf("NewSubscription(validity %v) accepted, want the 2-minute minimum", v)
		}
	}
	if _, _, err := NewSubscription(EdgeInfo{Name: "EDGE01", FQDN: "e", CertPEM: []byte("junk"), ConfigNC: nc}, now, 0); err == nil {
		t.Errorf("NewSubscription(no certificate) accepted")
	}
}

func TestImportChecksTheFile(t *testing.T) {
	te := startEdge(t)
	good, err := te.edge.NewSubscription(te.certPEM, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for name, tc := range map[string]struct {
		edit         func(f *SubscriptionFile)
		participants []Server
	}{
		"no password":     {func(f *SubscriptionFile) { f.ESRAPassword = "" }, []Server{ex01}},
		"no FQDN":         {func(f *SubscriptionFile) { f.EdgeServerFQDN = "" }, []Server{ex01}},
		"bad certificate": {func(f *SubscriptionFile) { f.EdgeCertificateBlob = "bm90IGEgY2VydA==" }, []Server{ex01}},
		"username not DN": {func(f *SubscriptionFile) { f.ESRAUsername = "ESRA.EDGE01" }, []Server{ex01}},
		"no participants": {func(*SubscriptionFile) {}, nil},
		"twice":           {func(*SubscriptionFile) {}, []Server{ex01, ex01}},
	} {
		f := *good
		tc.edit(&f)
		if _, err := Import(&f, tc.participants, now); err == nil {
			t.Errorf("Import(%s) accepted", name)
		}
	}
	creds, err := Import(good, []Server{ex01, ex02}, now)
	if err != nil {
		t.Fatal(err)
	}
	c := creds["EX02"]
	services := "CN=Services," + te.edge.Layout().ConfigNC
	if c.Username != "CN=ESRA.EDGE01.EX02.0,"+services || c.Password == "" || len(c.Participants) != 2 || c.EdgePort != 50636 {
		t.Errorf("EX02 credentials = %+v", c)
	}
	if creds["EX01"].Password == c.Password {
		t.Errorf("two participants share a password")
	}
	for _, p := range c.Participants {
		if strings.Contains(p.PasswordHash, creds[p.Server].Password) {
			t.Errorf("participant %s stored with its password in clear", p.Server)
		}
	}

	path := filepath.Join(t.TempDir(), "EX02", CredentialsFile)
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("credentials file mode = %v, %v; want 0600", st.Mode(), err)
	}
	back, err := LoadCredentials(path)
	if err != nil || !reflect.DeepEqual(back, c) {
		t.Errorf("LoadCredentials() = %+v, %v; want %+v", back, err, c)
	}
	os.WriteFile(path, []byte("{"), 0o600)
	if _, err := LoadCredentials(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("LoadCredentials(damaged) = %v, want an error naming the file", err)
	}
}

func TestHashAddress(t *testing.T) {
	// echo -n alice@contoso.com | sha256sum
	const got = "7c33b2e6eb98134873600fcd9d4c0d202ede269fc484f6f3b11d1be7f0349a3b"
	for _, in := range []string{"alice@contoso.com", "Alice@Contoso.COM", "SMTP:alice@contoso.com", " smtp:ALICE@contoso.com "} {
		if h := HashAddress(in); h != got {
			t.Errorf("HashAddress(%q) = %s, want %s", in, h, got)
		}
	}
}
