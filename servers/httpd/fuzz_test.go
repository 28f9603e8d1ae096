package httpd

import (
	"errors"
	"strings"
	"testing"

	"github.com/exsim/exsim/internal/fuzzseed"
)

func FuzzAutodiscoverRequest(f *testing.F) {
	fuzzseed.Add(f, []byte(adOutlookRequest("alice@contoso.com")))
	fuzzseed.Add(f, []byte(adMobileRequest("alice@contoso.com")))
	fuzzseed.Add(f, []byte(strings.ReplaceAll(adOutlookRequest(""), "<EMailAddress></EMailAddress>", "<LegacyDN>/o=First Organization/cn=alice</LegacyDN>")))
	fuzzseed.Add(f, []byte("<Autodiscover><Request>"))
	fuzzseed.Add(f, []byte(`<!DOCTYPE x [<!ENTITY e "boom">]><Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"><Request><EMailAddress>&e;</EMailAddress></Request></Autodiscover>`))
	fuzzseed.Add(f, []byte{})
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := parseAutodiscoverRequest(body)
		if err != nil {
			var ae adError
			if !errors.As(err, &ae) || (ae.Code != 600 && ae.Code != 601) {
				t.Fatalf("parseAutodiscoverRequest error %v is not an Autodiscover 600/601 error", err)
			}
			return
		}
		if req == nil || (req.EMailAddress == "" && req.LegacyDN == "") {
			t.Fatalf("parseAutodiscoverRequest accepted a request without an address: %+v", req)
		}
		// What parses must render: the response of any accepted request
		// marshals.
		c, _ := newConfig(testOptions())
		u := &User{Address: req.EMailAddress, DisplayName: req.EMailAddress, MailboxGUID: "x"}
		if !strings.Contains(u.Address, "@") {
			u.Address += "@contoso.com"
		}
		h := &Handler{cfg: c}
		w := newDiscardWriter()
		h.writeAutodiscover(w, adOutlookResponse(c, u, 0))
		h.writeAutodiscover(w, adOutlookResponse(c, u, 1))
		h.writeAutodiscover(w, adMobileResponse(u, c.vdirURL("activesync", true)))
		if w.status != 200 {
			t.Fatalf("response for %+v did not render: %d", req, w.status)
		}
	})
}

func FuzzEWSRequest(f *testing.F) {
	fuzzseed.Add(f, []byte(ewsEnvelope(ewsGetInbox)))
	fuzzseed.Add(f, []byte(ewsEnvelope(ewsFindInbox)))
	fuzzseed.Add(f, []byte(ewsEnvelope(`<m:GetItem/>`)))
	fuzzseed.Add(f, []byte(strings.ReplaceAll(ewsEnvelope(ewsFindInbox), "http://schemas.xmlsoap.org/soap/envelope/", nsSOAP12)))
	fuzzseed.Add(f, []byte("<soap:Envelope"))
	fuzzseed.Add(f, []byte{})
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := parseEWSRequest(body)
		if err != nil {
			var es errSchema
			if !errors.As(err, &es) || es.reason == "" {
				t.Fatalf("parseEWSRequest error %v is not a schema error", err)
			}
			return
		}
		switch req.Operation {
		case "GetFolder", "FindItem":
			list := "FolderIds"
			if req.Operation == "FindItem" {
				list = "ParentFolderIds"
			}
			if n := len(folderRefs(req.Op.child(list))); n == 0 || n > maxEWSFolders {
				t.Fatalf("%s with %d folders accepted", req.Operation, n)
			}
			v, err := pageView(req.Op.child("IndexedPageItemView"))
			if err != nil {
				t.Fatalf("bad view accepted: %v", err)
			}
			start, end := v.window(5)
			if start < 0 || end < start || end > 5 {
				t.Fatalf("window(%+v) = %d, %d", v, start, end)
			}
		case "":
			t.Fatalf("request without an operation accepted")
		}
	})
}

// FuzzParseMessage: any bytes a mailbox may hold render without a crash.
func FuzzParseMessage(f *testing.F) {
	b := newFakeBackend()
	for _, m := range b.find("alice@contoso.com").folders[FolderInbox] {
		fuzzseed.Add(f, m.raw)
	}
	fuzzseed.Add(f, []byte("Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: multipart/alternative; boundary=y\r\n\r\n--y\r\nContent-Type: text/plain\r\n\r\nhi\r\n--y--\r\n--x\r\nContent-Disposition: attachment; filename=a.pdf\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--x--\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := parseMessage(raw)
		if err != nil {
			return
		}
		if len(m.Text) > 4*maxShownBody || len(m.HTML) > 4*maxShownBody || len(m.Attachments) > maxMIMEParts {
			t.Fatalf("renderer kept too much: text %d html %d attachments %d", len(m.Text), len(m.HTML), len(m.Attachments))
		}
	})
}
