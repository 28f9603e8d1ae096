package httpd

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/emersion/go-message/mail"
)

const (
	maxComposeBytes = 4 << 20 // a posted new message
	maxRecipients   = 500     // Exchange's default MaxRecipientsPerMessage for OWA
)

// serveSend takes the new-message form, checks the canary, builds the
// message and submits it through the backend (the Mailbox server's
// transport; the backend saves the copy in Sent Items).
func (h *Handler) serveSend(w http.ResponseWriter, r *http.Request, ss *session, log *slog.Logger) {
	r.Body = http.MaxBytesReader(w, r.Body, maxComposeBytes)
	if err := r.ParseForm(); err != nil {
		h.cfg.writeIISError(w, r, errTooLarge)
		return
	}
	if !ss.validCanary(r, r.PostForm.Get("hidcanary")) {
		log.Warn("owa: send refused: canary mismatch", "code", http.StatusForbidden)
		h.cfg.writeIISError(w, r, errForbidden)
		return
	}
	form := composeForm{
		To:      r.PostForm.Get("to"),
		Cc:      r.PostForm.Get("cc"),
		Subject: r.PostForm.Get("subject"),
		Body:    r.PostForm.Get("body"),
	}
	fail := func(msg string) {
		form.Error = msg
		page := h.newMailboxPage(ss)
		page.Compose = &form
		if err := h.fillFolder(r, ss, &page, "inbox", "", 1); err != nil {
			log.Error("owa: list folder", "err", err)
			h.cfg.writeIISError(w, r, errInternal)
			return
		}
		h.render(w, r, "mailbox.html", page, log)
	}
	to, err := parseRecipients(form.To)
	if err != nil {
		fail(err.Error())
		return
	}
	cc, err := parseRecipients(form.Cc)
	if err != nil {
		fail(err.Error())
		return
	}
	rcpts := make([]string, 0, len(to)+len(cc))
	for _, a := range append(to, cc...) {
		rcpts = append(rcpts, a.Address)
	}
	switch {
	case len(rcpts) == 0:
		fail("This message must have at least one recipient.")
		return
	case len(rcpts) > maxRecipients:
		fail(fmt.Sprintf("This message has too many recipients. You can send to at most %d recipients at a time.", maxRecipients))
		return
	}
	msg, msgID, err := h.cfg.compose(&ss.user, draft{To: to, Cc: cc, Subject: form.Subject, Body: form.Body})
	if err != nil {
		log.Error("owa: compose", "err", err)
		fail("Something went wrong and your message couldn't be sent.")
		return
	}
	if err := h.b.Submit(r.Context(), &ss.user, rcpts, msg); err != nil {
		log.Error("owa: submit", "msg_id", msgID, "err", err)
		fail("Your message couldn't be sent: " + err.Error())
		return
	}
	log.Info("owa: message submitted", "msg_id", msgID, "rcpt", strings.Join(rcpts, ";"))
	redirect(w, "https://"+h.cfg.hostFor(r)+"/owa/?ae=Folder&t=IPF.Note&id=inbox&sent=1", http.StatusFound)
}

// parseRecipients reads what the user typed in To or Cc: addresses with or
// without display names, separated by semicolons or commas, as Outlook
// accepts them.
func parseRecipients(s string) ([]*mail.Address, error) {
	var out []*mail.Address
	for _, chunk := range strings.Split(s, ";") {
		chunk = strings.Trim(strings.TrimSpace(chunk), ",")
		if strings.TrimSpace(chunk) == "" {
			continue
		}
		list, err := mail.ParseAddressList(chunk)
		if err != nil {
			return nil, owaError(fmt.Sprintf("The address %q isn't valid. Check it and try again.", strings.TrimSpace(chunk)))
		}
		out = append(out, list...)
		if len(out) > maxRecipients {
			return nil, owaError(fmt.Sprintf("This message has too many recipients. You can send to at most %d recipients at a time.", maxRecipients))
		}
	}
	return out, nil
}

// owaError is a message OWA shows the user, in OWA's words.
type owaError string

func (e owaError) Error() string { return string(e) }
