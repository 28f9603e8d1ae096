package roles

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/exsim/exsim/servers/httpd"
	"github.com/exsim/exsim/store"
	"github.com/exsim/exsim/topology"
)

// webBackend is also EWS's MailStore: the mailbox's folder tree and
// item changes go straight to the store that IMAP and POP3 read.
var _ httpd.MailStore = webBackend{}

// webBackend is also ActiveSync's store: Ping watches the same change
// feed as EWS notifications (WatchMail).
var _ httpd.ActiveSyncStore = webBackend{}

func (b webBackend) mailbox(address string) (*store.Mailbox, error) {
	mb, err := b.r.store.Mailbox(address)
	if err != nil {
		return nil, fmt.Errorf("%w: mailbox %s is not on %s", httpd.ErrNotFound, address, b.r.s.Config.Name)
	}
	return mb, nil
}

// storeErr maps the store's errors to httpd's.
func storeErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrFolderExists):
		return fmt.Errorf("%w: %v", httpd.ErrFolderExists, err)
	case errors.Is(err, store.ErrNoFolder), errors.Is(err, store.ErrNoMessage):
		return fmt.Errorf("%w: %v", httpd.ErrNotFound, err)
	}
	return err
}

func (b webBackend) Folders(ctx context.Context, address string) ([]httpd.FolderInfo, error) {
	mb, err := b.mailbox(address)
	if err != nil {
		return nil, err
	}
	infos, err := mb.Folders()
	if err != nil {
		return nil, err
	}
	out := make([]httpd.FolderInfo, 0, len(infos))
	for _, fi := range infos {
		out = append(out, httpd.FolderInfo{ID: strconv.FormatUint(fi.ID, 10), Name: fi.Name, Total: int(fi.Messages), Unread: int(fi.Unseen)})
	}
	return out, nil
}

func (b webBackend) CreateFolder(ctx context.Context, address, name string) error {
	mb, err := b.mailbox(address)
	if err != nil {
		return err
	}
	_, err = mb.CreateFolder(ctx, name)
	return storeErr(err)
}

func (b webBackend) DeleteFolder(ctx context.Context, address, name string) error {
	mb, err := b.mailbox(address)
	if err != nil {
		return err
	}
	return storeErr(mb.DeleteFolder(ctx, name))
}

func (b webBackend) RenameFolder(ctx context.Context, address, oldName, newName string) error {
	mb, err := b.mailbox(address)
	if err != nil {
		return err
	}
	return storeErr(mb.RenameFolder(ctx, oldName, newName))
}

func (b webBackend) Append(ctx context.Context, address, folder string, msg []byte, flags []string) (string, error) {
	f, err := b.folder(address, folder)
	if err != nil {
		return "", err
	}
	a, err := f.Append(ctx, msg, flags, b.r.s.rt.o.Now())
	if err != nil {
		return "", storeErr(err)
	}
	return strconv.FormatUint(uint64(a.UID), 10), nil
}

func (b webBackend) SetFlags(ctx context.Context, address, folder, id string, add, remove []string) error {
	f, uid, err := b.item(address, folder, id)
	if err != nil {
		return err
	}
	for _, op := range []struct {
		op    store.FlagOp
		flags []string
	}{{store.FlagsAdd, add}, {store.FlagsRemove, remove}} {
		if len(op.flags) == 0 {
			continue
		}
		if _, err := f.StoreFlags(ctx, []uint32{uid}, op.op, op.flags); err != nil {
			return storeErr(err)
		}
	}
	return nil
}

func (b webBackend) Remove(ctx context.Context, address, folder string, ids []string) error {
	f, err := b.folder(address, folder)
	if err != nil {
		return err
	}
	uids := make([]uint32, 0, len(ids))
	for _, id := range ids {
		uid, err := b.uid(id)
		if err != nil {
			return err
		}
		uids = append(uids, uid)
	}
	_, err = f.Remove(ctx, uids)
	return storeErr(err)
}

func (b webBackend) Transfer(ctx context.Context, address, folder, id, dest string, move bool) (string, error) {
	f, uid, err := b.item(address, folder, id)
	if err != nil {
		return "", err
	}
	var c store.Copied
	if move {
		c, err = f.Move(ctx, []uint32{uid}, dest)
	} else {
		c, err = f.Copy(ctx, []uint32{uid}, dest)
	}
	if err != nil {
		return "", storeErr(err)
	}
	if len(c.DestUIDs) != 1 {
		return "", fmt.Errorf("%w: item %s", httpd.ErrNotFound, id)
	}
	return strconv.FormatUint(uint64(c.DestUIDs[0]), 10), nil
}

// Users are the organization's mailboxes (not the Internet server's).
func (b webBackend) Users(ctx context.Context) ([]*httpd.User, error) {
	var out []*httpd.User
	for i := range b.r.t.Mailboxes {
		m := &b.r.t.Mailboxes[i]
		if b.r.t.IsAcceptedDomain(topology.Domain(m.Address)) {
			out = append(out, b.user(m))
		}
	}
	return out, nil
}
