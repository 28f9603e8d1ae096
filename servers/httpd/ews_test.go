package httpd

import (
	"encoding/xml"
	"net/http"
	"strings"
	"testing"
)

func ewsEnvelope(body string) string {
	return `<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"
  xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"
  xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">
  <soap:Header><t:RequestServerVersion Version="Exchange2016"/></soap:Header>
  <soap:Body>` + body + `</soap:Body>
</soap:Envelope>`
}

const ewsGetInbox = `<m:GetFolder><m:FolderShape><t:BaseShape>Default</t:BaseShape></m:FolderShape>
  <m:FolderIds><t:DistinguishedFolderId Id="inbox"/></m:FolderIds></m:GetFolder>`

const ewsFindInbox = `<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>Default</t:BaseShape></m:ItemShape>
  <m:IndexedPageItemView MaxEntriesReturned="2" Offset="0" BasePoint="Beginning"/>
  <m:ParentFolderIds><t:DistinguishedFolderId Id="inbox"/></m:ParentFolderIds></m:FindItem>`

func ewsServer(t *testing.T) *testServer {
	o := testOptions()
	o.BasicAuth = &BasicAuth{EWS: true}
	return newTestServer(t, o)
}

func postEWS(t *testing.T, ts *testServer, body string) (*http.Response, string) {
	t.Helper()
	req := basicRequest("POST", ts.base+"/EWS/Exchange.asmx", `CONTOSO\alice`, "P@ssw0rd", strings.NewReader(body))
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	return do(t, ts.client(false), req)
}

// ewsDoc reads a response with a namespace-aware decoder, as EWS clients do.
type ewsDoc struct {
	XMLName xml.Name `xml:"http://schemas.xmlsoap.org/soap/envelope/ Envelope"`
	Header  struct {
		Info struct {
			Major      int    `xml:"MajorVersion,attr"`
			Minor      int    `xml:"MinorVersion,attr"`
			MajorBuild int    `xml:"MajorBuildNumber,attr"`
			MinorBuild int    `xml:"MinorBuildNumber,attr"`
			Version    string `xml:"Version,attr"`
		} `xml:"http://schemas.microsoft.com/exchange/services/2006/types ServerVersionInfo"`
	} `xml:"http://schemas.xmlsoap.org/soap/envelope/ Header"`
	Body struct {
		GetFolder struct {
			Messages []struct {
				Class   string `xml:"ResponseClass,attr"`
				Code    string `xml:"http://schemas.microsoft.com/exchange/services/2006/messages ResponseCode"`
				Text    string `xml:"http://schemas.microsoft.com/exchange/services/2006/messages MessageText"`
				Folders struct {
					Folder []struct {
						FolderID struct {
							ID string `xml:"Id,attr"`
						} `xml:"http://schemas.microsoft.com/exchange/services/2006/types FolderId"`
						DisplayName      *string `xml:"http://schemas.microsoft.com/exchange/services/2006/types DisplayName"`
						TotalCount       *int    `xml:"http://schemas.microsoft.com/exchange/services/2006/types TotalCount"`
						ChildFolderCount *int    `xml:"http://schemas.microsoft.com/exchange/services/2006/types ChildFolderCount"`
						UnreadCount      *int    `xml:"http://schemas.microsoft.com/exchange/services/2006/types UnreadCount"`
					} `xml:"http://schemas.microsoft.com/exchange/services/2006/types Folder"`
				} `xml:"http://schemas.microsoft.com/exchange/services/2006/messages Folders"`
			} `xml:"http://schemas.microsoft.com/exchange/services/2006/messages ResponseMessages>GetFolderResponseMessage"`
		} `xml:"http://schemas.microsoft.com/exchange/services/2006/messages GetFolderResponse"`
		FindItem struct {
			Messages []struct {
				Class string `xml:"ResponseClass,attr"`
				Code  string `xml:"http://schemas.microsoft.com/exchange/services/2006/messages ResponseCode"`
				Root  struct {
					Offset string `xml:"IndexedPagingOffset,attr"`
					Total  int    `xml:"TotalItemsInView,attr"`
					Last   bool   `xml:"IncludesLastItemInRange,attr"`
					Items  []struct {
						ItemID struct {
							ID string `xml:"Id,attr"`
						} `xml:"http://schemas.microsoft.com/exchange/services/2006/types ItemId"`
						Subject          *string `xml:"http://schemas.microsoft.com/exchange/services/2006/types Subject"`
						DateTimeReceived string  `xml:"http://schemas.microsoft.com/exchange/services/2006/types DateTimeReceived"`
						Size             int64   `xml:"http://schemas.microsoft.com/exchange/services/2006/types Size"`
						IsRead           *bool   `xml:"http://schemas.microsoft.com/exchange/services/2006/types IsRead"`
						From             struct {
							Name  string `xml:"http://schemas.microsoft.com/exchange/services/2006/types Name"`
							Email string `xml:"http://schemas.microsoft.com/exchange/services/2006/types EmailAddress"`
						} `xml:"http://schemas.microsoft.com/exchange/services/2006/types From>Mailbox"`
					} `xml:"http://schemas.microsoft.com/exchange/services/2006/types Items>Message"`
				} `xml:"http://schemas.microsoft.com/exchange/services/2006/messages RootFolder"`
			} `xml:"http://schemas.microsoft.com/exchange/services/2006/messages ResponseMessages>FindItemResponseMessage"`
		} `xml:"http://schemas.microsoft.com/exchange/services/2006/messages FindItemResponse"`
		Fault struct {
			Code   string `xml:"faultcode"`
			String string `xml:"faultstring"`
			Detail struct {
				ResponseCode string `xml:"http://schemas.microsoft.com/exchange/services/2006/errors ResponseCode"`
			} `xml:"detail"`
		} `xml:"http://schemas.xmlsoap.org/soap/envelope/ Fault"`
	} `xml:"http://schemas.xmlsoap.org/soap/envelope/ Body"`
}

