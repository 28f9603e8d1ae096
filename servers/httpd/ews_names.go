package httpd

import (
	"slices"
	"strconv"
	"strings"
)

// ResolveNames, ExpandDL and ConvertId.

var (
	ewsNoResults       = errMessage("ErrorNameResolutionNoResults", "No results were found.")
	ewsMultipleResults = responseMessage{Class: "Warning", MessageText: "Multiple results were found.", ResponseCode: "ErrorNameResolutionMultipleResults", LinkKey: new(int)}
)

// resolveNames matches each UnresolvedEntry against the directory's
// mailboxes: the whole SMTP address (with or without "SMTP:"), or the
// start of the alias, the display name or a word of it, case-insensitive,
// as ambiguous name resolution does.
func (c *ewsCall) resolveNames() *el {
	const op = "ResolveNames"
	entry := strings.TrimSpace(c.op.text("UnresolvedEntry"))
	users, err := c.ms.Users(c.r.Context())
	if err != nil {
		c.log.Error("ews: directory", "err", err)
		return opResponse(op, []*el{respMsg(op, ewsInternal)})
	}
	q := strings.ToLower(strings.TrimPrefix(strings.TrimPrefix(entry, "SMTP:"), "smtp:"))
	var found []*User
	for _, u := range users {
		addr := strings.ToLower(u.Address)
		alias, _, _ := strings.Cut(addr, "@")
		name := strings.ToLower(u.DisplayName)
		words := strings.Fields(name)
		if q != "" && (addr == q || strings.HasPrefix(alias, q) || strings.HasPrefix(name, q) ||
			slices.ContainsFunc(words, func(w string) bool { return strings.HasPrefix(w, q) })) {
			found = append(found, u)
		}
	}
	slices.SortFunc(found, func(a, b *User) int { return strings.Compare(a.DisplayName, b.DisplayName) })
	rm := okMessage()
	switch {
	case len(found) == 0:
		return opResponse(op, []*el{respMsg(op, ewsNoResults)})
	case len(found) > 1:
		rm = ewsMultipleResults
	}
	full := xsBool(c.op.attr("ReturnFullContactData"))
	set := E("m:ResolutionSet").A("TotalItemsInView", strconv.Itoa(len(found))).A("IncludesLastItemInRange", "true")
	for _, u := range found {
		r := E("t:Resolution", E("t:Mailbox", T("t:Name", u.DisplayName), T("t:EmailAddress", u.Address),
			T("t:RoutingType", "SMTP"), T("t:MailboxType", "Mailbox")))
		if full {
			r.add(E("t:Contact", T("t:DisplayName", u.DisplayName),
				E("t:EmailAddresses", T("t:Entry", "SMTP:"+u.Address).A("Key", "EmailAddress1")),
				T("t:ContactSource", "ActiveDirectory")))
		}
		set.add(r)
	}
	return opResponse(op, []*el{respMsg(op, rm, set)})
}

// convertID converts between the id formats exsim's ids have: an EwsId
// and an EwsLegacyId are the same string here. Anything that is not one
// of exsim's ids is ErrorInvalidIdMalformed, as Exchange answers it.
func (c *ewsCall) convertID() *el {
	const op = "ConvertId"
	dest := c.op.attr("DestinationFormat")
	var msgs []*el
	for _, a := range c.op.child("SourceIds").Kids {
		id := a.attr("Id")
		_, _, isItem := decodeEWSItemID(id)
		_, isFolder := decodeFolderID(id)
		src := a.attr("Format")
		ok := (isItem || isFolder) && (src == "EwsId" || src == "EwsLegacyId") && (dest == "EwsId" || dest == "EwsLegacyId")
		if !ok {
			msgs = append(msgs, respMsg(op, ewsIDMalformed))
			continue
		}
		alt := E("m:AlternateId").A("xmlns:xsi", nsXSI).A("xsi:type", "t:AlternateIdType").A("Format", dest).A("Id", id).A("Mailbox", a.attr("Mailbox"))
		msgs = append(msgs, respMsg(op, okMessage(), alt))
	}
	return opResponse(op, msgs)
}

// expandDL lists a distribution group's members. The lab topology has
// mailboxes and no distribution groups, so every address answers
// ErrorNameResolutionNoResults, as Exchange answers an address that is
// no group it knows.
func (c *ewsCall) expandDL() *el {
	const op = "ExpandDL"
	mb := c.op.child("Mailbox")
	if strings.TrimSpace(mb.text("EmailAddress")) == "" && mb.child("ItemId") == nil {
		return opResponse(op, []*el{respMsg(op, errMessage("ErrorInvalidArgument", "The Mailbox element must name a distribution group."))})
	}
	return opResponse(op, []*el{respMsg(op, ewsNoResults)})
}
