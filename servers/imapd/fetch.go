package imapd

import (
	"bufio"
	"bytes"
	"errors"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-message/textproto"

	"github.com/exsim/exsim/store"
)

func (s *session) Fetch(w *imapserver.FetchWriter, numSet imap.NumSet, options *imap.FetchOptions) error {
	v, targets, err := s.targets(numSet, false)
	if err != nil || len(targets) == 0 {
		return err
	}
	// A non-peek body fetch sets \Seen (RFC 9051 section 6.4.5); the new
	// flags are then part of the response.
	seenSet := map[imap.UID]bool{}
	if !v.readOnly && fetchSetsSeen(options) {
		var unseen []uint32
		for _, t := range targets {
			if !hasFlag(v.msgs[t.seq-1].flags, store.FlagSeen) {
				unseen = append(unseen, uint32(t.uid))
			}
		}
		if len(unseen) > 0 {
			updates, err := v.folder.StoreFlags(s.ctx(), unseen, store.FlagsAdd, []string{store.FlagSeen})
			if err != nil {
				return storeError(err)
			}
			for uid := range v.setFlags(updates) {
				seenSet[uid] = true
			}
		}
	}
	infos, err := v.folder.Lookup(uidList(targets))
	if err != nil {
		return storeError(err)
	}
	byUID := make(map[imap.UID]*store.MessageInfo, len(infos))
	for i := range infos {
		byUID[imap.UID(infos[i].UID)] = &infos[i]
	}
	needBody := options.Envelope || options.BodyStructure != nil || len(options.BodySection) > 0 ||
		len(options.BinarySection) > 0 || len(options.BinarySectionSize) > 0
	for _, t := range targets {
		info := byUID[t.uid]
		if info == nil {
			continue // expunged by another session and not yet announced (RFC 2180 section 4.1.2)
		}
		var body []byte
		if needBody {
			body, err = v.folder.Body(uint32(t.uid))
			if errors.Is(err, store.ErrNoMessage) {
				continue
			}
			if err != nil {
				return storeError(err)
			}
		}
		if err := writeFetch(w.CreateMessage(t.seq), info, body, options, seenSet[t.uid]); err != nil {
			return err
		}
	}
	return nil
}

func fetchSetsSeen(options *imap.FetchOptions) bool {
	for _, bs := range options.BodySection {
		if !bs.Peek {
			return true
		}
	}
	for _, bs := range options.BinarySection {
		if !bs.Peek {
			return true
		}
	}
	return false
}

func writeFetch(w *imapserver.FetchResponseWriter, info *store.MessageInfo, body []byte, options *imap.FetchOptions, flagsChanged bool) error {
	w.WriteUID(imap.UID(info.UID))
	if options.Flags || flagsChanged {
		w.WriteFlags(imapFlags(info.Flags))
	}
	if options.InternalDate {
		w.WriteInternalDate(info.InternalDate)
	}
	if options.RFC822Size {
		w.WriteRFC822Size(info.Size)
	}
	if options.Envelope {
		w.WriteEnvelope(envelope(body))
	}
	if options.BodyStructure != nil {
		w.WriteBodyStructure(imapserver.ExtractBodyStructure(bytes.NewReader(body)))
	}
	for _, bs := range options.BodySection {
		buf := imapserver.ExtractBodySection(bytes.NewReader(body), bs)
		if err := writeLiteral(w.WriteBodySection(bs, int64(len(buf))), buf); err != nil {
			return err
		}
	}
	for _, bs := range options.BinarySection {
		buf := imapserver.ExtractBinarySection(bytes.NewReader(body), bs)
		if err := writeLiteral(w.WriteBinarySection(bs, int64(len(buf))), buf); err != nil {
			return err
		}
	}
	for _, bss := range options.BinarySectionSize {
		w.WriteBinarySectionSize(bss, imapserver.ExtractBinarySectionSize(bytes.NewReader(body), bss))
	}
	return w.Close()
}

func writeLiteral(wc interface {
	Write([]byte) (int, error)
	Close() error
}, buf []byte) error {
	_, werr := wc.Write(buf)
	cerr := wc.Close()
	if werr != nil {
		return werr
	}
	return cerr
}

func envelope(body []byte) *imap.Envelope {
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(body)))
	if err != nil {
		return &imap.Envelope{}
	}
	return imapserver.ExtractEnvelope(h)
}

func hasFlag(flags []string, flag string) bool {
	for _, f := range flags {
		if f == flag {
			return true
		}
	}
	return false
}

func (s *session) Store(w *imapserver.FetchWriter, numSet imap.NumSet, flags *imap.StoreFlags, _ *imap.StoreOptions) error {
	v, targets, err := s.targets(numSet, true)
	if err != nil || len(targets) == 0 {
		return err
	}
	var op store.FlagOp
	switch flags.Op {
	case imap.StoreFlagsAdd:
		op = store.FlagsAdd
	case imap.StoreFlagsDel:
		op = store.FlagsRemove
	default:
		op = store.FlagsSet
	}
	fl := s.keepFlags(flags.Flags)
	updates, err := v.folder.StoreFlags(s.ctx(), uidList(targets), op, fl)
	if err != nil {
		return storeError(err)
	}
	byUID := v.setFlags(updates)
	if flags.Silent {
		return nil
	}
	for _, t := range targets {
		f, ok := byUID[t.uid]
		if !ok {
			continue
		}
		mw := w.CreateMessage(t.seq)
		mw.WriteUID(t.uid)
		mw.WriteFlags(imapFlags(f))
		if err := mw.Close(); err != nil {
			return err
		}
	}
	return nil
}
