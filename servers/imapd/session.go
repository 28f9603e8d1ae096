package imapd

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-sasl"

	"github.com/exsim/exsim/internal/membudget"
	"github.com/exsim/exsim/store"
)

// delim is the hierarchy delimiter, as in Exchange.
const delim = '/'

// session is one backend connection. imapserver calls its methods from one
// goroutine at a time (Idle runs in a goroutine of its own while the
// connection goroutine only waits for DONE).
type session struct {
	b     *Backend
	log   *slog.Logger
	mbox  *store.Mailbox
	watch *store.Watch
	sel   *view
}

var (
	_ imapserver.Session          = (*session)(nil)
	_ imapserver.SessionNamespace = (*session)(nil)
	_ imapserver.SessionMove      = (*session)(nil)
	_ imapserver.SessionSASL      = (*session)(nil)
)

func (s *session) ctx() context.Context { return context.Background() }

func (s *session) Close() error {
	if s.watch != nil {
		s.watch.Close()
	}
	s.b.lc.End()
	return nil
}

var errLoginFailed = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeAuthenticationFailed, Text: "LOGIN failed."}

func (s *session) Login(username, password string) error {
	ctx, cancel := context.WithTimeout(s.ctx(), s.b.opts.AuthTimeout)
	defer cancel()
	account, err := s.b.opts.Auth.Authenticate(ctx, username, password)
	if err != nil {
		if !errors.Is(err, ErrAuthFailed) {
			s.log.Warn("imapd: authenticator failed", "err", err)
		}
		return errLoginFailed
	}
	mbox, err := s.b.opts.Store.Mailbox(account)
	if err != nil {
		s.log.Warn("imapd: no mailbox for account", "rcpt", account, "err", err)
		return errLoginFailed
	}
	s.mbox = mbox
	s.watch = mbox.Watch()
	s.log = s.log.With("rcpt", account)
	return nil
}

// AuthenticateMechanisms lists Exchange's mechanisms; only PLAIN works.
func (s *session) AuthenticateMechanisms() []string {
	if s.b.opts.Flavor == FlavorExchange {
		return []string{sasl.Plain, "NTLM", "GSSAPI"}
	}
	return []string{sasl.Plain}
}

func (s *session) Authenticate(mech string) (sasl.Server, error) {
	if !strings.EqualFold(mech, sasl.Plain) {
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Text: "AUTHENTICATE failed."}
	}
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if identity != "" && identity != username {
			return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeAuthorizationFailed, Text: "AUTHENTICATE failed."}
		}
		return s.Login(username, password)
	}), nil
}

func (s *session) Create(name string, _ *imap.CreateOptions) error {
	_, err := s.mbox.CreateFolder(s.ctx(), name)
	return storeError(err)
}

func (s *session) Delete(name string) error {
	return storeError(s.mbox.DeleteFolder(s.ctx(), name))
}

func (s *session) Rename(oldName, newName string, _ *imap.RenameOptions) error {
	return storeError(s.mbox.RenameFolder(s.ctx(), oldName, newName))
}

func (s *session) Subscribe(name string) error {
	return storeError(s.mbox.SetSubscribed(s.ctx(), name, true))
}

func (s *session) Unsubscribe(name string) error {
	return storeError(s.mbox.SetSubscribed(s.ctx(), name, false))
}

func (s *session) Namespace() (*imap.NamespaceData, error) {
	return &imap.NamespaceData{Personal: []imap.NamespaceDescriptor{{Prefix: "", Delim: delim}}}, nil
}

