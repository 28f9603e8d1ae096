package rca

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	ntlmssp "github.com/Azure/go-ntlmssp"
)

// web is one HTTPS host that passed the connection and certificate steps.
type web struct {
	r    *run
	host string
	addr netip.Addr
	port int
}

// webTo runs resolve, connect and the certificate checks for a host name,
// or a host:port as Autodiscover's EXPR Server may give it: a name alone
// is the documented 443, a port given is dialled as it is.
func (r *run) webTo(hostport string) (*web, bool) {
	host, shown, actual := hostport, 443, r.port(443)
	if h, p, err := net.SplitHostPort(hostport); err == nil {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 || n > 65535 {
			return nil, r.step("Check the host "+hostport, func() (string, error) { return "", fmt.Errorf("bad port %q", p) })
		}
		host, shown, actual = h, n, n
	}
	tc, addr, ok := r.tlsAt(host, shown, actual)
	if !ok {
		return nil, false
	}
	tc.Close()
	return &web{r: r, host: host, addr: addr, port: actual}, true
}

// webFor is webTo for the host of a URL an Autodiscover answer gave.
func (r *run) webFor(rawURL string) (*web, *url.URL, bool) {
	var u *url.URL
	if !r.step("Check the URL "+rawURL, func() (string, error) {
		var err error
		if u, err = url.Parse(rawURL); err != nil {
			return "", err
		}
		if u.Scheme != "https" {
			return "", fmt.Errorf("scheme %q: the test needs https", u.Scheme)
		}
		return "host " + u.Hostname(), nil
	}) {
		return nil, nil, false
	}
	w, ok := r.webTo(u.Host)
	return w, u, ok
}

