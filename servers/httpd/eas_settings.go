package httpd

import (
	"slices"
	"strconv"
	"time"

	"github.com/exsim/exsim/internal/wbxml"
)

// settings answers Settings (MS-ASCMD 2.2.2.16): the user's addresses,
// the device's description and password recovery, and the automatic
// reply (Oof) settings.
func (c *easCall) settings() *wbxml.Node {
	resp := wbxml.E("Settings:Settings")
	if !c.asks("Settings") {
		return resp.Add(wbxml.T("Settings:Status", strconv.Itoa(settingsProtocolError)))
	}
	resp.Add(wbxml.T("Settings:Status", "1"))
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

// easOofStates are Settings' OofState values (MS-ASCMD 2.2.3.119) and
// the OOF states of the mailbox (OOFSettings.State).
var easOofStates = []string{"Disabled", "Enabled", "Scheduled"}

// oof reads or changes the mailbox's automatic replies, the same
// settings EWS and the transport's automatic replies use.
func (c *easCall) oof(req *wbxml.Node) *wbxml.Node {
	status := func(st int) *wbxml.Node { return wbxml.E("Settings:Oof", wbxml.T("Settings:Status", strconv.Itoa(st))) }
	ar, ok := c.h.b.(AutomaticReplies)
	if !ok {
		return status(settingsUnavailable)
	}
	ctx := c.r.Context()
	if set := req.Child("Set"); set != nil {
		n, err := strconv.Atoi(set.Value("OofState"))
		if err != nil || n < 0 || n >= len(easOofStates) {
			return status(settingsInvalidArgs)
		}
		o := OOFSettings{State: easOofStates[n], ExternalAudience: "None"}
		if o.State == "Scheduled" {
			var err1, err2 error
			o.Start, err1 = time.Parse(easDateLayout, set.Value("StartTime"))
			o.End, err2 = time.Parse(easDateLayout, set.Value("EndTime"))
			if err1 != nil || err2 != nil || !o.End.After(o.Start) {
				return status(settingsInvalidArgs)
			}
		}
		for _, m := range set.All("OofMessage") {
			enabled := m.Value("Enabled") == "1"
			switch {
			case m.Has("AppliesToInternal"):
				if enabled {
					o.InternalReply = m.Value("ReplyMessage")
				}
			case m.Has("AppliesToExternalUnknown") && enabled:
				o.ExternalReply, o.ExternalAudience = m.Value("ReplyMessage"), "All"
			case m.Has("AppliesToExternalKnown") && enabled && o.ExternalAudience == "None":
				o.ExternalReply, o.ExternalAudience = m.Value("ReplyMessage"), "Known"
			}
		}
		if err := ar.SetOOF(ctx, c.u.Address, o); err != nil {
			c.log.Error("activesync: store OOF settings", "err", err)
			return status(settingsUnavailable)
		}
		return status(settingsSuccess)
	}
	o, err := ar.OOF(ctx, c.u.Address)
	if err != nil {
		c.log.Error("activesync: read OOF settings", "err", err)
		return status(settingsUnavailable)
	}
	bodyType := req.Path("Get").Value("BodyType")
	if bodyType == "" {
		bodyType = "Text"
	}
	get := wbxml.E("Settings:Get", wbxml.T("Settings:OofState", strconv.Itoa(max(0, slices.Index(easOofStates, o.State)))))
	if o.State == "Scheduled" {
		get.Add(wbxml.T("Settings:StartTime", easDate(o.Start)), wbxml.T("Settings:EndTime", easDate(o.End)))
	}
	msg := func(audience, reply string, on bool) *wbxml.Node {
		m := wbxml.E("Settings:OofMessage", wbxml.E("Settings:"+audience), wbxml.T("Settings:Enabled", yesNo(on)))
		if on {
			m.Add(wbxml.T("Settings:ReplyMessage", reply), wbxml.T("Settings:BodyType", bodyType))
		}
		return m
	}
	get.Add(msg("AppliesToInternal", o.InternalReply, o.InternalReply != ""),
		msg("AppliesToExternalKnown", o.ExternalReply, o.ExternalAudience != "None" && o.ExternalReply != ""),
		msg("AppliesToExternalUnknown", o.ExternalReply, o.ExternalAudience == "All" && o.ExternalReply != ""))
	return wbxml.E("Settings:Oof", wbxml.T("Settings:Status", "1"), get)
}
