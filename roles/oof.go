package roles

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	gomail "github.com/emersion/go-message/mail"

	"github.com/exsim/exsim/servers/httpd"
	"github.com/exsim/exsim/topology"
)

// Automatic replies (OOF). The settings of each mailbox this server hosts
// live beside its store, with the senders already answered under them;
// Mailbox Transport Delivery calls automaticReply for each message it
// stores, and the reply goes out through this server's transport, as
// Exchange's mailbox rules agent sends it.

// oofStore keeps OOF settings as one JSON file per mailbox under
// <data>/<SERVER>/Mailbox/OOF. Only this store writes them, so it keeps
// what it has read or written (a mailbox without a file too): delivery
// asks for every message it stores, and a file read per message cost an
// open, a read and a JSON parse under the store's lock.
type oofStore struct {
	dir   string
	mu    sync.Mutex
	known map[string]oofRecord // by lower-case address; guarded by mu
}

// oofRecord is one mailbox's file.
type oofRecord struct {
	Settings httpd.OOFSettings
	// Replied are the senders answered since the settings last changed:
	// each gets one reply, as Exchange sends one per sender.
	Replied []string
}

func (o *oofStore) path(address string) string {
	return filepath.Join(o.dir, strings.ToLower(address)+".json")
}

// load reads a mailbox's record; a mailbox never configured has OOF off.
// The caller holds mu and may change the copy it gets.
func (o *oofStore) load(address string) (oofRecord, error) {
	key := strings.ToLower(address)
	if rec, ok := o.known[key]; ok {
		rec.Replied = slices.Clone(rec.Replied)
		return rec, nil
	}
	rec := oofRecord{Settings: httpd.OOFSettings{State: "Disabled", ExternalAudience: "All"}}
	b, err := os.ReadFile(o.path(address))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return rec, err
	}
	if err == nil {
		if err := json.Unmarshal(b, &rec); err != nil {
			return rec, fmt.Errorf("OOF settings of %s: %w", address, err)
		}
	}
	o.remember(key, rec)
	return rec, nil
}

// remember keeps a copy of rec as key's record; the caller holds mu.
func (o *oofStore) remember(key string, rec oofRecord) {
	if o.known == nil {
		o.known = map[string]oofRecord{}
	}
	rec.Replied = slices.Clone(rec.Replied)
	o.known[key] = rec
}

// save writes the record whole (temporary file, then rename).
func (o *oofStore) save(address string, rec oofRecord) error {
	if err := os.MkdirAll(o.dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	tmp := o.path(address) + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, o.path(address)); err != nil {
		return err
	}
	o.remember(strings.ToLower(address), rec)
	return nil
}

var _ httpd.AutomaticReplies = webBackend{}

func (b webBackend) OOF(ctx context.Context, address string) (httpd.OOFSettings, error) {
	if _, err := b.mailbox(address); err != nil {
		return httpd.OOFSettings{}, err
	}
	o := &b.r.oof
	o.mu.Lock()
	defer o.mu.Unlock()
	rec, err := o.load(address)
	return rec.Settings, err
}

func (b webBackend) SetOOF(ctx context.Context, address string, s httpd.OOFSettings) error {
	if _, err := b.mailbox(address); err != nil {
		return err
	}
	o := &b.r.oof
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.save(address, oofRecord{Settings: s})
}

