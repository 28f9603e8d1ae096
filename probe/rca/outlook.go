package rca

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// outlookConnectivity is RCA's Outlook Connectivity test: Autodiscover,
// then the MAPI over HTTP endpoints and the RPC over HTTP proxy. The
// MAPI/HTTP (MS-OXCMAPIHTTP) and RPC/HTTP (MS-RPCH) clients are not in the
// repository yet: their protocol steps are reported as not run.
func outlookConnectivity(r *run) {
	ad, ok := r.autodiscover(false)
	if !ok {
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
		r.notBuilt("RPC over HTTP: establish the RPC_IN_DATA and RPC_OUT_DATA channels")
		r.notBuilt("RPC over HTTP: bind the address book (NSPI) and the mailbox (EMSMDB)")
	}
}

// activeSync is RCA's Exchange ActiveSync test: Autodiscover (mobilesync),
// then OPTIONS with Basic authentication as a device sends it
// (MS-ASHTTP 2.2.3). The WBXML commands (MS-ASCMD) need the ActiveSync
// client, which is not in the repository yet.
func activeSync(r *run) {
	ad, ok := r.autodiscover(true)
	if !ok {
		return
	}
	var easURL string
	for _, s := range ad.Mobile {
		if s.Type == "MobileSync" {
			easURL = s.URL
		}
	}
	w, u, ok := r.webFor(easURL)
	if !ok || !w.challenge(http.MethodOptions, u.Path, "Basic") {
		return
	}
	if !r.step("OPTIONS "+u.Path+" as "+r.o.User+" (Basic authentication)", func() (string, error) {
		resp, b, err := w.do("basic", http.MethodOptions, u.Path, nil, nil)
		if err != nil {
			return "", err
		}
		if resp.StatusCode != http.StatusOK {
			return "", statusErr(resp, b)
		}
		vers := resp.Header.Get("MS-ASProtocolVersions")
		if !strings.Contains(vers, "14.1") && !strings.Contains(vers, "16.1") {
			return "", fmt.Errorf("MS-ASProtocolVersions %q offers neither 14.1 nor 16.1", vers)
		}
		return "MS-ASProtocolVersions " + vers, nil
	}) {
		return
	}
	r.notBuilt("Provision (policy key)")
	r.notBuilt("FolderSync")
	r.notBuilt("Sync the Inbox")
	r.notBuilt("Ping")
}
