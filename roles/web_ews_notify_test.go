package roles

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/exsim/exsim/internal/labtest"
	"github.com/exsim/exsim/store"
	"github.com/exsim/exsim/topology"
)

// TestEWSNotificationsFromEveryProtocol: a pull subscription on alice's
// Inbox sees what every writer of the store does: a delivery by
// transport, and the store calls IMAP's STORE, COPY, MOVE and EXPUNGE
// make; an EWS UpdateItem of the subject (which stores a new copy) is one
// ModifiedEvent of the same ItemId, not a deletion.
func TestEWSNotificationsFromEveryProtocol(t *testing.T) {
	rt := startLab(t, "contoso-noedge", func(top *topology.Topology) {
		on := true
		top.Server("EX01").Mailbox.BasicAuth = &on
	})
	c := webClient(t, rt)
	url := "https://ex01.contoso.com:" + strconv.Itoa(443+labtest.PortOffset) + "/EWS/Exchange.asmx"
	post := func(op string) string {
		t.Helper()
		_, got, err := postSOAP(c, url, "alice@contoso.com", soapEnvelope(op))
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	value := func(s, elem string) string {
		m := regexp.MustCompile(`<m:` + elem + `>([^<]*)</m:` + elem + `>`).FindStringSubmatch(s)
		if m == nil {
			t.Fatalf("no %s in %s", elem, s)
		}
		return m[1]
	}
	sub := post(`<m:Subscribe><m:PullSubscriptionRequest><t:FolderIds><t:DistinguishedFolderId Id="inbox"/></t:FolderIds><t:EventTypes>` +
		`<t:EventType>NewMailEvent</t:EventType><t:EventType>CreatedEvent</t:EventType><t:EventType>ModifiedEvent</t:EventType>` +
		`<t:EventType>MovedEvent</t:EventType><t:EventType>CopiedEvent</t:EventType><t:EventType>DeletedEvent</t:EventType>` +
		`</t:EventTypes><t:Timeout>10</t:Timeout></m:PullSubscriptionRequest></m:Subscribe>`)
	id, watermark := value(sub, "SubscriptionId"), value(sub, "Watermark")
	events := func() []string {
		t.Helper()
		got := post(`<m:GetEvents><m:SubscriptionId>` + id + `</m:SubscriptionId><m:Watermark>` + watermark + `</m:Watermark></m:GetEvents>`)
		var kinds []string
		for _, m := range regexp.MustCompile(`<t:(\w+Event)>`).FindAllStringSubmatch(got, -1) {
			kinds = append(kinds, m[1])
		}
		all := regexp.MustCompile(`<t:Watermark>([^<]*)</t:Watermark>`).FindAllStringSubmatch(got, -1)
		if len(all) == 0 {
			t.Fatalf("GetEvents: %s", got)
		}
		watermark = all[len(all)-1][1]
		return kinds
	}
	deliver := func(subject string) uint32 {
		t.Helper()
		if res := sendFrom(t, rt, "INET01", "carol@fabrikam.com", subject, "alice@contoso.com"); res.Err != nil {
			t.Fatal(res.Err)
		}
		waitMail(t, rt, "EX01", "alice@contoso.com", subject)
		msgs, _ := inbox(t, rt).Messages()
		for _, m := range msgs {
			if m.Subject == subject {
				return m.UID
			}
		}
		t.Fatalf("%q is not in the Inbox", subject)
		return 0
	}
	ctx := context.Background()

	uid := deliver("notify one")
	in := inbox(t, rt)
	in.StoreFlags(ctx, []uint32{uid}, store.FlagsAdd, []string{store.FlagSeen}) // IMAP STORE +FLAGS (\Seen)
	in.Copy(ctx, []uint32{uid}, "Junk Email")                                   // IMAP COPY
	in.Move(ctx, []uint32{uid}, "Deleted Items")                                // IMAP MOVE
	if got, want := events(), []string{"CreatedEvent", "NewMailEvent", "ModifiedEvent", "CopiedEvent", "MovedEvent"}; !slices.Equal(got, want) {
		t.Errorf("events after delivery, STORE, COPY, MOVE = %q, want %q", got, want)
	}

	uid = deliver("notify two")
	itemID := base64.StdEncoding.EncodeToString([]byte("INBOX\x00" + strconv.FormatUint(uint64(uid), 10)))
	upd := post(`<m:UpdateItem ConflictResolution="AutoResolve" MessageDisposition="SaveOnly"><m:ItemChanges><t:ItemChange><t:ItemId Id="` + itemID +
		`"/><t:Updates><t:SetItemField><t:FieldURI FieldURI="item:Subject"/><t:Message><t:Subject>renamed</t:Subject></t:Message></t:SetItemField>` +
		`</t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>`)
	if !strings.Contains(upd, `ResponseClass="Success"`) {
		t.Fatalf("UpdateItem: %s", upd)
	}
	msgs, _ := in.Messages()
	var uids []uint32
	for _, m := range msgs {
		uids = append(uids, m.UID)
	}
	in.Remove(ctx, uids) // IMAP STORE \Deleted and EXPUNGE
	got := events()
	if want := []string{"CreatedEvent", "NewMailEvent", "ModifiedEvent", "DeletedEvent"}; !slices.Equal(got, want) {
		t.Errorf("events after delivery, EWS subject change, EXPUNGE = %q, want %q", got, want)
	}
}

// soapEnvelope wraps an EWS operation for Exchange2016.
func soapEnvelope(op string) string {
	return `<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" ` +
		`xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">` +
		`<soap:Header><t:RequestServerVersion Version="Exchange2016"/></soap:Header><soap:Body>` + op + `</soap:Body></soap:Envelope>`
}

// postSOAP posts an EWS request with Basic authentication as user.
func postSOAP(c *http.Client, url, user, body string) (int, string, error) {
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	req.SetBasicAuth(user, "P@ssw0rd")
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(got), err
}

func inbox(t *testing.T, rt *Runtime) *store.Folder {
	t.Helper()
	mb, err := rt.Server("EX01").store.Mailbox("alice@contoso.com")
	if err != nil {
		t.Fatal(err)
	}
	f, err := mb.Folder("INBOX")
	if err != nil {
		t.Fatal(err)
	}
	return f
}
