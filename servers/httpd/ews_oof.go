package httpd

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"
)

// GetUserOofSettings and SetUserOofSettings: a mailbox's automatic
// replies (EWS reference: GetUserOofSettings operation, OofSettings,
// UserOofSettings). The Mailbox server's transport sends the replies
// (AutomaticReplies).

// OOFSettings are a mailbox's automatic-reply settings.
type OOFSettings struct {
	State            string // Disabled, Enabled or Scheduled
	ExternalAudience string // None, Known or All
	Start, End       time.Time
	InternalReply    string // sent to senders of the organization
	ExternalReply    string // sent to senders outside it
}

// Active reports whether automatic replies go out at now.
func (o OOFSettings) Active(now time.Time) bool {
	switch o.State {
	case "Enabled":
		return true
	case "Scheduled":
		return !now.Before(o.Start) && now.Before(o.End)
	}
	return false
}

// AutomaticReplies is an optional Backend capability: the OOF settings
// of the mailboxes a server hosts.
type AutomaticReplies interface {
	OOF(ctx context.Context, address string) (OOFSettings, error)
	// SetOOF stores new settings; senders already answered are forgotten,
	// so each gets one reply under the new settings.
	SetOOF(ctx context.Context, address string, s OOFSettings) error
}

// oofMailbox checks the request's Mailbox: the caller's own (another
// user's settings need full access, which lab accounts do not hold).
func (c *ewsCall) oofMailbox() (AutomaticReplies, *responseMessage) {
	ar, ok := c.h.b.(AutomaticReplies)
	if !ok {
		return nil, &ewsInternal
	}
	addr := strings.TrimSpace(c.op.child("Mailbox").text("Address"))
	if addr == "" {
		return nil, &ewsInvalidOOF
	}
	if !strings.EqualFold(addr, c.u.Address) {
		if _, err := c.h.b.FindUser(c.r.Context(), addr); err != nil {
			rm := ewsRecipientNotFound(addr)
			return nil, &rm
		}
		return nil, &ewsAccessDenied
	}
	return ar, nil
}

func (c *ewsCall) getUserOofSettings() *el {
	const op = "GetUserOofSettings"
	reply := func(rm responseMessage, body ...*el) *el {
		return E("m:"+op+"Response", append([]*el{respMsg("", rm)}, body...)...).A("xmlns:m", nsMessages).A("xmlns:t", nsTypes)
	}
	ar, fail := c.oofMailbox()
	if fail != nil {
		return reply(*fail)
	}
	s, err := ar.OOF(c.r.Context(), c.u.Address)
	if err != nil {
		c.log.Error("ews: read OOF settings", "err", err)
		return reply(ewsInternal)
	}
	start, end := s.Start, s.End
	if s.State != "Scheduled" || start.IsZero() {
		// Outside a schedule Exchange answers a one-day window from the
		// current hour.
		start = c.h.cfg.Now().UTC().Truncate(time.Hour)
		end = start.Add(24 * time.Hour)
	}
	settings := E("t:OofSettings", T("t:OofState", s.State), T("t:ExternalAudience", s.ExternalAudience),
		E("t:Duration", T("t:StartTime", ewsTime(start)), T("t:EndTime", ewsTime(end))),
		E("t:InternalReply", T("t:Message", s.InternalReply)), E("t:ExternalReply", T("t:Message", s.ExternalReply)))
	return reply(okMessage(), settings, T("m:AllowExternalOof", "All"))
}

func (c *ewsCall) setUserOofSettings() *el {
	const op = "SetUserOofSettings"
	reply := func(rm responseMessage) *el {
		return E("m:"+op+"Response", respMsg("", rm)).A("xmlns:m", nsMessages).A("xmlns:t", nsTypes)
	}
	ar, fail := c.oofMailbox()
	if fail != nil {
		return reply(*fail)
	}
	n := c.op.child("UserOofSettings")
	s := OOFSettings{
		State: n.text("OofState"), ExternalAudience: n.text("ExternalAudience"),
		InternalReply: n.path("InternalReply").text("Message"), ExternalReply: n.path("ExternalReply").text("Message"),
	}
	if s.ExternalAudience == "" {
		s.ExternalAudience = "All"
	}
	if n == nil || !slices.Contains([]string{"Disabled", "Enabled", "Scheduled"}, s.State) ||
		!slices.Contains([]string{"None", "Known", "All"}, s.ExternalAudience) {
		return reply(ewsInvalidOOF)
	}
	if d := n.child("Duration"); d != nil {
		var err1, err2 error
		s.Start, err1 = ewsDateTime(d.text("StartTime"))
		s.End, err2 = ewsDateTime(d.text("EndTime"))
		if err := errors.Join(err1, err2); err != nil {
			return reply(ewsInvalidOOF)
		}
	}
	if s.State == "Scheduled" && (s.Start.IsZero() || !s.End.After(s.Start) || !s.End.After(c.h.cfg.Now())) {
		return reply(errMessage("ErrorInvalidScheduledOofDuration", "The scheduled OOF duration is invalid."))
	}
	if err := ar.SetOOF(c.r.Context(), c.u.Address, s); err != nil {
		c.log.Error("ews: store OOF settings", "err", err)
		return reply(ewsInternal)
	}
	c.log.Info("ews: OOF settings changed", "state", s.State)
	return reply(okMessage())
}
