package httpd

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-message/mail"
)

const maxEWSRequest = 1 << 20

// The EWS operations Exchange 2016/2019 know. exsim answers GetFolder and
// FindItem; the others get ErrorInvalidOperation.
var ewsOperations = []string{
	"AddDelegate", "ApplyConversationAction", "ArchiveItem", "ConvertId", "CopyFolder", "CopyItem",
	"CreateAttachment", "CreateFolder", "CreateFolderPath", "CreateItem", "CreateManagedFolder",
	"CreateUserConfiguration", "DeleteAttachment", "DeleteFolder", "DeleteItem", "DeleteUserConfiguration",
	"EmptyFolder", "ExpandDL", "ExportItems", "FindConversation", "FindFolder", "FindItem", "FindPeople",
	"GetAttachment", "GetConversationItems", "GetDelegate", "GetEvents", "GetFolder", "GetInboxRules",
	"GetItem", "GetMailTips", "GetPasswordExpirationDate", "GetRoomLists", "GetRooms", "GetServerTimeZones",
	"GetSharingFolder", "GetSharingMetadata", "GetStreamingEvents", "GetUserAvailability",
	"GetUserConfiguration", "GetUserOofSettings", "GetUserPhoto", "MarkAllItemsAsRead", "MarkAsJunk",
	"MoveFolder", "MoveItem", "RemoveDelegate", "ResolveNames", "SendItem", "SetUserOofSettings",
	"Subscribe", "SyncFolderHierarchy", "SyncFolderItems", "Unsubscribe", "UpdateDelegate", "UpdateFolder",
	"UpdateInboxRules", "UpdateItem", "UploadItems",
}

