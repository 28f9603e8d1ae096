package probe

// Table names the part of the seed a flow comes from.
type Table string

const (
	// TableClients: "Network ports required for clients and services".
	TableClients Table = "clients"
	// TableMailFlowNoEdge: "Network ports required for mail flow (no Edge
	// Transport servers)".
	TableMailFlowNoEdge Table = "mailflow-noedge"
	// TableMailFlowEdge: "Network ports required for mail flow with Edge
	// Transport servers".
	TableMailFlowEdge Table = "mailflow-edge"
	// TableGroundRules: the seed's ground rules: unrestricted traffic between
	// internal Exchange servers; the Edge and the Internet reach only what
	// the tables name.
	TableGroundRules Table = "ground-rules"
	// TableLab: what the lab itself needs that the seed does not name.
	TableLab Table = "lab"
)

// Tables lists the tables in report order: the seed's tables in the seed's
// order, then its ground rules, then the lab's own flows.
var Tables = []Table{TableClients, TableMailFlowNoEdge, TableMailFlowEdge, TableGroundRules, TableLab}

// Title is the table's heading in reports.
func (t Table) Title() string {
	switch t {
	case TableClients:
		return "Clients and services"
	case TableMailFlowNoEdge:
		return "Mail flow (no Edge Transport servers)"
	case TableMailFlowEdge:
		return "Mail flow with Edge Transport servers"
	case TableGroundRules:
		return "Ground rules"
	case TableLab:
		return "Lab infrastructure"
	}
	return string(t)
}

// Expect is what a flow must find.
type Expect string

const (
	// ExpectOpen: the service answers and identifies itself as the
	// destination server.
	ExpectOpen Expect = "open"
	// ExpectClosed: nothing may answer (refused or filtered).
	ExpectClosed Expect = "closed"
	// ExpectUnrestricted: the ground rule between internal Exchange servers:
	// no firewall in between, so the port answers or is refused by the host
	// itself, but is never filtered.
	ExpectUnrestricted Expect = "unrestricted"
	// ExpectReachable: the firewall lets the source out; whether the
	// destination listens does not matter (open or refused).
	ExpectReachable Expect = "reachable"

	// expectService resolves to open when the destination's listener is
	// enabled and closed when the topology leaves it disabled.
	expectService Expect = "open-if-enabled"
)

// Passes reports whether outcome o satisfies the expectation. A wrong-peer,
// tls-intercepted or starttls-stripped outcome fails every expectation.
func (e Expect) Passes(o Outcome) bool {
	switch e {
	case ExpectOpen:
		return o == OutcomeOpen
	case ExpectClosed:
		return o == OutcomeRefused || o == OutcomeFiltered
	case ExpectUnrestricted, ExpectReachable:
		return o == OutcomeOpen || o == OutcomeRefused
	}
	return false
}

// Check is the protocol check a flow runs.
type Check string

const (
	CheckSMTP         Check = "smtp"          // greeting names the server, EHLO
	CheckSMTPStartTLS Check = "smtp-starttls" // and EHLO offers STARTTLS, and the certificate is the lab's
	CheckHTTPS        Check = "https"         // lab certificate, Exchange's headers (X-FEServer)
	CheckHTTP         Check = "http"          // Exchange's headers (X-FEServer)
	CheckIMAP         Check = "imap"          // Exchange's greeting, CAPABILITY STARTTLS, lab certificate
	CheckIMAPS        Check = "imaps"         // lab certificate, Exchange's greeting
	CheckPOP3         Check = "pop3"          // Exchange's greeting, CAPA STLS, lab certificate
	CheckPOP3S        Check = "pop3s"         // lab certificate, Exchange's greeting
	CheckLDAPS        Check = "ldaps"         // lab certificate, anonymous bind, RootDSE read
	CheckDNS          Check = "dns"           // an authoritative (AA) answer for a lab name
	CheckTCP          Check = "tcp"           // connect only
)

// Flow is one documented flow of a topology.
type Flow struct {
	// ID is stable and readable: <rule>-<SOURCE>-<DEST>-<base port>, with
	// "-udp" for UDP flows, e.g. "edge-inbound-INET01-EDGE01-25".
	ID    string `json:"id"`
	Table Table  `json:"table"`
	// Purpose is the seed's words for the flow.
	Purpose string `json:"purpose"`
	// Feature is what breaks when the flow is broken.
	Feature string `json:"feature"`
	// Source and Dest are server names of the topology.
	Source string `json:"source"`
	Dest   string `json:"dest"`
	// Port is the destination port after any port offset; BasePort the
	// documented one. The RPC samples keep their documented port: nothing
	// of exsim binds them, and the offset exists only for binding.
	Port      int    `json:"port"`
	BasePort  int    `json:"base_port"`
	Transport string `json:"transport"` // tcp or udp
	Expect    Expect `json:"expect"`
	Check     Check  `json:"check"`
	// Listener is the Exchange connector or service the flow reaches.
	Listener string `json:"listener"`
	// WantName is the FQDN the peer must identify as.
	WantName string `json:"want_name"`
}