func decodeEWS(t *testing.T, body string) ewsDoc {
	t.Helper()
	var d ewsDoc
	if err := xml.Unmarshal([]byte(body), &d); err != nil {
		t.Fatalf("response does not parse: %v\n%s", err, body)
	}
	return d
}

func TestEWSGetFolder(t *testing.T) {
	ts := ewsServer(t)
	resp, body := postEWS(t, ts, ewsEnvelope(ewsGetInbox))
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/xml; charset=utf-8" {
		t.Fatalf("GetFolder = %d %s\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if got := resp.Header.Get("X-CalculatedBETarget"); got != "ex01.contoso.com" {
		t.Errorf("X-CalculatedBETarget = %q", got)
	}
	d := decodeEWS(t, body)
	if i := d.Header.Info; i.Major != 15 || i.Minor != 2 || i.MajorBuild != 1258 || i.MinorBuild != 12 || i.Version != "V2017_07_11" {
		t.Errorf("ServerVersionInfo = %+v", i)
	}
	msgs := d.Body.GetFolder.Messages
	if len(msgs) != 1 || msgs[0].Class != "Success" || msgs[0].Code != "NoError" || len(msgs[0].Folders.Folder) != 1 {
		t.Fatalf("GetFolder messages = %+v\n%s", msgs, body)
	}
	f := msgs[0].Folders.Folder[0]
	if f.DisplayName == nil || *f.DisplayName != "Inbox" || *f.TotalCount != 3 || *f.UnreadCount != 2 || *f.ChildFolderCount != 0 {
		t.Errorf("Inbox folder = %q total %d unread %d children %d", deref(f.DisplayName), *f.TotalCount, *f.UnreadCount, *f.ChildFolderCount)
	}
	// The FolderId works in place of the distinguished id.
	_, body = postEWS(t, ts, ewsEnvelope(`<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>
	  <m:FolderIds><t:FolderId Id="`+f.FolderID.ID+`"/></m:FolderIds></m:GetFolder>`))
	d = decodeEWS(t, body)
	if fs := d.Body.GetFolder.Messages[0].Folders.Folder; len(fs) != 1 || fs[0].FolderID.ID != f.FolderID.ID || fs[0].DisplayName != nil {
		t.Errorf("GetFolder by FolderId with IdOnly = %+v", fs)
	}
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func TestEWSFindItem(t *testing.T) {
	ts := ewsServer(t)
	_, body := postEWS(t, ts, ewsEnvelope(ewsFindInbox))
	d := decodeEWS(t, body)
	msgs := d.Body.FindItem.Messages
	if len(msgs) != 1 || msgs[0].Code != "NoError" {
		t.Fatalf("FindItem = %s", body)
	}
	root := msgs[0].Root
	if root.Total != 3 || root.Offset != "2" || root.Last || len(root.Items) != 2 {
		t.Fatalf("RootFolder total %d offset %s last %v items %d, want 3 2 false 2\n%s", root.Total, root.Offset, root.Last, len(root.Items), body)
	}
	first := root.Items[0]
	if deref(first.Subject) != "Newsletter <script>alert(1)</script>" || first.From.Name != "Fabrikam News" ||
		first.From.Email != "news@fabrikam.com" || first.DateTimeReceived != "2024-03-29T13:00:00Z" || first.Size == 0 || deref(first.IsRead) {
		t.Errorf("first item = %+v", first)
	}
	if second := root.Items[1]; !deref(second.IsRead) || deref(second.Subject) != "Lunch on Friday?" {
		t.Errorf("second item = %+v", second)
	}
	// The next page.
	_, body = postEWS(t, ts, ewsEnvelope(strings.Replace(ewsFindInbox, `Offset="0"`, `Offset="2"`, 1)))
	root = decodeEWS(t, body).Body.FindItem.Messages[0].Root
	if len(root.Items) != 1 || !root.Last || deref(root.Items[0].Subject) != "Quarterly report" {
		t.Errorf("second page = %+v", root)
	}
	// IdOnly gives ids only.
	_, body = postEWS(t, ts, ewsEnvelope(strings.Replace(ewsFindInbox, "Default", "IdOnly", 1)))
	root = decodeEWS(t, body).Body.FindItem.Messages[0].Root
	if len(root.Items) != 2 || root.Items[0].ItemID.ID == "" || root.Items[0].Subject != nil {
		t.Errorf("IdOnly items = %+v", root.Items)
	}
}

func TestEWSErrors(t *testing.T) {
	ts := ewsServer(t)
	tests := []struct {
		name, body string
		status     int
		fault      string // faultcode's EWS code, for faults
		respCode   string // ResponseCode of the response message otherwise
	}{
		{"unsupported operation", ewsEnvelope(`<m:GetRoomLists/>`), 500, "ErrorInvalidOperation", ""},
		{"unknown operation", ewsEnvelope(`<m:LaunchMissiles/>`), 500, "ErrorSchemaValidation", ""},
		{"malformed xml", "<soap:Envelope", 500, "ErrorSchemaValidation", ""},
		{"not soap", "<hello/>", 500, "ErrorSchemaValidation", ""},
		{"empty body", ewsEnvelope(""), 500, "ErrorSchemaValidation", ""},
		{"bad paging", ewsEnvelope(strings.Replace(ewsFindInbox, `MaxEntriesReturned="2"`, `MaxEntriesReturned="-4"`, 1)), 500, "ErrorSchemaValidation", ""},
		{"unknown folder", ewsEnvelope(strings.Replace(ewsGetInbox, `Id="inbox"`, `Id="calendar"`, 1)), 200, "", "ErrorFolderNotFound"},
		{"malformed folder id", ewsEnvelope(`<m:GetFolder><m:FolderShape><t:BaseShape>Default</t:BaseShape></m:FolderShape><m:FolderIds><t:FolderId Id="!!"/></m:FolderIds></m:GetFolder>`), 200, "", "ErrorInvalidIdMalformed"},
		{"impersonation without the role", strings.Replace(ewsEnvelope(ewsGetInbox), `<t:RequestServerVersion Version="Exchange2016"/>`,
			`<t:RequestServerVersion Version="Exchange2016"/><t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>bob@contoso.com</t:PrimarySmtpAddress></t:ConnectingSID></t:ExchangeImpersonation>`, 1), 500, "ErrorImpersonateUserDenied", ""},
		{"impersonation of nobody", strings.Replace(ewsEnvelope(ewsGetInbox), `<t:RequestServerVersion Version="Exchange2016"/>`,
			`<t:RequestServerVersion Version="Exchange2016"/><t:ExchangeImpersonation><t:ConnectingSID/></t:ExchangeImpersonation>`, 1), 500, "ErrorSchemaValidation", ""},
		{"another mailbox", ewsEnvelope(strings.Replace(ewsGetInbox, `<t:DistinguishedFolderId Id="inbox"/>`, `<t:DistinguishedFolderId Id="inbox"><t:Mailbox><t:EmailAddress>bob@contoso.com</t:EmailAddress></t:Mailbox></t:DistinguishedFolderId>`, 1)), 200, "", "ErrorAccessDenied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := postEWS(t, ts, tt.body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d\n%s", resp.StatusCode, tt.status, body)
			}
			d := decodeEWS(t, body)
			if tt.fault != "" {
				f := d.Body.Fault
				if f.Code != "a:"+tt.fault || f.Detail.ResponseCode != tt.fault || f.String == "" {
					t.Errorf("fault = %+v, want %s\n%s", f, tt.fault, body)
				}
				return
			}
			if m := d.Body.GetFolder.Messages; len(m) != 1 || m[0].Class != "Error" || m[0].Code != tt.respCode || m[0].Text == "" {
				t.Errorf("response = %+v, want %s\n%s", m, tt.respCode, body)
			}
		})
	}
	// GET is not SOAP.
	resp, _ := do(t, ts.client(false), basicRequest("GET", ts.base+"/EWS/Exchange.asmx", "alice", "P@ssw0rd", nil))
	if resp.StatusCode != 405 {
		t.Errorf("GET /EWS/Exchange.asmx with auth = %d, want 405", resp.StatusCode)
	}
}
