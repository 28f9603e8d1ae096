package httpd

import (
	"strconv"
	"strings"
	"sync"

	"github.com/exsim/exsim/internal/wbxml"
)

// easOof is a mailbox's automatic-reply setting as devices set it. exsim
// keeps it in memory for Settings Get to return; it sends no automatic
// replies and EWS does not see it.
type easOof struct {
	mu    sync.Mutex
	state map[string]easOofState // by lower-case address
}

type easOofState struct {
	State, Message string
}

// settings answers Settings (MS-ASCMD 2.2.2.16): the user's addresses,
// the device's description and password recovery, and the automatic
// reply (Oof) state.
func (c *easCall) settings() *wbxml.Node {
	if !c.asks("Settings") {
		return wbxml.E("Settings:Settings", wbxml.T("Settings:Status", strconv.Itoa(settingsProtocolError)))
	}
	resp := wbxml.E("Settings:Settings", wbxml.T("Settings:Status", "1"))
	ok := func() *wbxml.Node { return wbxml.T("Settings:Status", strconv.Itoa(settingsSuccess)) }
	for _, req := range c.body.Children {
		switch req.Tag {
		case "DeviceInformation", "DevicePassword":
			// Recorded nowhere: Exchange keeps them for the mobile
			// device report, which exsim does not have.
			resp.Add(wbxml.E("Settings:"+req.Tag, ok()))
		case "UserInformation":
			resp.Add(wbxml.E("Settings:UserInformation", ok(), wbxml.E("Settings:Get", c.userInformation()...)))
		case "Oof":
			resp.Add(c.oof(req))
		default:
			resp.Add(wbxml.E("Settings:"+req.Tag, wbxml.T("Settings:Status", strconv.Itoa(settingsProtocolError))))
		}
	}
	return resp
}

// userInformation is the Get answer: from 14.1 on the Accounts form,
// before it the EmailAddresses list.
func (c *easCall) userInformation() []*wbxml.Node {
	if c.q.Version >= "14.1" {
		return []*wbxml.Node{wbxml.E("Settings:Accounts", wbxml.E("Settings:Account",
			wbxml.T("Settings:UserDisplayName", c.u.DisplayName),
			wbxml.E("Settings:EmailAddresses", wbxml.T("Settings:PrimarySmtpAddress", c.u.Address))))}
	}
	return []*wbxml.Node{wbxml.E("Settings:EmailAddresses", wbxml.T("Settings:SMTPAddress", c.u.Address))}
}

func (c *easCall) oof(req *wbxml.Node) *wbxml.Node {
	store := &c.h.easOof
	addr := strings.ToLower(c.u.Address)
	store.mu.Lock()
	defer store.mu.Unlock()
	if store.state == nil {
		store.state = map[string]easOofState{}
	}
	if set := req.Child("Set"); set != nil {
		st := easOofState{State: set.Value("OofState")}
		if st.State != "0" && st.State != "1" && st.State != "2" {
			return wbxml.E("Settings:Oof", wbxml.T("Settings:Status", strconv.Itoa(settingsProtocolError)))
		}
		for _, m := range set.All("OofMessage") {
			if m.Has("AppliesToInternal") && m.Value("Enabled") == "1" {
				st.Message = m.Value("ReplyMessage")
			}
		}
		store.state[addr] = st
		return wbxml.E("Settings:Oof", wbxml.T("Settings:Status", "1"))
	}
	st := store.state[addr]
	if st.State == "" {
		st.State = "0"
	}
	bodyType := req.Path("Get").Value("BodyType")
	if bodyType == "" {
		bodyType = "Text"
	}
	msg := wbxml.E("Settings:OofMessage", wbxml.E("Settings:AppliesToInternal"), wbxml.T("Settings:Enabled", yesNo(st.Message != "")))
	if st.Message != "" {
		msg.Add(wbxml.T("Settings:ReplyMessage", st.Message), wbxml.T("Settings:BodyType", bodyType))
	}
	return wbxml.E("Settings:Oof", wbxml.T("Settings:Status", "1"),
		wbxml.E("Settings:Get", wbxml.T("Settings:OofState", st.State), msg))
}
