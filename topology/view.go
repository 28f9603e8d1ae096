package topology

// View is the resolved topology as `exsim topology` prints it (SPEC
// section 2): servers with their listeners after any port offset.
type View struct {
	Organization    string        `json:"organization" yaml:"organization"`
	Site            string        `json:"site" yaml:"site"`
	Version         int           `json:"version" yaml:"version"`
	AcceptedDomains []string      `json:"accepted_domains" yaml:"accepted_domains"`
	Servers         []ServerView  `json:"servers" yaml:"servers"`
	Mailboxes       []MailboxView `json:"mailboxes" yaml:"mailboxes"`
}

// ServerView is one server of a View.
type ServerView struct {
	Name      string     `json:"name" yaml:"name"`
	Role      Role       `json:"role" yaml:"role"`
	FQDN      string     `json:"fqdn" yaml:"fqdn"`
	Address   string     `json:"address" yaml:"address"`
	Zone      string     `json:"zone" yaml:"zone"`
	Listeners []Listener `json:"listeners" yaml:"listeners"`
}

// MailboxView is one mailbox of a View (no password).
type MailboxView struct {
	Address     string `json:"address" yaml:"address"`
	DisplayName string `json:"display_name" yaml:"display_name"`
	Server      string `json:"server" yaml:"server"`
}

// View resolves the topology for display.
func (t *Topology) View() View {
	v := View{
		Organization:    t.Organization,
		Site:            t.Site,
		Version:         t.Version,
		AcceptedDomains: append([]string{}, t.AcceptedDomains...),
		Servers:         make([]ServerView, 0, len(t.Servers)),
		Mailboxes:       make([]MailboxView, 0, len(t.Mailboxes)),
	}
	for i := range t.Servers {
		s := &t.Servers[i]
		v.Servers = append(v.Servers, ServerView{
			Name: s.Name, Role: s.Role, FQDN: s.FQDN, Address: s.Address, Zone: s.Zone,
			Listeners: t.Listeners(s),
		})
	}
	for _, m := range t.Mailboxes {
		v.Mailboxes = append(v.Mailboxes, MailboxView{Address: m.Address, DisplayName: m.DisplayName, Server: m.Server})
	}
	return v
}
