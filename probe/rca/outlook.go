package rca

import (
	"errors"
	"net/http"
)

// outlookConnectivity is RCA's Outlook Connectivity test: Autodiscover,
// then the MAPI over HTTP endpoints and the RPC over HTTP proxy. The
// MAPI/HTTP (MS-OXCMAPIHTTP) client is not in the repository yet: its
// steps are reported as not run. RPC over HTTP (MS-RPCH) opens the
// channels and reads the address book (NSPI) with internal/rpchclient;
// its mailbox step (EMSMDB) is not run (rpcHTTP).
func outlookConnectivity(r *run) {
	ad, ok := r.autodiscover(false)
	if !ok {
		return
	}
	offlineAddressBook(r, ad)
	if r.failed {
		return
	}
	var mailStore string
	if !r.step("Find the MAPI over HTTP settings in the Autodiscover answer", func() (string, error) {
		_, _, ms, ab, found := ad.protocol("mapiHttp")
		if !found || ms == "" {
			return "", errors.New(`no <Protocol Type="mapiHttp"> with a MailStore ExternalUrl`)
		}
		mailStore = ms
		return "MailStore " + ms + ", AddressBook " + ab, nil
	}) {
		return
	}
	if w, u, ok := r.webFor(mailStore); ok && w.challenge(http.MethodPost, u.Path, "NTLM", "Negotiate") {
		r.notBuilt("MAPI over HTTP: Connect to the mailbox (emsmdb) and log on")
		r.notBuilt("MAPI over HTTP: NSPI Bind to the address book")
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
		rpcHTTP(r, w, server)
	}
}