// automaticReply answers a message just stored in mailbox when its OOF
// is on: once per sender, with the internal reply to senders of the
// organization and the external one to others (ExternalAudience All;
// Known would need the mailbox's contacts, which lab mailboxes have none
// of, so it answers nobody outside). Messages that ask for no automatic
// answer, or are automatic themselves, get none (RFC 3834 section 2;
// X-Auto-Response-Suppress, [MS-OXCMAIL] 2.2.3.2.14).
func (r *mailboxRole) automaticReply(ctx context.Context, msg []byte, mailbox string) {
	o := &r.oof
	o.mu.Lock()
	rec, err := o.load(mailbox)
	if err != nil || !rec.Settings.Active(r.s.rt.o.Now()) {
		o.mu.Unlock()
		if err != nil {
			r.s.log.Error("automatic reply: settings", "rcpt", mailbox, "err", err)
		}
		return
	}
	orig, err := mail.ReadMessage(bytes.NewReader(msg))
	if err != nil {
		o.mu.Unlock()
		return
	}
	h := orig.Header
	sender := replyAddress(h)
	text := rec.Settings.InternalReply
	internal := r.t.IsAcceptedDomain(topology.Domain(sender))
	if !internal {
		text = rec.Settings.ExternalReply
	}
	skip := sender == "" || strings.EqualFold(sender, mailbox) || suppressesReplies(h) || strings.TrimSpace(text) == "" ||
		!internal && rec.Settings.ExternalAudience != "All" || slices.Contains(rec.Replied, strings.ToLower(sender))
	if skip {
		o.mu.Unlock()
		return
	}
	rec.Replied = append(rec.Replied, strings.ToLower(sender))
	err = o.save(mailbox, rec)
	o.mu.Unlock()
	if err != nil {
		r.s.log.Error("automatic reply: settings", "rcpt", mailbox, "err", err)
		return
	}
	m := r.t.Mailbox(mailbox)
	user := webBackend{r: r}.user(m)
	reply, err := oofMessage(user, sender, h, text, r.s.rt.o.Now, r.s.Config.FQDN)
	if err == nil {
		err = webBackend{r: r}.Send(ctx, user, []string{sender}, reply, "")
	}
	if err != nil {
		r.s.log.Error("automatic reply", "rcpt", sender, "err", err)
		return
	}
	r.s.log.Info("automatic reply sent", "rcpt", sender, "from", mailbox, "internal", internal)
}

// replyAddress is where an automatic reply goes: the Return-Path the
// message arrived with, else its Sender or From; "" for a null sender.
func replyAddress(h mail.Header) string {
	if rp := strings.TrimSpace(h.Get("Return-Path")); rp != "" {
		rp = strings.Trim(rp, "<>")
		return rp
	}
	for _, k := range []string{"Sender", "From"} {
		if list, err := h.AddressList(k); err == nil && len(list) > 0 {
			return list[0].Address
		}
	}
	return ""
}

func suppressesReplies(h mail.Header) bool {
	if as := strings.ToLower(strings.TrimSpace(h.Get("Auto-Submitted"))); as != "" && as != "no" {
		return true
	}
	switch strings.ToLower(strings.TrimSpace(h.Get("Precedence"))) {
	case "bulk", "junk", "list":
		return true
	}
	for _, v := range strings.Split(h.Get("X-Auto-Response-Suppress"), ",") {
		if v = strings.TrimSpace(v); strings.EqualFold(v, "All") || strings.EqualFold(v, "OOF") {
			return true
		}
	}
	local, _, _ := strings.Cut(strings.ToLower(replyAddress(h)), "@")
	return local == "mailer-daemon" || local == "postmaster" || h.Get("List-Id") != ""
}

// oofMessage is the automatic reply: "Automatic reply: " and the subject,
// threaded to the original, marked as automatic so that the other side's
// OOF does not answer it (Auto-Submitted, RFC 3834; X-Auto-Response-
// Suppress: All, [MS-OXCMAIL]). The text is HTML when it looks like HTML,
// as OWA and Outlook store it.
func oofMessage(from *httpd.User, to string, orig mail.Header, text string, now func() time.Time, fqdn string) ([]byte, error) {
	var h gomail.Header
	h.SetDate(now())
	h.SetAddressList("From", []*gomail.Address{{Name: from.DisplayName, Address: from.Address}})
	h.SetAddressList("To", []*gomail.Address{{Address: to}})
	h.SetSubject("Automatic reply: " + decodedSubject(orig))
	if id := strings.TrimSpace(orig.Get("Message-Id")); id != "" {
		h.Set("In-Reply-To", id)
		h.Set("References", strings.TrimSpace(orig.Get("References")+" "+id))
	}
	if err := h.GenerateMessageIDWithHostname(fqdn); err != nil {
		return nil, err
	}
	h.Set("Auto-Submitted", "auto-replied")
	h.Set("X-Auto-Response-Suppress", "All")
	ctype := "text/plain"
	if strings.Contains(text, "<") && strings.Contains(text, ">") {
		ctype = "text/html"
	}
	h.SetContentType(ctype, map[string]string{"charset": "utf-8"})
	var buf bytes.Buffer
	w, err := gomail.CreateSingleInlineWriter(&buf, h)
	if err != nil {
		return nil, err
	}
	io.WriteString(w, strings.ReplaceAll(strings.ReplaceAll(text, "\r\n", "\n"), "\n", "\r\n"))
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func decodedSubject(h mail.Header) string {
	s := h.Get("Subject")
	if d, err := new(mime.WordDecoder).DecodeHeader(s); err == nil {
		return d
	}
	return s
}
