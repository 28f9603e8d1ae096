package imapd

import (
	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/exsim/exsim/store"
)

func copyData(c store.Copied) *imap.CopyData {
	if len(c.SourceUIDs) == 0 {
		return nil // nothing copied: no COPYUID (RFC 4315 section 3)
	}
	data := &imap.CopyData{UIDValidity: c.UIDValidity}
	for i := range c.SourceUIDs {
		data.SourceUIDs.AddNum(imap.UID(c.SourceUIDs[i]))
		data.DestUIDs.AddNum(imap.UID(c.DestUIDs[i]))
	}
	return data
}

func (s *session) Copy(numSet imap.NumSet, dest string) (*imap.CopyData, error) {
	v, targets, err := s.targets(numSet, false)
	if err != nil || len(targets) == 0 {
		return nil, err
	}
	c, err := v.folder.Copy(s.ctx(), uidList(targets), dest)
	if err != nil {
		return nil, tryCreate(err)
	}
	return copyData(c), nil
}

// Move is COPY + STORE \Deleted + EXPUNGE in one step (RFC 6851): the
// untagged COPYUID, then an EXPUNGE per moved message.
func (s *session) Move(w *imapserver.MoveWriter, numSet imap.NumSet, dest string) error {
	v, targets, err := s.targets(numSet, true)
	if err != nil || len(targets) == 0 {
		return err
	}
	c, err := v.folder.Move(s.ctx(), uidList(targets), dest)
	if err != nil {
		return tryCreate(err)
	}
	data := copyData(c)
	if data == nil {
		return nil
	}
	if err := w.WriteCopyData(data); err != nil {
		return err
	}
	return v.dropUIDs(c.SourceUIDs, w.WriteExpunge)
}
