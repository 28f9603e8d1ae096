package topology

import "fmt"

// Certs chooses the servers' certificates.
type Certs struct {
	// Key is the key type of the server certificates the lab CA issues:
	// rsa (RSA-2048, the default, as Exchange's self-signed and commercial
	// certificates are) or ecdsa (P-256: a third of RSA's handshake CPU, but
	// a key type scanners do not see on Exchange servers).
	Key string `yaml:"key,omitempty" json:"key"`
}

// Certificate key types.
const (
	CertKeyRSA   = "rsa"
	CertKeyECDSA = "ecdsa"
)

// defaultCU is the cumulative update impersonated when the file names none.
var defaultCU = map[int]int{2016: 23, 2019: 13}

// supportedWindows are the Windows Server versions each Exchange version is
// supported on, as far as exsim impersonates them (Exchange Server
// supportability matrix: 2019 on Windows Server 2022 from CU12, on 2025 from
// CU15; 2016 on Windows Server 2016).
var supportedWindows = map[int][]int{2016: {2016}, 2019: {2019, 2022, 2025}}

func (t *Topology) applyPersonaDefaults() {
	if t.CU == 0 {
		t.CU = defaultCU[t.Version]
	}
	if t.Windows == 0 {
		t.Windows = map[int]int{2016: 2016, 2019: 2019}[t.Version]
	}
	if t.Certs.Key == "" {
		t.Certs.Key = CertKeyRSA
	}
}

func (t *Topology) validatePersona(v *validator) {
	switch {
	case t.Version == 2016 && t.CU != 23:
		v.errf("cu", "%d: exsim impersonates Exchange 2016 CU23 only", t.CU)
	case t.Version == 2019 && (t.CU < 13 || t.CU > 15):
		v.errf("cu", "%d: exsim impersonates Exchange 2019 CU13, CU14 or CU15", t.CU)
	}
	ok := false
	for _, w := range supportedWindows[t.Version] {
		ok = ok || w == t.Windows
	}
	switch {
	case !ok:
		v.errf("windows", "%d: Exchange %d runs on Windows Server %v", t.Windows, t.Version, supportedWindows[t.Version])
	case t.Windows == 2025 && t.CU < 15:
		v.errf("windows", "2025: Exchange 2019 is supported on Windows Server 2025 from CU15 on (cu: %d)", t.CU)
	}
	if t.Certs.Key != CertKeyRSA && t.Certs.Key != CertKeyECDSA {
		v.errf("certs.key", "%q: use rsa (the default) or ecdsa", t.Certs.Key)
	}
}

// HTTPSTLS13 reports whether the HTTPS listeners (443, 444) offer TLS 1.3:
// Exchange 2019 CU15 on Windows Server 2022 or later. Exchange supports
// TLS 1.3 for HTTPS client access only; SMTP, IMAP4 and POP3 stay TLS 1.2
// (Exchange Server 2019 CU15 announcement; Exchange Server TLS
// configuration best practices). Exchange 2016 and earlier CUs are TLS 1.2.
func (t *Topology) HTTPSTLS13() bool {
	return t.Version == 2019 && t.CU >= 15 && t.Windows >= 2022
}

// PersonaString is "Exchange 2019 CU13 on Windows Server 2019", for logs.
func (t *Topology) PersonaString() string {
	return fmt.Sprintf("Exchange %d CU%d on Windows Server %d", t.Version, t.CU, t.Windows)
}
