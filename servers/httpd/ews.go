package httpd

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
)

const maxEWSRequest = 1 << 20

// The EWS operations Exchange 2016/2019 know, by the element that carries
// them (messages.xsd: the Availability operations' end in "Request"). Those exsim does not run
// get ErrorInvalidOperation; an element that is none of them fails schema
// validation.
var ewsOperations = []string{
	"AddDelegate", "ApplyConversationAction", "ArchiveItem", "ConvertId", "CopyFolder", "CopyItem",
	"CreateAttachment", "CreateFolder", "CreateFolderPath", "CreateItem", "CreateManagedFolder",
	"CreateUserConfiguration", "DeleteAttachment", "DeleteFolder", "DeleteItem", "DeleteUserConfiguration",
	"EmptyFolder", "ExpandDL", "ExportItems", "FindConversation", "FindFolder", "FindItem", "FindPeople",
	"GetAttachment", "GetConversationItems", "GetDelegate", "GetEvents", "GetFolder", "GetInboxRules",
	"GetItem", "GetMailTips", "GetPasswordExpirationDate", "GetRoomLists", "GetRooms", "GetServerTimeZones",
	"GetSharingFolder", "GetSharingMetadata", "GetStreamingEvents", "GetUserAvailabilityRequest",
	"GetUserConfiguration", "GetUserOofSettingsRequest", "GetUserPhoto", "MarkAllItemsAsRead", "MarkAsJunk",
	"MoveFolder", "MoveItem", "RemoveDelegate", "ResolveNames", "SendItem", "SetUserOofSettingsRequest",
	"Subscribe", "SyncFolderHierarchy", "SyncFolderItems", "Unsubscribe", "UpdateDelegate", "UpdateFolder",
	"UpdateInboxRules", "UpdateItem", "UploadItems",
}

// ewsCall is one request being answered.
type ewsCall struct {
	h   *Handler
	r   *http.Request
	u   *User
	op  *xnode
	log *slog.Logger
	ms  MailStore // nil when the backend is read-only
	// w is for operations that answer themselves (GetStreamingEvents):
	// their run returns nil.
	w http.ResponseWriter
}

// ewsOps are the operations exsim runs; store marks those that need a
// MailStore (changes, sending, the directory).
var ewsOps = map[string]struct {
	run   func(c *ewsCall) *el
	store bool
}{
	"GetFolder":           {run: func(c *ewsCall) *el { return c.h.ewsGetFolder(c.r, c.u, c.op, c.log) }},
	"FindFolder":          {run: func(c *ewsCall) *el { return c.h.ewsFindFolder(c.r, c.u, c.op, c.log) }},
	"CreateFolder":        {run: func(c *ewsCall) *el { return c.h.ewsCreateFolder(c.r, c.u, c.ms, c.op, c.log) }, store: true},
	"DeleteFolder":        {run: func(c *ewsCall) *el { return c.h.ewsDeleteFolder(c.r, c.u, c.ms, c.op, c.log) }, store: true},
	"SyncFolderHierarchy": {run: (*ewsCall).syncFolderHierarchy},
	"FindItem":            {run: (*ewsCall).findItem},
	"GetItem":             {run: (*ewsCall).getItem},
	"GetAttachment":       {run: (*ewsCall).getAttachment},
	"CreateItem":          {run: (*ewsCall).createItem, store: true},
	"SendItem":            {run: (*ewsCall).sendItem, store: true},
	"UpdateItem":          {run: (*ewsCall).updateItem, store: true},
	"DeleteItem":          {run: (*ewsCall).deleteItem, store: true},
	"MoveItem":            {run: func(c *ewsCall) *el { return c.transferItems(true) }, store: true},
	"CopyItem":            {run: func(c *ewsCall) *el { return c.transferItems(false) }, store: true},
	"SyncFolderItems":     {run: (*ewsCall).syncFolderItems},
	"ResolveNames":        {run: (*ewsCall).resolveNames, store: true},
	"ConvertId":           {run: (*ewsCall).convertID},
	"CreateAttachment":    {run: (*ewsCall).createAttachment, store: true},
	"Subscribe":           {run: (*ewsCall).subscribe},
	"GetEvents":           {run: (*ewsCall).getEvents},
	"GetStreamingEvents":  {run: (*ewsCall).getStreamingEvents},
	"Unsubscribe":         {run: (*ewsCall).unsubscribe},
	"ExpandDL":            {run: (*ewsCall).expandDL},
	"GetServerTimeZones":  {run: (*ewsCall).getServerTimeZones},

	"GetUserAvailabilityRequest": {run: (*ewsCall).getUserAvailability},
	"GetUserOofSettingsRequest":  {run: (*ewsCall).getUserOofSettings},
	"SetUserOofSettingsRequest":  {run: (*ewsCall).setUserOofSettings},
}

