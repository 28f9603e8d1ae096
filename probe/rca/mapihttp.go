package rca

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/exsim/exsim/internal/mapiclient"
)

// mapiOverHTTP is the MAPI over HTTP part of the Outlook test, against
// the endpoints Autodiscover named (both on w's host, as Exchange names
// them): the address book first (NSPI Bind, ResolveNames of the user, as
// RCA's "Check Name"), then the mailbox (Connect with the DN the address
// book gave, RopLogon, the folders under the top of the store, the
// Inbox's contents table), then Disconnect and Unbind.
func mapiOverHTTP(r *run, w *web, mailStore, addressBook string) {
	var s *mapiclient.Session
	closed := false
	defer func() {
		if s != nil && !closed {
			// Leave no Session Context behind a failed step.
			ctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), 5*time.Second)
			defer cancel()
			s.Close(ctx)
		}
	}()
	var self mapiclient.Entry
	if !r.step("MAPI over HTTP: NSPI Bind to the address book and resolve "+r.o.User, func() (string, error) {
		if u, err := url.Parse(addressBook); err != nil || !strings.EqualFold(u.Host, w.hostport()) {
			return "", fmt.Errorf("the AddressBook URL %s is not on the MailStore's host %s", addressBook, w.hostport())
		}
		var err error
		s, err = mapiclient.BindAddressBook(r.ctx, mapiclient.Config{EMSMDBURL: mailStore, NSPIURL: addressBook,
			User: r.o.User, Password: r.o.Password, HTTP: w.client("")})
		if err != nil {
			return "NTLM as " + r.o.User, err
		}
		es, err := s.ResolveNames(r.ctx, r.o.User)
		if err != nil {
			return "Bind", err
		}
		if self = es[0]; self.DN == "" {
			return "Bind", fmt.Errorf("ResolveNames does not resolve %s to one entry", r.o.User)
		}
		return fmt.Sprintf("NTLM as %s; Bind; ResolveNames: %s is %q (%s)", r.o.User, r.o.User, self.DisplayName, self.DN), nil
	}) {
		return
	}
	if !r.step("MAPI over HTTP: Connect to the mailbox (emsmdb) and log on", func() (string, error) {
		s.DN = self.DN
		if err := s.Logon(r.ctx); err != nil {
			return "Connect as " + self.DN, err
		}
		folders, err := s.Folders(r.ctx)
		if err != nil {
			return fmt.Sprintf("Connect as %q, RopLogon", s.DisplayName), err
		}
		return fmt.Sprintf("Connect as %q (%s); RopLogon; %d folders under the Top of Information Store (%s)",
			s.DisplayName, s.DN, len(folders), folderNames(folders)), nil
	}) {
		return
	}
	if !r.step("MAPI over HTTP: read the Inbox (contents table)", func() (string, error) {
		msgs, err := s.Inbox(r.ctx)
		if err != nil {
			return "", err
		}
		if len(msgs) == 1 {
			return "1 message in the Inbox", nil
		}
		return fmt.Sprintf("%d messages in the Inbox", len(msgs)), nil
	}) {
		return
	}
	r.step("MAPI over HTTP: Disconnect and Unbind", func() (string, error) {
		closed = true
		if err := s.Close(r.ctx); err != nil {
			return "", err
		}
		return "Disconnect; Unbind", nil
	})
}

// folderNames lists folders by name.
func folderNames(fs []mapiclient.Folder) string {
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = f.Name
	}
	return strings.Join(names, ", ")
}
