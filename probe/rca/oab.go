package rca

import (
	"errors"
	"fmt"
	"strings"

	"github.com/exsim/exsim/internal/oab"
)

// offlineAddressBook downloads the Offline Address Book Autodiscover
// names (OABUrl) as Outlook does in cached mode: the oab.xml manifest,
// then its version 4 full file, with NTLM. It passes when the file's size
// and SHA-1 match the manifest and it lists the tested user.
func offlineAddressBook(r *run, ad *adSettings) {
	oabURL := ad.oabURL()
	if !r.step("Find the Offline Address Book URL (OABUrl) in the Autodiscover answer", func() (string, error) {
		if oabURL == "" {
			return "", errors.New("no <OABUrl> in any Protocol block: Outlook in cached mode cannot download the address book")
		}
		return "OABUrl " + oabURL, nil
	}) {
		return
	}
	w, u, ok := r.webFor(oabURL)
	if !ok {
		return
	}
	r.step("Download oab.xml and the version 4 full Offline Address Book from "+u.Path+" (NTLM authentication)", func() (string, error) {
		d, err := oab.FetchDetails(r.ctx, w.client("ntlm"), oabURL, r.o.User, r.o.Password)
		if err != nil {
			return "", err
		}
		for _, e := range d.Entries {
			if strings.EqualFold(e.SMTPAddress, r.o.User) {
				return fmt.Sprintf("%d entries, %s among them as %q", len(d.Entries), r.o.User, e.DisplayName), nil
			}
		}
		return "", fmt.Errorf("the address book's %d entries do not list %s", len(d.Entries), r.o.User)
	})
}
