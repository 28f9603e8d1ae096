package httpd

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

const maxAutodiscoverRequest = 64 << 10

// serveAutodiscover is the /Autodiscover virtual directory.
func (h *Handler) serveAutodiscover(w http.ResponseWriter, r *http.Request, rest string, log *slog.Logger) {
	if rest == "/autodiscover.json" || strings.HasPrefix(rest, "/autodiscover.json/") {
		h.serveAutodiscoverJSON(w, r)
		return
	}
	u := h.authenticateAt(w, r, h.cfg.vdirAutodiscover(), log, rest, "/autodiscover.xml")
	if u == nil {
		return
	}
	switch r.Method {
	case http.MethodPost:
	case http.MethodGet:
		// A browser's GET: Exchange answers 600 Invalid Request with 200.
		h.writeAutodiscover(w, adErrorResponse(h.cfg, false, adInvalidRequest))
		return
	default:
		allow(w, r, h.cfg, http.MethodGet, http.MethodPost)
		return
	}
	log = log.With("proto", "autodiscover")
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAutodiscoverRequest))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			h.writeAutodiscover(w, adErrorResponse(h.cfg, false, adInvalidRequest))
		}
		return
	}
	req, err := parseAutodiscoverRequest(body)
	if err != nil {
		var ae adError
		errors.As(err, &ae)
		h.writeAutodiscover(w, adErrorResponse(h.cfg, req != nil && req.Mobile, ae))
		return
	}
	// Any authenticated user of the organization gets the settings of
	// any mailbox it holds (that is how Outlook adds a delegate's or a
	// shared mailbox); an address nobody has is "can't be found".
	target, err := h.autodiscoverTarget(r, req)
	if err != nil {
		var ae adError
		if !errors.As(err, &ae) {
			log.Error("autodiscover: backend failed", "err", err)
			ae = adInternal
		}
		h.writeAutodiscover(w, adErrorResponse(h.cfg, req.Mobile, ae))
		return
	}
	log.Debug("autodiscover", "caller", u.Address, "mailbox", target.Address, "home", target.HomeServer)
	c := h.cfg.forHome(target)
	if req.Mobile {
		h.writeAutodiscover(w, adMobileResponse(target, c.vdirURL("activesync", true)))
		return
	}
	h.writeAutodiscover(w, adOutlookResponse(c, target, mapiHTTPCapability(r.Header)))
}

// mapiHTTPCapability is the MAPI over HTTP version a client asks
// Autodiscover for (X-MapiHttpCapability, MS-OXDSCLI 2.2.2.1): 0 when the
// header is absent or not a positive integer, else the highest version
// exsim speaks (1) that the client accepts.
func mapiHTTPCapability(h http.Header) int {
	n, err := strconv.Atoi(strings.TrimSpace(h.Get("X-MapiHttpCapability")))
	if err != nil || n < 1 {
		return 0
	}
	return 1
}

// autodiscoverTarget is the mailbox a request asks for, by EMailAddress
// (primary or proxy address) or, without one, by LegacyDN.
func (h *Handler) autodiscoverTarget(r *http.Request, req *adRequest) (*User, error) {
	address := req.EMailAddress
	if address == "" {
		list, err := h.b.AddressBook(r.Context())
		if err != nil {
			return nil, err
		}
		for _, e := range list {
			if strings.EqualFold(req.LegacyDN, legacyDN(h.cfg, &User{Address: e.Address, LegacyDN: e.LegacyDN, MailboxGUID: e.MailboxGUID})) {
				address = e.Address
				break
			}
		}
		if address == "" {
			return nil, adNotFound
		}
	}
	found, err := h.b.FindUser(r.Context(), address)
	switch {
	case errors.Is(err, ErrNotFound) || (err == nil && found == nil):
		return nil, adNotFound
	case err != nil:
		return nil, err
	}
	return found, nil
}

