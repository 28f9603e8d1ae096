package httpd

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
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

// ewsRequest is a parsed EWS SOAP request.
type ewsRequest struct {
	Operation     string // the Body's element, e.g. "FindItem"
	ServerVersion string // RequestServerVersion's Version, if sent
	GetFolder     *ewsGetFolder
	FindItem      *ewsFindItem
}

// errSchema is a request EWS refuses with ErrorSchemaValidation.
type errSchema struct{ reason string }

func (e errSchema) Error() string { return "The request failed schema validation: " + e.reason }

type ewsShape struct {
	BaseShape  string `xml:"http://schemas.microsoft.com/exchange/services/2006/types BaseShape"`
	Additional struct {
		FieldURIs []struct {
			URI string `xml:"FieldURI,attr"`
		} `xml:"http://schemas.microsoft.com/exchange/services/2006/types FieldURI"`
	} `xml:"http://schemas.microsoft.com/exchange/services/2006/types AdditionalProperties"`
}

// wants reports whether the shape asks for property uri (e.g.
// "item:Subject"); defaults is whether BaseShape Default includes it.
func (s ewsShape) wants(uri string, inDefault bool) bool {
	switch s.BaseShape {
	case "AllProperties":
		return true
	case "Default":
		if inDefault {
			return true
		}
	}
	for _, f := range s.Additional.FieldURIs {
		if strings.EqualFold(f.URI, uri) {
			return true
		}
	}
	return false
}

type ewsFolderIDs struct {
	Distinguished []struct {
		ID      string `xml:"Id,attr"`
		Mailbox struct {
			EmailAddress string `xml:"http://schemas.microsoft.com/exchange/services/2006/types EmailAddress"`
		} `xml:"http://schemas.microsoft.com/exchange/services/2006/types Mailbox"`
	} `xml:"http://schemas.microsoft.com/exchange/services/2006/types DistinguishedFolderId"`
	Folder []struct {
		ID string `xml:"Id,attr"`
	} `xml:"http://schemas.microsoft.com/exchange/services/2006/types FolderId"`
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

func (ids ewsFolderIDs) refs() []folderRef {
	var out []folderRef
	for _, d := range ids.Distinguished {
		out = append(out, folderRef{Distinguished: d.ID, Mailbox: strings.TrimSpace(d.Mailbox.EmailAddress)})
	}
	for _, f := range ids.Folder {
		out = append(out, folderRef{ID: f.ID})
	}
	return out
}

type ewsGetFolder struct {
	Shape   ewsShape     `xml:"http://schemas.microsoft.com/exchange/services/2006/messages FolderShape"`
	IDs     ewsFolderIDs `xml:"http://schemas.microsoft.com/exchange/services/2006/messages FolderIds"`
	Folders []folderRef  `xml:"-"`
}

type ewsFindItem struct {
	Traversal string   `xml:"Traversal,attr"`
	Shape     ewsShape `xml:"http://schemas.microsoft.com/exchange/services/2006/messages ItemShape"`
	View      *struct {
		Max       string `xml:"MaxEntriesReturned,attr"`
		Offset    string `xml:"Offset,attr"`
		BasePoint string `xml:"BasePoint,attr"`
	} `xml:"http://schemas.microsoft.com/exchange/services/2006/messages IndexedPageItemView"`
	Parents ewsFolderIDs `xml:"http://schemas.microsoft.com/exchange/services/2006/messages ParentFolderIds"`

	Folders []folderRef `xml:"-"`
	Offset  int         `xml:"-"`
	Max     int         `xml:"-"` // 0: no limit
	FromEnd bool        `xml:"-"`
	Paged   bool        `xml:"-"`
}

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
	var derr error
	switch op.Name.Local {
	case "GetFolder":
		req.GetFolder = &ewsGetFolder{}
		derr = d.DecodeElement(req.GetFolder, &op)
		if derr == nil {
			req.GetFolder.Folders = req.GetFolder.IDs.refs()
			if len(req.GetFolder.Folders) == 0 {
				return errSchema{"The element 'GetFolder' has incomplete content. List of possible elements expected: 'FolderIds'."}
			}
			if len(req.GetFolder.Folders) > maxEWSFolders {
				return errSchema{fmt.Sprintf("The element 'FolderIds' has more than %d folders.", maxEWSFolders)}
			}
		}
	case "FindItem":
		req.FindItem = &ewsFindItem{}
		derr = d.DecodeElement(req.FindItem, &op)
		if derr == nil {
			derr = req.FindItem.normalize()
		}
	default:
		derr = d.Skip()
	}
	var es errSchema
	if errors.As(derr, &es) {
		return es
	}
	if derr != nil {
		return errSchema{"The request is not well formed XML."}
	}
	return nil
}

func (f *ewsFindItem) normalize() error {
	f.Folders = f.Parents.refs()
	if len(f.Folders) == 0 {
		return errSchema{"The element 'FindItem' has incomplete content. List of possible elements expected: 'ParentFolderIds'."}
	}
	if len(f.Folders) > maxEWSFolders {
		return errSchema{fmt.Sprintf("The element 'ParentFolderIds' has more than %d folders.", maxEWSFolders)}
	}
	if f.View == nil {
		return nil
	}
	f.Paged = true
	var err error
	if f.View.Max != "" {
		if f.Max, err = strconv.Atoi(f.View.Max); err != nil || f.Max < 1 {
			return errSchema{fmt.Sprintf("The 'MaxEntriesReturned' attribute is invalid - The value '%s' is invalid according to its datatype.", f.View.Max)}
		}
	}
	if f.View.Offset != "" {
		if f.Offset, err = strconv.Atoi(f.View.Offset); err != nil || f.Offset < 0 {
			return errSchema{fmt.Sprintf("The 'Offset' attribute is invalid - The value '%s' is invalid according to its datatype.", f.View.Offset)}
		}
	}
	switch f.View.BasePoint {
	case "", "Beginning":
	case "End":
		f.FromEnd = true
	default:
		return errSchema{fmt.Sprintf("The 'BasePoint' attribute is invalid - The value '%s' is invalid according to its datatype.", f.View.BasePoint)}
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
