package topology

// NTLMOptions is the NTLM policy of the Mailbox servers' SMTP AUTH, IMAP4,
// POP3 and HTTP (Negotiate and NTLM) logons: Windows' "Network security:
// LAN Manager authentication level" as far as a server applies it.
type NTLMOptions struct {
	// RequireV2 refuses NTLMv1 responses (with or without extended session
	// security), as a server at LAN Manager authentication level 5 ("Send
	// NTLMv2 response only. Refuse LM & NTLM"). Default false: NTLMv1 and
	// NTLMv2 are both accepted, as at Windows' default level 3.
	RequireV2 *bool `yaml:"require_v2,omitempty" json:"require_v2,omitempty"`
}

// NTLMRequireV2 reports whether the named server refuses NTLMv1: its
// mailbox.ntlm.require_v2, else the organization's ntlm.require_v2, else
// false.
func (t *Topology) NTLMRequireV2(server string) bool {
	if s := t.Server(server); s != nil && s.Mailbox != nil && s.Mailbox.NTLM != nil && s.Mailbox.NTLM.RequireV2 != nil {
		return *s.Mailbox.NTLM.RequireV2
	}
	if t.NTLM != nil && t.NTLM.RequireV2 != nil {
		return *t.NTLM.RequireV2
	}
	return false
}
