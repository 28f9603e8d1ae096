package httpd

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// EWS namespaces (EWS reference: messages.xsd, types.xsd, errors).
const (
	nsSOAP11   = "http://schemas.xmlsoap.org/soap/envelope/"
	nsSOAP12   = "http://www.w3.org/2003/05/soap-envelope"
	nsMessages = "http://schemas.microsoft.com/exchange/services/2006/messages"
	nsTypes    = "http://schemas.microsoft.com/exchange/services/2006/types"
	nsErrors   = "http://schemas.microsoft.com/exchange/services/2006/errors"
)

// ewsVersions are the RequestServerVersion values Exchange 2016/2019
// accept (types.xsd ExchangeVersionType); anything else is
// ErrorInvalidServerVersion. Clients probe with newer names first
// (exchangelib sends Exchange2019) and step down on that error.
var ewsVersions = []string{
	"Exchange2007", "Exchange2007_SP1", "Exchange2010", "Exchange2010_SP1", "Exchange2010_SP2",
	"Exchange2013", "Exchange2013_SP1", "Exchange2016", "V2015_10_05", "V2016_01_06", "V2016_04_13",
	"V2016_07_13", "V2016_10_10", "V2017_01_07", "V2017_04_14", "V2017_07_11",
}

// ewsRequest is a parsed EWS SOAP request.
type ewsRequest struct {
	Operation     string // the Body's element, e.g. "FindItem"
	ServerVersion string // RequestServerVersion's Version, if sent
	// Impersonate is the account an ExchangeImpersonation header asks to
	// act as (its ConnectingSID's address, principal name or SID).
	Impersonate string
	Op          *xnode // the operation element
}

// errSchema is a request EWS refuses with ErrorSchemaValidation.
type errSchema struct{ reason string }

func (e errSchema) Error() string { return "The request failed schema validation: " + e.reason }

// ewsShape is an ItemShape or FolderShape.
type ewsShape struct {
	BaseShape   string
	Fields      []string // AdditionalProperties FieldURIs
	Ext         []*xnode // AdditionalProperties ExtendedFieldURIs
	IncludeMime bool
	BodyType    string // Best (default), HTML or Text
}

func shapeOf(n *xnode) ewsShape {
	s := ewsShape{BaseShape: n.text("BaseShape"), BodyType: n.text("BodyType")}
	s.IncludeMime = xsBool(n.text("IncludeMimeContent"))
	for _, f := range n.child("AdditionalProperties").all("FieldURI") {
		s.Fields = append(s.Fields, f.attr("FieldURI"))
	}
	s.Ext = n.child("AdditionalProperties").all("ExtendedFieldURI")
	return s
}

// wants reports whether the shape asks for property uri (e.g.
// "item:Subject"); inDefault is whether BaseShape Default includes it.
func (s ewsShape) wants(uri string, inDefault bool) bool {
	switch s.BaseShape {
	case "AllProperties":
		return true
	case "Default":
		if inDefault {
			return true
		}
	}
	return slices.ContainsFunc(s.Fields, func(f string) bool { return strings.EqualFold(f, uri) })
}

// only reports whether the shape asks for uri explicitly (properties
// that AllProperties leaves out, such as MimeContent).
func (s ewsShape) only(uri string) bool {
	return slices.ContainsFunc(s.Fields, func(f string) bool { return strings.EqualFold(f, uri) })
}

// folderRef is one folder a request names.
type folderRef struct {
	Distinguished string // DistinguishedFolderId Id
	ID            string // FolderId Id
	Mailbox       string // DistinguishedFolderId/Mailbox/EmailAddress
}

// maxEWSFolders bounds the folders one request may name: each costs a
// folder listing.
const maxEWSFolders = 64

// maxEWSPage is EWS's default throttling cap on items per FindItem
// (EWSFindCountLimit 1000).
const maxEWSPage = 1000

