package rca

import (
	"errors"
	"net/http"
)

// outlookConnectivity is RCA's Outlook Connectivity test: Autodiscover
// and the Offline Address Book; then MAPI over HTTP (MS-OXCMAPIHTTP) with
// internal/mapiclient against the endpoints a second Autodiscover, as a
// MAPI/HTTP client, names (mapiOverHTTP); then RPC over HTTP (MS-RPCH)
// with internal/rpchclient: the address book over NSPI and the mailbox
// over EMSMDB (rpcHTTP).
func outlookConnectivity(r *run) {
	adw, ok := r.autodiscoverHost()
	if !ok {
		return
	}
	ad, ok := adw.autodiscoverPOX(false, false)
	if !ok {
		return
	}
	offlineAddressBook(r, ad)
	if r.failed {
		return
	}
	mh, ok := adw.autodiscoverPOX(false, true)
	if !ok {
		return
	}
	var mailStore, addressBook string
	if !r.step("Find the MAPI over HTTP settings in the Autodiscover answer", func() (string, error) {
		_, _, ms, ab, found := mh.protocol("mapiHttp")
		if !found || ms == "" || ab == "" {
			return "", errors.New(`no <Protocol Type="mapiHttp"> with a MailStore and an AddressBook ExternalUrl`)
		}
		mailStore, addressBook = ms, ab
		return "MailStore " + ms + ", AddressBook " + ab, nil
	}) {
		return
	}
	if w, u, ok := r.webFor(mailStore); ok && w.challenge(http.MethodPost, u.Path, "NTLM", "Negotiate") {
		mapiOverHTTP(r, w, mailStore, addressBook)
	}
	if r.failed {
		return
	}
	var proxy string
	if !r.step("Find the Outlook Anywhere (EXPR) settings in the Autodiscover answer", func() (string, error) {
		server, _, _, _, found := ad.protocol("EXPR")
		if !found || server == "" {
			return "", errors.New(`no <Protocol><Type>EXPR</Type> with a Server`)
		}
		proxy = server
		return "RPC proxy server " + server, nil
	}) {
		return
	}
	w, ok := r.webTo(proxy)
	if !ok {
		return
	}
	// RPC_IN_DATA is what Outlook sends first (MS-RPCH 2.1.2.1.1).
	if w.challenge("RPC_IN_DATA", "/rpc/rpcproxy.dll", "NTLM", "Negotiate", "Basic") {
		server, _, _, _, _ := ad.protocol("EXCH")
		rpcHTTP(r, w, server, ad.LegacyDN)
	}
}