// writeAutodiscover answers 200 with a POX document: Autodiscover reports
// its errors inside the XML, not in the HTTP status.
func (h *Handler) writeAutodiscover(w http.ResponseWriter, v any) {
	var buf bytes.Buffer
	buf.WriteString(`<?xml version="1.0" encoding="utf-8"?>` + "\n")
	enc := xml.NewEncoder(&buf)
	enc.Indent("", "  ")
	if err := enc.Encode(v); err != nil {
		http.Error(w, "", http.StatusInternalServerError) // only a programming error gets here
		return
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.Header().Set("Cache-Control", "private")
	w.WriteHeader(http.StatusOK)
	w.Write(buf.Bytes())
}

type adDocument struct {
	XMLName  xml.Name `xml:"Autodiscover"`
	Xmlns    string   `xml:"xmlns,attr"`
	Response any
}

type adErrorBody struct {
	XMLName xml.Name `xml:"Response"`
	Xmlns   string   `xml:"xmlns,attr,omitempty"`
	Error   struct {
		Time      string `xml:"Time,attr"`
		ID        uint32 `xml:"Id,attr"`
		ErrorCode int    `xml:"ErrorCode"`
		Message   string `xml:"Message"`
		DebugData string `xml:"DebugData"`
	} `xml:"Error"`
}

// adErrorResponse is Exchange's error document. Outlook-provider and
// generic errors sit in a Response of the 2006 namespace; the mobilesync
// provider's in its own ([MS-ASCMD] 4.2.3).
func adErrorResponse(c *config, mobile bool, e adError) adDocument {
	var b adErrorBody
	if mobile {
		b.Xmlns = nsADMobileResponse
	}
	b.Error.Time = c.Now().Format("15:04:05.0000000")
	b.Error.ID = rand.Uint32()
	b.Error.ErrorCode = e.Code
	b.Error.Message = e.Message
	return adDocument{Xmlns: nsADResponse, Response: b}
}

type adMobile struct {
	XMLName xml.Name `xml:"Response"`
	Xmlns   string   `xml:"xmlns,attr"`
	Culture string   `xml:"Culture"`
	User    struct {
		DisplayName  string `xml:"DisplayName"`
		EMailAddress string `xml:"EMailAddress"`
	} `xml:"User"`
	Server struct {
		Type string `xml:"Type"`
		URL  string `xml:"Url"`
		Name string `xml:"Name"`
	} `xml:"Action>Settings>Server"`
}

func adMobileResponse(u *User, url string) adDocument {
	m := adMobile{Xmlns: nsADMobileResponse, Culture: "en:us"}
	m.User.DisplayName = u.DisplayName
	m.User.EMailAddress = u.Address
	m.Server.Type = "MobileSync"
	m.Server.URL = url
	m.Server.Name = m.Server.URL
	return adDocument{Xmlns: nsADResponse, Response: m}
}

type adURLs struct {
	InternalURL string `xml:"InternalUrl"`
	ExternalURL string `xml:"ExternalUrl"`
}

type adOWAURL struct {
	AuthenticationMethod string `xml:"AuthenticationMethod,attr"`
	URL                  string `xml:",chardata"`
}

type adWebEndpoint struct {
	OWAURL   adOWAURL `xml:"OWAUrl"`
	Protocol struct {
		Type  string `xml:"Type"`
		ASURL string `xml:"ASUrl"`
	} `xml:"Protocol"`
}

type adProtocol struct {
	TypeAttr    string  `xml:"Type,attr,omitempty"`
	VersionAttr string  `xml:"Version,attr,omitempty"`
	MailStore   *adURLs `xml:"MailStore,omitempty"`
	AddressBook *adURLs `xml:"AddressBook,omitempty"`

	Type                   string         `xml:"Type,omitempty"`
	Internal               *adWebEndpoint `xml:"Internal,omitempty"`
	External               *adWebEndpoint `xml:"External,omitempty"`
	Server                 string         `xml:"Server,omitempty"`
	ServerDN               string         `xml:"ServerDN,omitempty"`
	ServerVersion          string         `xml:"ServerVersion,omitempty"`
	MdbDN                  string         `xml:"MdbDN,omitempty"`
	PublicFolderServer     string         `xml:"PublicFolderServer,omitempty"`
	SSL                    string         `xml:"SSL,omitempty"`
	AuthPackage            string         `xml:"AuthPackage,omitempty"`
	ASURL                  string         `xml:"ASUrl,omitempty"`
	EwsURL                 string         `xml:"EwsUrl,omitempty"`
	EmwsURL                string         `xml:"EmwsUrl,omitempty"`
	EcpURL                 string         `xml:"EcpUrl,omitempty"`
	OOFURL                 string         `xml:"OOFUrl,omitempty"`
	UMURL                  string         `xml:"UMUrl,omitempty"`
	OABURL                 string         `xml:"OABUrl,omitempty"`
	ServerExclusiveConnect string         `xml:"ServerExclusiveConnect,omitempty"`
}

type adOutlook struct {
	XMLName xml.Name `xml:"Response"`
	Xmlns   string   `xml:"xmlns,attr"`
	User    struct {
		DisplayName             string `xml:"DisplayName"`
		LegacyDN                string `xml:"LegacyDN"`
		AutoDiscoverSMTPAddress string `xml:"AutoDiscoverSMTPAddress"`
		DeploymentID            string `xml:"DeploymentId"`
	} `xml:"User"`
	Account struct {
		AccountType     string       `xml:"AccountType"`
		Action          string       `xml:"Action"`
		MicrosoftOnline string       `xml:"MicrosoftOnline"`
		ConsumerMailbox string       `xml:"ConsumerMailbox"`
		Protocols       []adProtocol `xml:"Protocol"`
	} `xml:"Account"`
}

// adOutlookResponse is the outlook provider's settings for u
// (EXCHANGE.md section 6): EXCH and WEB/Internal carry the virtual
// directories' InternalUrl, EXPR and WEB/External their ExternalUrl.
// mapiVersion > 0 is a client that sent X-MapiHttpCapability: it gets
// the mapiHttp Protocol (its Version at most the header's, MS-OXDSCLI
// 2.2.4.1.1.2.6) in place of EXCH and EXPR: MS-OXDSCLI 3.2.5.1 says such
// a response "MUST NOT include" a Protocol of Type EXCH or EXPR, and its
// 4.4 example keeps the EWS URLs in WEB's nested Protocols, as here. A
// client without the header gets EXCH and EXPR, never mapiHttp. (No
// public capture of a real Exchange 2019 answer was found to compare.)
func adOutlookResponse(c *config, u *User, mapiVersion int) adDocument {
	domain := u.Address[strings.LastIndexByte(u.Address, '@')+1:]
	mailboxID := strings.ToLower(u.MailboxGUID) + "@" + domain
	serverDN := "/o=" + c.Organization + "/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Configuration/cn=Servers/cn=" + mailboxID

	var o adOutlook
	o.Xmlns = nsADOutlookResponse
	o.User.DisplayName = u.DisplayName
	o.User.LegacyDN = legacyDN(c, u)
	o.User.AutoDiscoverSMTPAddress = u.Address
	o.User.DeploymentID = c.DeploymentID
	o.Account.AccountType = "email"
	o.Account.Action = "settings"
	o.Account.MicrosoftOnline = "False"
	o.Account.ConsumerMailbox = "False"

	mapi := func(p string) *adURLs {
		q := "/" + p + "/?MailboxId=" + mailboxID
		return &adURLs{InternalURL: c.vdirBase("mapi", false) + q, ExternalURL: c.vdirBase("mapi", true) + q}
	}
	authPackage := "Negotiate"
	if c.basic.RPC {
		authPackage = "Basic"
	}
	web := func(auth, typ string, external bool) *adWebEndpoint {
		e := &adWebEndpoint{OWAURL: adOWAURL{AuthenticationMethod: auth, URL: c.vdirURL("owa", external)}}
		e.Protocol.Type = typ
		e.Protocol.ASURL = c.vdirURL("ews", external)
		return e
	}
	exch := func(p adProtocol, external bool) adProtocol {
		ews := c.vdirURL("ews", external)
		p.ASURL, p.EwsURL, p.EmwsURL, p.OOFURL = ews, ews, ews, ews
		p.EcpURL = c.vdirURL("ecp", external)
		p.UMURL = strings.TrimSuffix(ews, "Exchange.asmx") + "UM2007Legacy.asmx"
		p.OABURL = c.vdirBase("oab", external) + "/" + c.OABID + "/"
		return p
	}
	webProto := adProtocol{Type: "WEB", Internal: web("Basic, Fba", "EXCH", false), External: web("Fba", "EXPR", true)}
	if mapiVersion > 0 {
		o.Account.Protocols = []adProtocol{
			{TypeAttr: "mapiHttp", VersionAttr: strconv.Itoa(mapiVersion), MailStore: mapi("emsmdb"), AddressBook: mapi("nspi")},
			webProto,
		}
		return adDocument{Xmlns: nsADResponse, Response: o}
	}
	o.Account.Protocols = []adProtocol{
		exch(adProtocol{
			Type: "EXCH", Server: mailboxID, ServerDN: serverDN, ServerVersion: serverVersion(c.ver),
			MdbDN: serverDN + "/cn=Microsoft Private MDB", PublicFolderServer: c.vdirHost("ews", false), ServerExclusiveConnect: "off",
		}, false),
		exch(adProtocol{Type: "EXPR", Server: c.vdirHost("ews", true), SSL: "On", AuthPackage: authPackage, ServerExclusiveConnect: "on"}, true),
		webProto,
	}
	return adDocument{Xmlns: nsADResponse, Response: o}
}

// serverVersion is Autodiscover's ServerVersion ([MS-OXDSCLI]
// 2.2.4.1.1.2.2): 4 bits 0111, 6 bits major, 6 bits minor, a set bit, 15
// bits build, in hex. 15.1.2176 gives 73C18880.
func serverVersion(v version) string {
	n := uint32(0x7)<<28 | uint32(v.Major&0x3f)<<22 | uint32(v.Minor&0x3f)<<16 | 1<<15 | uint32(v.Build&0x7fff)
	return fmt.Sprintf("%08X", n)
}

// legacyDN is the user's LegacyExchangeDN, generated from the organization
// when the backend has none.
func legacyDN(c *config, u *User) string {
	if u.LegacyDN != "" {
		return u.LegacyDN
	}
	local := u.Address
	if at := strings.IndexByte(local, '@'); at >= 0 {
		local = local[:at]
	}
	guid := strings.ReplaceAll(strings.ToLower(u.MailboxGUID), "-", "")
	return "/o=" + c.Organization + "/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=" + guid + "-" + local
}

// autodiscover.json protocols and the virtual directory each points at.
var adJSONProtocols = map[string]string{
	"ews":            "ews",
	"activesync":     "activesync",
	"autodiscoverv1": "autodiscover",
}

// serveAutodiscoverJSON is the anonymous Autodiscover v2 endpoint:
// /autodiscover/autodiscover.json/v1.0/<smtp>?Protocol=EWS (or
// ?Email=<smtp>&Protocol=EWS).
func (h *Handler) serveAutodiscoverJSON(w http.ResponseWriter, r *http.Request) {
	if !allow(w, r, h.cfg, http.MethodGet, http.MethodHead) {
		return
	}
	q := r.URL.Query()
	email, protocol := queryFold(q, "Email"), queryFold(q, "Protocol")
	if _, after, ok := strings.Cut(r.URL.Path, "/v1.0/"); ok {
		email = after
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "private")
	if !strings.Contains(email, "@") || len(email) > 320 {
		writeJSON(w, r, http.StatusBadRequest, map[string]string{
			"ErrorCode":    "InvalidUser",
			"ErrorMessage": "The given user value '" + email + "' is invalid. A valid SMTP address is required.",
		})
		return
	}
	p, ok := adJSONProtocols[strings.ToLower(protocol)]
	if !ok {
		writeJSON(w, r, http.StatusBadRequest, map[string]string{
			"ErrorCode":    "InvalidProtocol",
			"ErrorMessage": "The given protocol value '" + protocol + "' is invalid. Supported values are 'ActiveSync, AutodiscoverV1, Ews'",
		})
		return
	}
	// A mailbox of the organization gets its home server's URL. Any other
	// address gets this server's: the endpoint is anonymous and, as far
	// as public documentation goes, does not tell which addresses exist
	// (no public source shows on-premises Exchange's answer for an
	// unknown address).
	c := h.cfg
	if found, err := h.b.FindUser(r.Context(), email); err == nil && found != nil {
		c = c.forHome(found)
	}
	writeJSON(w, r, http.StatusOK, struct {
		Protocol string
		URL      string `json:"Url"`
	}{protocol, c.vdirURL(p, true)})
}

func queryFold(q url.Values, key string) string {
	for k, v := range q {
		if strings.EqualFold(k, key) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

func writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "", http.StatusInternalServerError) // only a programming error gets here
		return
	}
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(b)
	}
}