// client is an HTTP client that reaches the host from the position,
// verifying its certificate against the lab CA. auth is "" (none),
// "ntlm" (NTLM or Negotiate, as Outlook does) or "basic".
func (w *web) client(auth string) *http.Client {
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{ServerName: w.host, RootCAs: w.r.env.Roots, MinVersion: tls.VersionTLS12},
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return w.r.env.Dial(ctx, "tcp", net.JoinHostPort(w.addr.String(), strconv.Itoa(w.port)))
		},
		MaxIdleConnsPerHost: 1,
	}
	var rt http.RoundTripper = tr
	if auth == "ntlm" {
		rt = ntlmssp.Negotiator{RoundTripper: tr}
	}
	return &http.Client{Transport: rt, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// url is https://host[:port]/path, with the port dialled.
func (w *web) url(path string) string { return "https://" + w.hostport() + path }

// hostport is the host as a Host header names it: the port only when not 443.
func (w *web) hostport() string {
	if w.port != 443 {
		return net.JoinHostPort(w.host, strconv.Itoa(w.port))
	}
	return w.host
}

// do sends one request; auth as for client. The body is read whole.
func (w *web) do(auth, method, path string, body []byte, hdr map[string]string) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(w.r.ctx, method, w.url(path), bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if auth != "" {
		req.SetBasicAuth(w.r.o.User, w.r.o.Password)
	}
	resp, err := w.client(auth).Do(req)
	if err != nil {
		return nil, nil, explainDial(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	return resp, b, err
}

// challenge is RCA's "authentication methods" step: the anonymous
// request must get 401 offering at least one of want.
func (w *web) challenge(method, path string, want ...string) bool {
	return w.r.step("Check the authentication methods of "+path, func() (string, error) {
		resp, _, err := w.do("", method, path, nil, nil)
		if err != nil {
			return "", err
		}
		offered := schemes(resp.Header)
		if resp.StatusCode != http.StatusUnauthorized {
			return "", fmt.Errorf("anonymous %s got %s, want 401 with %s", method, resp.Status, strings.Join(want, " or "))
		}
		for _, s := range want {
			for _, o := range offered {
				if strings.EqualFold(o, s) {
					return "401 offering " + strings.Join(offered, ", "), nil
				}
			}
		}
		return "", fmt.Errorf("401 offers %q, want %s", strings.Join(offered, ", "), strings.Join(want, " or "))
	})
}

// schemes are the authentication schemes of WWW-Authenticate.
func schemes(h http.Header) []string {
	var out []string
	for _, v := range h.Values("WWW-Authenticate") {
		s, _, _ := strings.Cut(v, " ")
		out = append(out, s)
	}
	return out
}

// statusErr says what an unexpected HTTP answer was.
func statusErr(resp *http.Response, body []byte) error {
	if resp.StatusCode == http.StatusUnauthorized {
		return fmt.Errorf("401 Unauthorized: the credentials were refused (offered %s)", strings.Join(schemes(resp.Header), ", "))
	}
	snippet := strings.TrimSpace(string(body))
	if len(snippet) > 200 {
		snippet = snippet[:200] + "..."
	}
	return fmt.Errorf("HTTP %s %s", resp.Status, snippet)
}

// Autodiscover schemas (MS-OXDSCLI, MS-ASCMD's mobilesync Autodiscover).
const (
	adOutlookRequest  = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
	adOutlookResponse = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
	adMobileRequest   = "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/requestschema/2006"
	adMobileResponse  = "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006"
)

// adSettings is what the tests use of an Autodiscover answer.
type adSettings struct {
	Error struct {
		Code    string `xml:"ErrorCode"`
		Message string `xml:"Message"`
	} `xml:"Response>Error"`
	User     string `xml:"Response>User>DisplayName"`
	LegacyDN string `xml:"Response>User>LegacyDN"`
	Account  struct {
		Action      string `xml:"Action"`
		RedirectURL string `xml:"RedirectUrl"`
		RedirectTo  string `xml:"RedirectAddr"`
		Protocols   []struct {
			Type        string `xml:"Type"`
			TypeAttr    string `xml:"Type,attr"`
			Server      string `xml:"Server"`
			ASURL       string `xml:"ASUrl"`
			EwsURL      string `xml:"EwsUrl"`
			MailStore   string `xml:"MailStore>ExternalUrl"`
			AddressBook string `xml:"AddressBook>ExternalUrl"`
			OABURL      string `xml:"OABUrl"`
		} `xml:"Protocol"`
	} `xml:"Response>Account"`
	Mobile []struct {
		Type string `xml:"Type"`
		URL  string `xml:"Url"`
	} `xml:"Response>Action>Settings>Server"`
}

// protocol returns the Protocol block of a type (EXCH, EXPR, WEB,
// mapiHttp).
func (s *adSettings) protocol(typ string) (server, asURL, mailStore, addressBook string, ok bool) {
	for _, p := range s.Account.Protocols {
		if strings.EqualFold(p.Type, typ) || strings.EqualFold(p.TypeAttr, typ) {
			return p.Server, p.ASURL, p.MailStore, p.AddressBook, true
		}
	}
	return "", "", "", "", false
}

// oabURL is the OABUrl an outside client uses: EXPR's (the virtual
// directory's ExternalUrl), else EXCH's (its InternalUrl), as Outlook
// falls back when no external URL is published.
func (s *adSettings) oabURL() string {
	for _, typ := range []string{"EXPR", "EXCH"} {
		for _, p := range s.Account.Protocols {
			if strings.EqualFold(p.Type, typ) && p.OABURL != "" {
				return p.OABURL
			}
		}
	}
	return ""
}

// autodiscover runs the Autodiscover steps (POX, the Outlook or the
// mobilesync schemas) against autodiscover.<domain> or the target.
func (r *run) autodiscover(mobile bool) (*adSettings, bool) {
	w, ok := r.autodiscoverHost()
	if !ok {
		return nil, false
	}
	return w.autodiscoverPOX(mobile, false)
}

// adPath is the POX Autodiscover endpoint.
const adPath = "/Autodiscover/Autodiscover.xml"

// autodiscoverHost reaches autodiscover.<domain> or the target and checks
// the authentication methods it offers.
func (r *run) autodiscoverHost() (*web, bool) {
	w, ok := r.webTo(r.host("autodiscover." + domainOf(r.o.User)))
	if !ok || !w.challenge(http.MethodPost, adPath, "NTLM", "Negotiate", "Basic") {
		return nil, false
	}
	return w, true
}

// autodiscoverPOX is the POX request step. mapiHTTP adds the header
// X-MapiHttpCapability: 1 of a MAPI over HTTP client (MS-OXDSCLI
// 2.2.2.1): Exchange then answers with the mapiHttp settings, and
// without the EXCH and EXPR ones (MS-OXDSCLI 4.4).
func (w *web) autodiscoverPOX(mobile, mapiHTTP bool) (*adSettings, bool) {
	r := w.r
	reqNS, respNS, auth, schema := adOutlookRequest, adOutlookResponse, "ntlm", "Outlook"
	if mobile {
		reqNS, respNS, auth, schema = adMobileRequest, adMobileResponse, "basic", "ActiveSync (mobilesync)"
	}
	hdr := map[string]string{"Content-Type": "text/xml; charset=utf-8"}
	with := ""
	if mapiHTTP {
		hdr["X-MapiHttpCapability"] = "1"
		with = " with X-MapiHttpCapability: 1"
	}
	var s adSettings
	ok := r.step(fmt.Sprintf("Send the %s Autodiscover POX request for %s%s (%s)", schema, r.o.User, with, authName(auth)), func() (string, error) {
		body := fmt.Sprintf(`<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="%s"><Request><EMailAddress>%s</EMailAddress><AcceptableResponseSchema>%s</AcceptableResponseSchema></Request></Autodiscover>`,
			reqNS, xmlText(r.o.User), respNS)
		resp, b, err := w.do(auth, http.MethodPost, adPath, []byte(body), hdr)
		if err != nil {
			return "", err
		}
		if resp.StatusCode != http.StatusOK {
			return "", statusErr(resp, b)
		}
		if err := xml.Unmarshal(b, &s); err != nil {
			return "", fmt.Errorf("the answer is not Autodiscover XML: %w", err)
		}
		if s.Error.Code != "" {
			return "", fmt.Errorf("Autodiscover error %s: %s", s.Error.Code, s.Error.Message)
		}
		if mobile {
			return mobileSummary(&s)
		}
		return outlookSummary(&s)
	})
	return &s, ok
}

func authName(auth string) string {
	if auth == "basic" {
		return "Basic authentication"
	}
	return "NTLM authentication"
}

func outlookSummary(s *adSettings) (string, error) {
	switch s.Account.Action {
	case "settings":
	case "redirectAddr", "redirectUrl":
		return "", fmt.Errorf("Autodiscover redirects (%s %s%s); follow it with --target", s.Account.Action, s.Account.RedirectTo, s.Account.RedirectURL)
	default:
		return "", fmt.Errorf("Account Action %q, want settings", s.Account.Action)
	}
	var types []string
	for _, p := range s.Account.Protocols {
		t := p.Type
		if t == "" {
			t = p.TypeAttr
		}
		types = append(types, t)
	}
	if len(types) == 0 {
		return "", errors.New("the answer holds no Protocol settings")
	}
	return fmt.Sprintf("settings for %s: protocols %s", s.User, strings.Join(types, ", ")), nil
}

func mobileSummary(s *adSettings) (string, error) {
	for _, sv := range s.Mobile {
		if sv.Type == "MobileSync" && sv.URL != "" {
			return "MobileSync URL " + sv.URL, nil
		}
	}
	return "", errors.New("the answer holds no MobileSync server URL")
}

// ewsURL is the EWS URL of an Outlook Autodiscover answer (EXPR, then
// EXCH, then WEB's ASUrl).
func (s *adSettings) ewsURL() string {
	for _, t := range []string{"EXPR", "EXCH", "WEB"} {
		if _, as, _, _, ok := s.protocol(t); ok && as != "" {
			return as
		}
	}
	for _, p := range s.Account.Protocols {
		if p.EwsURL != "" {
			return p.EwsURL
		}
	}
	return ""
}

func xmlText(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

func outlookAutodiscover(r *run) { r.autodiscover(false) }

func activeSyncAutodiscover(r *run) { r.autodiscover(true) }