// serveEWS is /EWS/Exchange.asmx.
func (h *Handler) serveEWS(w http.ResponseWriter, r *http.Request, rest string, log *slog.Logger) {
	u := h.authenticateAt(w, r, h.cfg.vdirEWS(), log, rest, "/exchange.asmx")
	if u == nil {
		return
	}
	if !allow(w, r, h.cfg, http.MethodPost) {
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxEWSRequest))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			h.cfg.writeIISError(w, r, errTooLarge)
		}
		return // otherwise the client went away
	}
	req, err := parseEWSRequest(body)
	if err != nil {
		var es errSchema
		errors.As(err, &es)
		h.ewsFault(w, "ErrorSchemaValidation", es.Error(), "The request failed schema validation.")
		return
	}
	log = log.With("proto", "ews", "op", req.Operation)
	if req.ServerVersion != "" && !slices.Contains(ewsVersions, req.ServerVersion) {
		h.ewsFault(w, "ErrorInvalidServerVersion", "The specified server version is invalid.", "The specified server version is invalid.")
		return
	}
	if req.Impersonate != "" {
		if u = h.impersonate(w, r, u, req.Impersonate, log); u == nil {
			return
		}
		log = log.With("as", u.Address)
	}
	op, ok := ewsOps[req.Operation]
	ms, isStore := h.b.(MailStore)
	if ok && (!op.store || isStore) {
		if resp := op.run(&ewsCall{h: h, r: r, u: u, op: req.Op, log: log, ms: ms, w: w}); resp != nil {
			h.ewsReply(w, resp)
		}
		return
	}
	if slices.Contains(ewsOperations, req.Operation) {
		h.ewsFault(w, "ErrorInvalidOperation", "The operation '"+req.Operation+"' isn't supported by this server.", "The operation isn't supported by this server.")
		return
	}
	h.ewsFault(w, "ErrorSchemaValidation",
		errSchema{fmt.Sprintf("The element '%s' in namespace '%s' is not an Exchange Web Services operation.", req.Operation, nsMessages)}.Error(),
		"The request failed schema validation.")
}

// soapEnvelope is EWS's response envelope, with Exchange's prefixes.
type soapEnvelope struct {
	XMLName xml.Name    `xml:"s:Envelope"`
	XmlnsS  string      `xml:"xmlns:s,attr"`
	Header  *soapHeader `xml:"s:Header,omitempty"`
	Body    soapBody    `xml:"s:Body"`
}

type soapHeader struct {
	Info serverVersionInfo `xml:"h:ServerVersionInfo"`
}

type serverVersionInfo struct {
	Major      int    `xml:"MajorVersion,attr"`
	Minor      int    `xml:"MinorVersion,attr"`
	MajorBuild int    `xml:"MajorBuildNumber,attr"`
	MinorBuild int    `xml:"MinorBuildNumber,attr"`
	Version    string `xml:"Version,attr"`
	XmlnsH     string `xml:"xmlns:h,attr"`
	Xmlns      string `xml:"xmlns,attr"`
	XmlnsXsi   string `xml:"xmlns:xsi,attr"`
	XmlnsXsd   string `xml:"xmlns:xsd,attr"`
}

type soapBody struct {
	XmlnsXsi string `xml:"xmlns:xsi,attr,omitempty"`
	XmlnsXsd string `xml:"xmlns:xsd,attr,omitempty"`
	Content  any
}

const (
	nsXSI = "http://www.w3.org/2001/XMLSchema-instance"
	nsXSD = "http://www.w3.org/2001/XMLSchema"
)

// versionHeader is the ServerVersionInfo Exchange 2016 and 2019 put in
// every response, errors included: the persona's build, and the newest
// schema version they implement (V2017_07_11).
func (h *Handler) versionHeader() *soapHeader {
	v := h.cfg.ver
	return &soapHeader{Info: serverVersionInfo{
		Major: v.Major, Minor: v.Minor, MajorBuild: v.Build, MinorBuild: v.Revision,
		Version: "V2017_07_11", XmlnsH: nsTypes, Xmlns: nsTypes, XmlnsXsi: nsXSI, XmlnsXsd: nsXSD,
	}}
}

// ewsReply writes a successful (HTTP 200) SOAP response around content.
func (h *Handler) ewsReply(w http.ResponseWriter, content any) {
	b, err := h.soapBytes(content)
	writeSOAPBytes(w, http.StatusOK, b, err)
}

type soapFault struct {
	XMLName     xml.Name `xml:"s:Fault"`
	FaultCode   faultCode
	FaultString struct {
		Lang string `xml:"xml:lang,attr"`
		Text string `xml:",chardata"`
	} `xml:"faultstring"`
	Detail struct {
		ResponseCode faultDetail `xml:"e:ResponseCode"`
		Message      faultDetail `xml:"e:Message"`
	} `xml:"detail"`
}

type faultCode struct {
	XMLName xml.Name `xml:"faultcode"`
	XmlnsA  string   `xml:"xmlns:a,attr"`
	Code    string   `xml:",chardata"`
}

