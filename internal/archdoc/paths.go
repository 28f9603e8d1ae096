package main

// A step is one stop on a path through exsim: where it happens in the lab
// (a server and its documented port, or a command) and the packages whose
// code does the work there, in the order the work passes through them.
type step struct {
	Where    string
	Packages []string
	What     string
}

// A path is a named sequence of steps. The test checks that every package a
// step names exists, so the picture cannot name a folder that moved.
type path struct {
	Title string
	Steps []step
}

// paths are the two journeys docs/ARCHITECTURE.md explains: a message from
// the internet to alice's mailbox in the contoso lab, and one probe of a
// documented flow.
var paths = []path{
	{
		Title: "A message from the internet to alice@contoso.com",
		Steps: []step{
			{"INET01 (the internet)", []string{"cmd/exsim", "transport", "transport/smtpclient", "internal/labnet"},
				"exsim send queues for contoso.com; MX lookup in the lab DNS, dial from 127.0.30.1"},
			{"DNS01 :53", []string{"servers/dnsd"},
				"answers MX contoso.com = edge01.contoso.com, authoritative, never recursing"},
			{"EDGE01 :25 Default internal Receive connector", []string{"servers/smtpd", "roles", "roles/senderrep", "store/directory"},
				"Exchange's banner and EHLO; recipient validation against the EdgeSync data; sender reputation"},
			{"EDGE01 transport", []string{"transport", "transport/smtpclient"},
				"one ingress: Received, hop count, tracking RECEIVE, durable queue; the Send connector to EX01"},
			{"EX01 :25 Default Frontend", []string{"servers/smtpd", "roles", "transport/smtpclient"},
				"Front End Transport proxies the session to a Transport service"},
			{"EX01 :2525 Default (Transport)", []string{"servers/smtpd", "transport", "transport/smtpclient"},
				"categorizer: route to alice's database, queue, deliver over SMTP"},
			{"EX01 :475 Mailbox Delivery", []string{"servers/smtpd", "transport", "store"},
				"the mailbox target writes alice's Inbox and tracks DELIVER"},
			{"EX01 :993 / :443", []string{"servers/imapd", "servers/httpd", "store"},
				"alice reads it over IMAP4, Outlook on the web or EWS"},
		},
	},
	{
		Title: "A probe of one documented flow",
		Steps: []step{
			{"exsim probe", []string{"cmd/exsim", "topology", "probe"},
				"the flows of Microsoft's port tables, derived from the topology"},
			{"the source server's process", []string{"internal/control", "probe", "internal/labnet"},
				"the management API runs each check from the source's own address"},
			{"the destination listener", []string{"servers/smtpd", "servers/httpd", "servers/ldapd", "servers/dnsd"},
				"speaks enough of the protocol to prove the Exchange feature works"},
			{"the report", []string{"probe/report", "internal/junit"},
				"table, JSON, JUnit, Markdown and SVG: which rule broke which feature"},
		},
	},
}
