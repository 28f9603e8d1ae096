package pop3d

import (
	"fmt"
	"strconv"
)

// checkSnapshot rejects a snapshot whose UIDs would break the protocol:
// RFC 1939 section 7 allows 1 to 70 octets in 0x21-0x7E, unique.
func checkSnapshot(msgs []MessageInfo) error {
	seen := make(map[string]struct{}, len(msgs))
	for i, m := range msgs {
		if len(m.UID) == 0 || len(m.UID) > 70 || m.Size < 0 {
			return fmt.Errorf("pop3d: message %d: invalid uid %q or size %d", i+1, m.UID, m.Size)
		}
		for j := 0; j < len(m.UID); j++ {
			if c := m.UID[j]; c < 0x21 || c > 0x7e {
				return fmt.Errorf("pop3d: message %d: invalid uid %q", i+1, m.UID)
			}
		}
		if _, dup := seen[m.UID]; dup {
			return fmt.Errorf("pop3d: message %d: duplicate uid %q", i+1, m.UID)
		}
		seen[m.UID] = struct{}{}
	}
	return nil
}

// message resolves a message-number argument to an index of the snapshot;
// messages marked deleted may not be referred to (RFC 1939 section 5). When
// ok is false the command has been answered and err is the reply's error.
func (ss *session) message(arg string) (i int, ok bool, err error) {
	n, valid := parseNumber(arg)
	switch {
	case !valid:
		return 0, false, ss.protocolError(ss.p.BadArguments)
	case n < 1 || n > len(ss.msgs):
		return 0, false, ss.reply(ss.p.NoSuchMessage)
	case ss.deleted[n-1]:
		return 0, false, ss.reply(ss.p.Deleted)
	}
	return n - 1, true, nil
}

func itoa(n int) string     { return strconv.Itoa(n) }
func i64toa(n int64) string { return strconv.FormatInt(n, 10) }

func (ss *session) cmdStat([]string) error {
	return ss.reply(expand(ss.p.Stat, "count", itoa(ss.live), "octets", i64toa(ss.liveSize)))
}

// cmdList is RFC 1939 section 5 LIST.
func (ss *session) cmdList(args []string) error {
	if len(args) == 1 {
		i, ok, err := ss.message(args[0])
		if !ok {
			return err
		}
		return ss.reply(expand(ss.p.ListOne, "msg", itoa(i+1), "octets", i64toa(ss.msgs[i].Size)))
	}
	ss.w.WriteString(expand(ss.p.ListAll, "count", itoa(ss.live), "octets", i64toa(ss.liveSize)) + "\r\n")
	for i, m := range ss.msgs {
		if !ss.deleted[i] {
			ss.w.WriteString(itoa(i+1) + " " + i64toa(m.Size) + "\r\n")
		}
	}
	return ss.reply(".")
}

// cmdUidl is RFC 1939 section 7 UIDL.
func (ss *session) cmdUidl(args []string) error {
	if len(args) == 1 {
		i, ok, err := ss.message(args[0])
		if !ok {
			return err
		}
		return ss.reply(expand(ss.p.UidlOne, "msg", itoa(i+1), "uid", ss.msgs[i].UID))
	}
	ss.w.WriteString(ss.p.UidlAll + "\r\n")
	for i, m := range ss.msgs {
		if !ss.deleted[i] {
			ss.w.WriteString(itoa(i+1) + " " + m.UID + "\r\n")
		}
	}
	return ss.reply(".")
}

func (ss *session) cmdRetr(args []string) error {
	i, ok, err := ss.message(args[0])
	if !ok {
		return err
	}
	return ss.send(i, expand(ss.p.RetrOK, "octets", i64toa(ss.msgs[i].Size)), -1)
}

// cmdTop is RFC 1939 section 7 TOP msg n.
func (ss *session) cmdTop(args []string) error {
	i, ok, err := ss.message(args[0])
	if !ok {
		return err
	}
	lines, ok := parseNumber(args[1])
	if !ok {
		return ss.protocolError(ss.p.BadArguments)
	}
	return ss.send(i, ss.p.TopOK, lines)
}

// send streams message i after the positive reply ok, byte-stuffed and
// terminated (RFC 1939 section 3); bodyLines < 0 sends the whole message.
// Once "+OK" is out a failure can only close the connection.
func (ss *session) send(i int, ok string, bodyLines int) error {
	rc, err := ss.drop.Open(ss.ctx, ss.msgs[i].UID)
	if err != nil {
		if ss.ctx.Err() != nil {
			return errClose
		}
		ss.log.Error("opening message", "msg_id", ss.msgs[i].UID, "err", err)
		return ss.reply(ss.p.RetrFailed)
	}
	defer rc.Close()
	ss.w.WriteString(ok + "\r\n")
	mw := newMessageWriter(ss.w, true, bodyLines)
	if err := mw.copyFrom(rc); err != nil {
		return fmt.Errorf("pop3d: sending message %d: %w", i+1, err)
	}
	return ss.reply(".")
}

func (ss *session) cmdDele(args []string) error {
	i, ok, err := ss.message(args[0])
	if !ok {
		return err
	}
	ss.deleted[i] = true
	ss.live--
	ss.liveSize -= ss.msgs[i].Size
	return ss.reply(ss.p.DeleOK)
}

// cmdRset unmarks every message (RFC 1939 section 5 RSET).
func (ss *session) cmdRset([]string) error {
	clear(ss.deleted)
	ss.live, ss.liveSize = len(ss.msgs), 0
	for _, m := range ss.msgs {
		ss.liveSize += m.Size
	}
	return ss.reply(expand(ss.p.RsetOK, "count", itoa(ss.live), "octets", i64toa(ss.liveSize)))
}

func (ss *session) cmdNoop([]string) error { return ss.reply(ss.p.NoopOK) }

// cmdQuit ends the session. From the TRANSACTION state it enters the UPDATE
// state and removes the messages marked deleted (RFC 1939 section 6); only
// then. From AUTHORIZATION nothing is touched.
func (ss *session) cmdQuit([]string) error {
	ss.state, ss.user = stateDone, ""
	if ss.drop == nil {
		ss.reply(ss.p.QuitOK)
		return errClose
	}
	var uids []string
	for i, m := range ss.msgs {
		if ss.deleted[i] {
			uids = append(uids, m.UID)
		}
	}
	if len(uids) > 0 {
		if err := ss.drop.Delete(ss.ctx, uids); err != nil {
			ss.log.Error("update: deleting messages", "err", err)
			ss.reply(ss.p.UpdateFailed)
			return errClose
		}
	}
	ss.reply(ss.p.QuitOK)
	return errClose
}