// parseEWSRequest reads a SOAP 1.1 or 1.2 envelope and the operation in
// its Body. Errors are errSchema values carrying the schema violation.
func parseEWSRequest(body []byte) (*ewsRequest, error) {
	d := xml.NewDecoder(bytes.NewReader(body))
	d.Strict = true
	root, err := nextStart(d)
	if err != nil {
		return nil, errSchema{"Data at the root level is invalid. Line 1, position 1."}
	}
	if root.Name.Local != "Envelope" || (root.Name.Space != nsSOAP11 && root.Name.Space != nsSOAP12) {
		return nil, errSchema{fmt.Sprintf("The root element %q is not a SOAP Envelope.", root.Name.Local)}
	}
	req := &ewsRequest{}
	for {
		se, err := nextStart(d)
		if err != nil {
			return nil, errSchema{"The SOAP Body element is missing."}
		}
		switch {
		case se.Name.Local == "Header" && se.Name.Space == root.Name.Space:
			if err := parseEWSHeader(d, req); err != nil {
				return nil, err
			}
		case se.Name.Local == "Body" && se.Name.Space == root.Name.Space:
			return req, parseEWSBody(d, req)
		default:
			return nil, errSchema{fmt.Sprintf("The element %q is not allowed in a SOAP Envelope.", se.Name.Local)}
		}
	}
}

func parseEWSHeader(d *xml.Decoder, req *ewsRequest) error {
	for {
		tok, err := d.Token()
		if err != nil {
			return errSchema{"The SOAP Header is not well formed."}
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name.Local == "RequestServerVersion" && t.Name.Space == nsTypes {
				for _, a := range t.Attr {
					if a.Name.Local == "Version" {
						req.ServerVersion = a.Value
					}
				}
			}
			if t.Name.Local == "ExchangeImpersonation" && t.Name.Space == nsTypes {
				n, err := readNode(d, t)
				if err != nil {
					return errSchema{"The SOAP Header is not well formed."}
				}
				sid := n.child("ConnectingSID")
				for _, k := range []string{"PrimarySmtpAddress", "SmtpAddress", "PrincipalName", "SID"} {
					if v := strings.TrimSpace(sid.text(k)); v != "" {
						req.Impersonate = v
						break
					}
				}
				if req.Impersonate == "" {
					return errSchema{"The element 'ConnectingSID' has incomplete content."}
				}
				continue
			}
			if err := d.Skip(); err != nil {
				return errSchema{"The SOAP Header is not well formed."}
			}
		case xml.EndElement:
			return nil
		}
	}
}

func parseEWSBody(d *xml.Decoder, req *ewsRequest) error {
	op, err := nextStart(d)
	if err != nil {
		return errSchema{"The SOAP Body is empty."}
	}
	if op.Name.Space != nsMessages {
		return errSchema{fmt.Sprintf("The element %q in namespace %q is not an Exchange Web Services operation.", op.Name.Local, op.Name.Space)}
	}
	req.Operation = op.Name.Local
	n, err := readNode(d, op)
	var es errSchema
	if errors.As(err, &es) {
		return es
	}
	if err != nil {
		return errSchema{"The request is not well formed XML."}
	}
	req.Op = n
	return req.validate()
}

// validate checks what every operation needs before it runs.
func (req *ewsRequest) validate() error {
	for _, c := range []struct{ op, list string }{
		{"GetFolder", "FolderIds"}, {"FindItem", "ParentFolderIds"}, {"FindFolder", "ParentFolderIds"},
		{"DeleteFolder", "FolderIds"},
	} {
		if req.Operation != c.op {
			continue
		}
		refs := folderRefs(req.Op.child(c.list))
		if len(refs) == 0 {
			return errSchema{fmt.Sprintf("The element '%s' has incomplete content. List of possible elements expected: '%s'.", c.op, c.list)}
		}
		if len(refs) > maxEWSFolders {
			return errSchema{fmt.Sprintf("The element '%s' has more than %d folders.", c.list, maxEWSFolders)}
		}
	}
	if err := validateSubscribe(req.Operation, req.Op); err != nil {
		return err
	}
	for _, view := range []string{"IndexedPageItemView", "IndexedPageFolderView"} {
		if _, err := pageView(req.Op.child(view)); err != nil {
			return err
		}
	}
	return nil
}

// nextStart returns the next start element, skipping character data,
// comments and processing instructions.
func nextStart(d *xml.Decoder) (xml.StartElement, error) {
	for {
		tok, err := d.Token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return xml.StartElement{}, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return t, nil
		case xml.EndElement:
			return xml.StartElement{}, fmt.Errorf("unexpected end element %s", t.Name.Local)
		}
	}
}
