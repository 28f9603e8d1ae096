package httpd

import (
	"bytes"
	"encoding/xml"
	"strings"
)

// Autodiscover POX namespaces ([MS-OXDSCLI], [MS-ASCMD] 2.2.2.1).
const (
	nsADResponse        = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
	nsADOutlookRequest  = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
	nsADOutlookResponse = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
	nsADMobileRequest   = "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/requestschema/2006"
	nsADMobileResponse  = "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006"
)

// Autodiscover's error codes ([MS-OXDSCLI] 2.2.4.1.1.3.2) with Exchange's
// messages.
type adError struct {
	Code    int
	Message string
}

func (e adError) Error() string { return e.Message }

var (
	adNotFound       = adError{500, "The email address can't be found."}
	adInvalidRequest = adError{600, "Invalid Request"}
	adNoProvider     = adError{601, "Provider is not available"}
	adInternal       = adError{603, "The Autodiscover server threw an internal error."}
)

// adRequest is a parsed Autodiscover POX request.
type adRequest struct {
	Mobile        bool // the mobilesync schema (ActiveSync clients), else outlook
	EMailAddress  string
	LegacyDN      string
	AcceptableRsp string
}

// parseAutodiscoverRequest reads an Autodiscover POX request. It returns
// adInvalidRequest for anything malformed and adNoProvider for a response
// schema the request's provider does not serve; the request is returned
// with its schema when known, so the error can be answered in it.
func parseAutodiscoverRequest(body []byte) (*adRequest, error) {
	d := xml.NewDecoder(bytes.NewReader(body))
	d.Strict = true
	root, err := nextStart(d)
	if err != nil || root.Name.Local != "Autodiscover" {
		return nil, adInvalidRequest
	}
	req := &adRequest{}
	switch root.Name.Space {
	case nsADOutlookRequest:
	case nsADMobileRequest:
		req.Mobile = true
	default:
		return nil, adInvalidRequest
	}
	var x struct {
		Request *struct {
			EMailAddress             string `xml:"EMailAddress"`
			LegacyDN                 string `xml:"LegacyDN"`
			AcceptableResponseSchema string `xml:"AcceptableResponseSchema"`
		} `xml:"Request"`
	}
	if err := d.DecodeElement(&x, &root); err != nil || x.Request == nil {
		return req, adInvalidRequest
	}
	req.EMailAddress = strings.TrimSpace(x.Request.EMailAddress)
	req.LegacyDN = strings.TrimSpace(x.Request.LegacyDN)
	req.AcceptableRsp = strings.TrimSpace(x.Request.AcceptableResponseSchema)
	if req.EMailAddress == "" && req.LegacyDN == "" {
		return req, adInvalidRequest
	}
	if len(req.EMailAddress) > 320 || len(req.LegacyDN) > 1024 {
		return req, adInvalidRequest
	}
	want := nsADOutlookResponse
	if req.Mobile {
		want = nsADMobileResponse
	}
	if req.AcceptableRsp != want {
		return req, adNoProvider
	}
	return req, nil
}