type faultDetail struct {
	XmlnsE string `xml:"xmlns:e,attr"`
	Text   string `xml:",chardata"`
}

// ewsFault answers HTTP 500 with a SOAP fault carrying an EWS response
// code, as Exchange does for requests it cannot run at all. The
// ServerVersionInfo header is there too: clients that probe versions
// (ErrorInvalidServerVersion) read it.
func (h *Handler) ewsFault(w http.ResponseWriter, code, faultString, message string) {
	f := soapFault{FaultCode: faultCode{XmlnsA: nsTypes, Code: "a:" + code}}
	f.FaultString.Lang = "en-US"
	f.FaultString.Text = faultString
	f.Detail.ResponseCode = faultDetail{XmlnsE: nsErrors, Text: code}
	f.Detail.Message = faultDetail{XmlnsE: nsErrors, Text: message}
	writeSOAP(w, http.StatusInternalServerError, soapEnvelope{XmlnsS: nsSOAP11, Header: h.versionHeader(), Body: soapBody{Content: f}})
}

func writeSOAP(w http.ResponseWriter, status int, env soapEnvelope) {
	b, err := marshalSOAP(env)
	writeSOAPBytes(w, status, b, err)
}

func writeSOAPBytes(w http.ResponseWriter, status int, b []byte, err error) {
	if err != nil {
		// Only a programming error can get here: every value is ours.
		http.Error(w, "", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.Header().Set("Cache-Control", "private")
	w.WriteHeader(status)
	w.Write(b)
}

func marshalSOAP(env soapEnvelope) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString(`<?xml version="1.0" encoding="utf-8"?>`)
	err := xml.NewEncoder(&buf).Encode(env)
	return buf.Bytes(), err
}

// soapBytes is the envelope ewsReply writes around content.
func (h *Handler) soapBytes(content any) ([]byte, error) {
	return marshalSOAP(soapEnvelope{XmlnsS: nsSOAP11, Header: h.versionHeader(), Body: soapBody{XmlnsXsi: nsXSI, XmlnsXsd: nsXSD, Content: content}})
}

// responseMessage is the common part of every EWS response message.
type responseMessage struct {
	Class        string
	MessageText  string
	ResponseCode string
	LinkKey      *int
}

func okMessage() responseMessage { return responseMessage{Class: "Success", ResponseCode: "NoError"} }

func errMessage(code, text string) responseMessage {
	zero := 0
	return responseMessage{Class: "Error", MessageText: text, ResponseCode: code, LinkKey: &zero}
}

// EWS errors of response messages (messages.xsd ResponseCodeType), one
// place for all of them. The codes are Exchange's; the MessageText of the
// calendar, availability and OOF codes has no public capture and is
// exsim's wording.
var (
	ewsFolderNotFound     = errMessage("ErrorFolderNotFound", "The specified folder could not be found in the store.")
	ewsIDMalformed        = errMessage("ErrorInvalidIdMalformed", "Id is malformed.")
	ewsAccessDenied       = errMessage("ErrorAccessDenied", "Access is denied. Check credentials and try again.")
	ewsInternal           = errMessage("ErrorInternalServerError", "An internal server error occurred. The operation failed.")
	ewsItemNotFound       = errMessage("ErrorItemNotFound", "The specified object was not found in the store.")
	ewsEndBeforeStart     = errMessage("ErrorCalendarEndDateIsEarlierThanStartDate", "EndDate is earlier than StartDate")
	ewsInvalidCalendar    = errMessage("ErrorCalendarInvalidPropertyValue", "A calendar property has an invalid value.")
	ewsInvalidSendInvites = errMessage("ErrorInvalidOperation", "SendMeetingInvitations is invalid.")
	ewsCalendarViewFolder = errMessage("ErrorCalendarFolderIsInvalidForCalendarView", "The folder isn't a calendar folder.")
	ewsCalendarViewRange  = errMessage("ErrorCalendarViewRangeTooBig", "The calendar view range is too big.")
	ewsInvalidOOF         = errMessage("ErrorInvalidOofParameter", "The OOF parameters are invalid.")
	ewsInvalidTimeZone    = errMessage("ErrorInvalidTimeInterval", "The time zone or time window is invalid.")
	ewsIntervalTooBig     = errMessage("ErrorTimeIntervalTooBig", "The time interval specified is too big. The maximum allowed interval is 62 days.")
	ewsInvalidMerged      = errMessage("ErrorInvalidMergedFreeBusyInterval", "The merged free/busy interval must be between 5 and 1440 minutes.")
	ewsInvalidView        = errMessage("ErrorInvalidFreeBusyViewType", "The free/busy view type is invalid.")
	ewsMailboxArrayBig    = errMessage("ErrorMailboxDataArrayTooBig", "The number of mailboxes exceeds 100.")
	ewsMailboxArrayNone   = errMessage("ErrorMailboxDataArrayEmpty", "The MailboxDataArray is empty.")
)