// serveEWS is /EWS/Exchange.asmx.
func (h *Handler) serveEWS(w http.ResponseWriter, r *http.Request, rest string, log *slog.Logger) {
	u := h.authenticate(w, r, h.cfg.vdirEWS(), log)
	if u == nil {
		return
	}
	setRaw(w.Header(), "X-CalculatedBETarget", u.HomeFQDN)
	if rest != "/exchange.asmx" {
		h.cfg.writeIISError(w, r, errNotFound)
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
	log = log.With("proto", "ews")
	switch req.Operation {
	case "GetFolder":
		h.ewsReply(w, h.ewsGetFolder(r, u, req.GetFolder, log))
	case "FindItem":
		h.ewsReply(w, h.ewsFindItem(r, u, req.FindItem, log))
	default:
		if slices.Contains(ewsOperations, req.Operation) {
			h.ewsFault(w, "ErrorInvalidOperation", "The operation '"+req.Operation+"' isn't supported by this server.", "The operation isn't supported by this server.")
			return
		}
		h.ewsFault(w, "ErrorSchemaValidation",
			errSchema{fmt.Sprintf("The element '%s' in namespace '%s' is not an Exchange Web Services operation.", req.Operation, nsMessages)}.Error(),
			"The request failed schema validation.")
	}
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

// ewsReply writes a successful (HTTP 200) SOAP response around content.
func (h *Handler) ewsReply(w http.ResponseWriter, content any) {
	v := h.cfg.ver
	env := soapEnvelope{
		XmlnsS: nsSOAP11,
		Header: &soapHeader{Info: serverVersionInfo{
			Major: v.Major, Minor: v.Minor, MajorBuild: v.Build, MinorBuild: v.Revision,
			Version: "V2017_07_11", XmlnsH: nsTypes, Xmlns: nsTypes, XmlnsXsi: nsXSI, XmlnsXsd: nsXSD,
		}},
		Body: soapBody{XmlnsXsi: nsXSI, XmlnsXsd: nsXSD, Content: content},
	}
	writeSOAP(w, http.StatusOK, env)
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
// code, as Exchange does for requests it cannot run at all.
func (h *Handler) ewsFault(w http.ResponseWriter, code, faultString, message string) {
	f := soapFault{FaultCode: faultCode{XmlnsA: nsTypes, Code: "a:" + code}}
	f.FaultString.Lang = "en-US"
	f.FaultString.Text = faultString
	f.Detail.ResponseCode = faultDetail{XmlnsE: nsErrors, Text: code}
	f.Detail.Message = faultDetail{XmlnsE: nsErrors, Text: message}
	writeSOAP(w, http.StatusInternalServerError, soapEnvelope{XmlnsS: nsSOAP11, Body: soapBody{Content: f}})
}

func writeSOAP(w http.ResponseWriter, status int, env soapEnvelope) {
	var buf bytes.Buffer
	buf.WriteString(`<?xml version="1.0" encoding="utf-8"?>`)
	enc := xml.NewEncoder(&buf)
	if err := enc.Encode(env); err != nil {
		// Only a programming error can get here: every value is ours.
		http.Error(w, "", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.Header().Set("Cache-Control", "private")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// responseMessage is the common part of every EWS response message.
type responseMessage struct {
	Class        string `xml:"ResponseClass,attr"`
	MessageText  string `xml:"m:MessageText,omitempty"`
	ResponseCode string `xml:"m:ResponseCode"`
	LinkKey      *int   `xml:"m:DescriptiveLinkKey,omitempty"`
}

func okMessage() responseMessage { return responseMessage{Class: "Success", ResponseCode: "NoError"} }

func errMessage(code, text string) responseMessage {
	zero := 0
	return responseMessage{Class: "Error", MessageText: text, ResponseCode: code, LinkKey: &zero}
}

// EWS errors for one folder (messages.xsd ResponseCodeType).
var (
	ewsFolderNotFound = errMessage("ErrorFolderNotFound", "The specified folder could not be found in the store.")
	ewsIDMalformed    = errMessage("ErrorInvalidIdMalformed", "Id is malformed.")
	ewsAccessDenied   = errMessage("ErrorAccessDenied", "Access is denied. Check credentials and try again.")
	ewsInternal       = errMessage("ErrorInternalServerError", "An internal server error occurred. The operation failed.")
)

// resolveFolder maps a request's folder to a store folder of u's mailbox.
// listFolder resolves a folder reference and lists its messages; a folder
// not created yet is empty. fail is the response message for the
// reference when that did not work.
func (h *Handler) listFolder(r *http.Request, u *User, ref folderRef, log *slog.Logger) (store string, msgs []MessageInfo, fail *responseMessage) {
	store, fail = resolveFolder(u, ref)
	if fail != nil {
		return "", nil, fail
	}
	msgs, err := h.b.ListFolder(r.Context(), u.Address, store)
	if errors.Is(err, ErrNotFound) {
		return store, nil, nil
	}
	if err != nil {
		log.Error("ews: list folder", "err", err)
		return "", nil, &ewsInternal
	}
	return store, msgs, nil
}

func resolveFolder(u *User, f folderRef) (store string, fail *responseMessage) {
	if f.Mailbox != "" && !strings.EqualFold(f.Mailbox, u.Address) {
		return "", &ewsAccessDenied
	}
	if f.Distinguished != "" {
		if _, store, ok := folderByID(f.Distinguished); ok {
			return store, nil
		}
		return "", &ewsFolderNotFound
	}
	b, err := base64.StdEncoding.DecodeString(f.ID)
	if err != nil || len(b) < 2 || b[0] != 1 || folderIDOf(string(b[1:])) == "" {
		return "", &ewsIDMalformed
	}
	return string(b[1:]), nil
}

// ewsFolderID is the FolderId of a store folder.
func ewsFolderID(store string) string {
	return base64.StdEncoding.EncodeToString(append([]byte{1}, store...))
}

type ewsID struct {
	ID        string `xml:"Id,attr"`
	ChangeKey string `xml:"ChangeKey,attr"`
}

type ewsFolder struct {
	FolderID         ewsID   `xml:"t:FolderId"`
	FolderClass      *string `xml:"t:FolderClass,omitempty"`
	DisplayName      *string `xml:"t:DisplayName,omitempty"`
	TotalCount       *int    `xml:"t:TotalCount,omitempty"`
	ChildFolderCount *int    `xml:"t:ChildFolderCount,omitempty"`
	UnreadCount      *int    `xml:"t:UnreadCount,omitempty"`
}

type getFolderResponseMessage struct {
	responseMessage
	Folders struct {
		Folder []ewsFolder `xml:"t:Folder"`
	} `xml:"m:Folders"`
}

type getFolderResponse struct {
	XMLName  xml.Name                   `xml:"m:GetFolderResponse"`
	XmlnsM   string                     `xml:"xmlns:m,attr"`
	XmlnsT   string                     `xml:"xmlns:t,attr"`
	Messages []getFolderResponseMessage `xml:"m:ResponseMessages>m:GetFolderResponseMessage"`
}

func (h *Handler) ewsGetFolder(r *http.Request, u *User, req *ewsGetFolder, log *slog.Logger) getFolderResponse {
	resp := getFolderResponse{XmlnsM: nsMessages, XmlnsT: nsTypes}
	for _, ref := range req.Folders {
		store, msgs, fail := h.listFolder(r, u, ref, log)
		if fail != nil {
			resp.Messages = append(resp.Messages, getFolderResponseMessage{responseMessage: *fail})
			continue
		}
		name, _, _ := folderByID(folderIDOf(store))
		f := ewsFolder{FolderID: ewsID{ID: ewsFolderID(store), ChangeKey: "AQAAABYAAAA="}}
		s := req.Shape
		if s.wants("folder:FolderClass", false) {
			class := "IPF.Note"
			f.FolderClass = &class
		}
		if s.wants("folder:DisplayName", true) {
			f.DisplayName = &name
		}
		total, unread, children := len(msgs), countUnread(msgs), 0
		if s.wants("folder:TotalCount", true) {
			f.TotalCount = &total
		}
		if s.wants("folder:ChildFolderCount", true) {
			f.ChildFolderCount = &children
		}
		if s.wants("folder:UnreadCount", true) {
			f.UnreadCount = &unread
		}
		m := getFolderResponseMessage{responseMessage: okMessage()}
		m.Folders.Folder = []ewsFolder{f}
		resp.Messages = append(resp.Messages, m)
	}
	return resp
}

type ewsMailbox struct {
	Name         string `xml:"t:Name,omitempty"`
	EmailAddress string `xml:"t:EmailAddress"`
	RoutingType  string `xml:"t:RoutingType"`
	MailboxType  string `xml:"t:MailboxType,omitempty"`
}

type ewsMessage struct {
	ItemID           ewsID   `xml:"t:ItemId"`
	ParentFolderID   *ewsID  `xml:"t:ParentFolderId,omitempty"`
	ItemClass        *string `xml:"t:ItemClass,omitempty"`
	Subject          *string `xml:"t:Subject,omitempty"`
	DateTimeReceived *string `xml:"t:DateTimeReceived,omitempty"`
	Size             *int64  `xml:"t:Size,omitempty"`
	DateTimeSent     *string `xml:"t:DateTimeSent,omitempty"`
	DisplayTo        *string `xml:"t:DisplayTo,omitempty"`
	From             *struct {
		Mailbox ewsMailbox `xml:"t:Mailbox"`
	} `xml:"t:From,omitempty"`
	IsRead *bool `xml:"t:IsRead,omitempty"`
}

type findItemResponseMessage struct {
	responseMessage
	RootFolder *struct {
		Offset       *int `xml:"IndexedPagingOffset,attr,omitempty"`
		Total        int  `xml:"TotalItemsInView,attr"`
		IncludesLast bool `xml:"IncludesLastItemInRange,attr"`
		Items        struct {
			Message []ewsMessage `xml:"t:Message"`
		} `xml:"t:Items"`
	} `xml:"m:RootFolder,omitempty"`
}

type findItemResponse struct {
	XMLName  xml.Name                  `xml:"m:FindItemResponse"`
	XmlnsM   string                    `xml:"xmlns:m,attr"`
	XmlnsT   string                    `xml:"xmlns:t,attr"`
	Messages []findItemResponseMessage `xml:"m:ResponseMessages>m:FindItemResponseMessage"`
}

func (h *Handler) ewsFindItem(r *http.Request, u *User, req *ewsFindItem, log *slog.Logger) findItemResponse {
	resp := findItemResponse{XmlnsM: nsMessages, XmlnsT: nsTypes}
	for _, ref := range req.Folders {
		store, msgs, fail := h.listFolder(r, u, ref, log)
		if fail != nil {
			resp.Messages = append(resp.Messages, findItemResponseMessage{responseMessage: *fail})
			continue
		}
		slices.SortStableFunc(msgs, func(a, b MessageInfo) int { return b.Date.Compare(a.Date) })
		page, next, last := pageOf(msgs, req)
		m := findItemResponseMessage{responseMessage: okMessage()}
		m.RootFolder = &struct {
			Offset       *int `xml:"IndexedPagingOffset,attr,omitempty"`
			Total        int  `xml:"TotalItemsInView,attr"`
			IncludesLast bool `xml:"IncludesLastItemInRange,attr"`
			Items        struct {
				Message []ewsMessage `xml:"t:Message"`
			} `xml:"t:Items"`
		}{Total: len(msgs), IncludesLast: last}
		if req.Paged {
			m.RootFolder.Offset = &next
		}
		for _, mi := range page {
			m.RootFolder.Items.Message = append(m.RootFolder.Items.Message, ewsItem(store, mi, req.Shape))
		}
		resp.Messages = append(resp.Messages, m)
	}
	return resp
}

// pageOf applies an IndexedPageItemView (and EWS's 1000-item cap).
func pageOf(msgs []MessageInfo, req *ewsFindItem) (page []MessageInfo, next int, last bool) {
	n := maxEWSPage
	if req.Max > 0 && req.Max < n {
		n = req.Max
	}
	start := min(req.Offset, len(msgs))
	if req.FromEnd {
		start = max(0, len(msgs)-req.Offset-n)
	}
	end := min(start+n, len(msgs))
	return msgs[start:end], end, end == len(msgs)
}

func ewsItem(store string, mi MessageInfo, s ewsShape) ewsMessage {
	m := ewsMessage{ItemID: ewsID{ID: encodeItemID(store, mi.ID), ChangeKey: "CQAAABYAAAA="}}
	if s.wants("item:ParentFolderId", false) {
		m.ParentFolderID = &ewsID{ID: ewsFolderID(store), ChangeKey: "AQAAAA=="}
	}
	if s.wants("item:ItemClass", true) {
		class := "IPM.Note"
		m.ItemClass = &class
	}
	if s.wants("item:Subject", true) {
		subject := mi.Subject
		m.Subject = &subject
	}
	date := mi.Date.UTC().Format(time.RFC3339)
	if s.wants("item:DateTimeReceived", true) {
		m.DateTimeReceived = &date
	}
	if s.wants("item:Size", true) {
		size := mi.Size
		m.Size = &size
	}
	if s.wants("item:DateTimeSent", true) {
		m.DateTimeSent = &date
	}
	if s.wants("item:DisplayTo", true) {
		to := displayName(mi.To)
		m.DisplayTo = &to
	}
	if s.wants("message:From", true) && mi.From != "" {
		mb := ewsMailbox{EmailAddress: mi.From, RoutingType: "SMTP", MailboxType: "OneOff"}
		if a, err := mail.ParseAddress(mi.From); err == nil {
			mb.Name, mb.EmailAddress = a.Name, a.Address
			if mb.Name == "" {
				mb.Name = a.Address
			}
		}
		m.From = &struct {
			Mailbox ewsMailbox `xml:"t:Mailbox"`
		}{mb}
	}
	if s.wants("message:IsRead", true) {
		read := mi.Read
		m.IsRead = &read
	}
	return m
}