// List answers LIST and LSUB with \HasChildren/\HasNoChildren (RFC 3348) and
// the special-use attributes (RFC 6154) that Exchange shows.
func (s *session) List(w *imapserver.ListWriter, ref string, patterns []string, options *imap.ListOptions) error {
	if len(patterns) == 0 {
		// LIST "" "": the hierarchy delimiter (RFC 9051 section 6.3.9).
		return w.WriteList(&imap.ListData{Attrs: []imap.MailboxAttr{imap.MailboxAttrNoSelect}, Delim: delim})
	}
	folders, err := s.mbox.Folders()
	if err != nil {
		return storeError(err)
	}
	names := make(map[string]bool, len(folders))
	for _, f := range folders {
		names[strings.ToLower(f.Name)] = true
	}
	hasChildren := func(name string) bool {
		prefix := strings.ToLower(name) + string(delim)
		for n := range names {
			if strings.HasPrefix(n, prefix) {
				return true
			}
		}
		return false
	}
	for _, f := range folders {
		if !slices.ContainsFunc(patterns, func(p string) bool { return matchList(f.Name, ref, p) }) {
			continue
		}
		if options.SelectSubscribed && !f.Subscribed {
			continue
		}
		if options.SelectSpecialUse && f.SpecialUse == "" {
			continue
		}
		data := imap.ListData{Mailbox: f.Name, Delim: delim}
		if hasChildren(f.Name) {
			data.Attrs = append(data.Attrs, imap.MailboxAttrHasChildren)
		} else {
			data.Attrs = append(data.Attrs, imap.MailboxAttrHasNoChildren)
		}
		if f.SpecialUse != "" {
			data.Attrs = append(data.Attrs, imap.MailboxAttr(f.SpecialUse))
		}
		if f.Subscribed && (options.ReturnSubscribed || options.SelectSubscribed) {
			data.Attrs = append(data.Attrs, imap.MailboxAttrSubscribed)
		}
		if options.ReturnStatus != nil {
			data.Status = statusData(f, options.ReturnStatus)
		}
		if err := w.WriteList(&data); err != nil {
			return err
		}
	}
	return nil
}

// matchList is imapserver.MatchList with INBOX matched case-insensitively
// (RFC 9051 section 5.1).
func matchList(name, ref, pattern string) bool {
	if imapserver.MatchList(name, delim, ref, pattern) {
		return true
	}
	full := ref + pattern
	if len(full) >= len(store.Inbox) && strings.EqualFold(full[:len(store.Inbox)], store.Inbox) {
		return imapserver.MatchList(name, delim, "", store.Inbox+full[len(store.Inbox):])
	}
	return false
}

func statusData(f store.FolderInfo, options *imap.StatusOptions) *imap.StatusData {
	data := &imap.StatusData{Mailbox: f.Name}
	if options.NumMessages {
		data.NumMessages = &f.Messages
	}
	if options.UIDNext {
		data.UIDNext = imap.UID(f.UIDNext)
	}
	if options.UIDValidity {
		data.UIDValidity = f.UIDValidity
	}
	if options.NumUnseen {
		data.NumUnseen = &f.Unseen
	}
	if options.NumDeleted {
		data.NumDeleted = &f.Deleted
	}
	if options.Size {
		size := int64(f.Size)
		data.Size = &size
	}
	if options.NumRecent {
		var zero uint32 // \Recent is not kept (IMAP4rev2 dropped it)
		data.NumRecent = &zero
	}
	return data
}

func (s *session) Status(name string, options *imap.StatusOptions) (*imap.StatusData, error) {
	_, info, err := s.folderStatus(name)
	if err != nil {
		return nil, err
	}
	return statusData(info, options), nil
}

// folderStatus opens the folder name of the mailbox and reads its status,
// for SELECT and STATUS; errors are already IMAP replies.
func (s *session) folderStatus(name string) (*store.Folder, store.FolderInfo, error) {
	f, err := s.mbox.Folder(name)
	if err != nil {
		return nil, store.FolderInfo{}, storeError(err)
	}
	info, err := f.Status()
	if err != nil {
		return nil, store.FolderInfo{}, storeError(err)
	}
	return f, info, nil
}

func (s *session) Append(name string, r imap.LiteralReader, options *imap.AppendOptions) (*imap.AppendData, error) {
	f, err := s.mbox.Folder(name)
	if err != nil {
		return nil, tryCreate(err)
	}
	limit := int64(s.b.opts.Store.MaxMessageSize())
	if r.Size() > limit {
		return nil, storeError(store.ErrTooLarge)
	}
	// The literal's announced size is drawn from the process-wide
	// in-flight budget before it is read (twice: the body and the store's
	// copy while it commits); NO [LIMIT] when the budget is spent (RFC 5530;
	// Exchange's wording for it has no public source).
	draw := 2 * r.Size()
	if !membudget.Memory.TryAcquire(draw) {
		return nil, errInsufficientResources
	}
	defer membudget.Memory.Release(draw)
	body, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	flags := s.keepFlags(options.Flags)
	a, err := f.Append(s.ctx(), body, flags, options.Time)
	if err != nil {
		return nil, storeError(err)
	}
	return &imap.AppendData{UID: imap.UID(a.UID), UIDValidity: a.UIDValidity}, nil
}
