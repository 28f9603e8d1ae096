package topology

import (
	"net/url"
	"slices"
)

// VirtualDirectory is the InternalUrl and ExternalUrl of one web virtual
// directory of a Mailbox server, as Set-WebServicesVirtualDirectory (and
// Set-OwaVirtualDirectory, ...) set them. Autodiscover hands them out:
// InternalUrl to clients inside, ExternalUrl to Outlook Anywhere and
// mobile clients. Empty InternalURL: Exchange's default,
// https://<fqdn>/<path> (with the lab's HTTPS port); empty ExternalURL:
// the InternalURL.
type VirtualDirectory struct {
	InternalURL string `yaml:"internal_url,omitempty" json:"internal_url,omitempty"`
	ExternalURL string `yaml:"external_url,omitempty" json:"external_url,omitempty"`
}

// VirtualDirectoryNames are the keys of MailboxOptions.VirtualDirectories.
var VirtualDirectoryNames = []string{"ews", "owa", "ecp", "oab", "mapi", "activesync", "autodiscover"}

func validateVirtualDirectories(v *validator, key string, vdirs map[string]VirtualDirectory) {
	for name, vd := range vdirs {
		k := key + ".mailbox.virtual_directories." + name
		if !slices.Contains(VirtualDirectoryNames, name) {
			v.errf(k, "unknown virtual directory; one of %v", VirtualDirectoryNames)
			continue
		}
		for field, s := range map[string]string{"internal_url": vd.InternalURL, "external_url": vd.ExternalURL} {
			if s == "" {
				continue
			}
			if u, err := url.Parse(s); err != nil || u.Scheme != "https" || u.Host == "" {
				v.errf(k+"."+field, "%q: write an https:// URL", s)
			}
		}
	}
}
