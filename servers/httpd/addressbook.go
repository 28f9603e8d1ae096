package httpd

import (
	"context"
	"strings"

	"github.com/google/uuid"

	"github.com/exsim/exsim/internal/nspi"
)

// addressBook is the Global Address List as the address book protocols
// serve it, NSPI (Outlook Anywhere) and the Offline Address Book alike:
// the Backend's entries with their legacyExchangeDN and objectGUID filled
// in, in the GAL's order.
func addressBook(ctx context.Context, b Backend, c *config) ([]nspi.Entry, error) {
	list, err := b.AddressBook(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]nspi.Entry, 0, len(list))
	for _, e := range list {
		g, err := uuid.Parse(e.ObjectGUID)
		if err != nil {
			g = uuid.NewSHA1(uuid.NameSpaceURL, []byte("mailto:"+strings.ToLower(e.Address)))
		}
		dn := legacyDN(c, &User{Address: e.Address, LegacyDN: e.LegacyDN, MailboxGUID: e.MailboxGUID})
		out = append(out, nspi.Entry{DisplayName: e.DisplayName, Alias: e.Alias, Address: e.Address,
			LegacyDN: dn, ProxyAddresses: e.ProxyAddresses, GUID: guidWire(g), Created: e.Created})
	}
	nspi.SortEntries(out)
	return out, nil
}

// guidWire is a GUID in the byte order Windows stores objectGUID (the
// first three fields little-endian).
func guidWire(g uuid.UUID) [16]byte {
	b := [16]byte(g)
	b[0], b[1], b[2], b[3] = b[3], b[2], b[1], b[0]
	b[4], b[5] = b[5], b[4]
	b[6], b[7] = b[7], b[6]
	return b
}
