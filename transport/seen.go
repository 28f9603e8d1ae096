package transport

import (
	"encoding/json"
	"strings"
	"time"
)

// The queue database remembers which (Network-Message-Id, recipient) pairs
// this server has accepted, in the same write that queued them: an
// Exchange server that sent us a message and crashed before it recorded
// our 250 sends it again, and the copy is recognised instead of queued a
// second time (exactly once per hop, EX01 -> EX02 and Edge -> EX01). The
// Network-Message-Id is stamped by the first Exchange hop and kept by every
// trusted one after it; the header firewall removes it from anonymous
// senders, so an outsider cannot use it to suppress a message.

// SeenWindow is how long an accepted pair is remembered: past the
// senders' MessageExpirationTimeout (2 days), after which no retry comes.
const SeenWindow = 7 * 24 * time.Hour

func seenKey(netID, rcpt string) string {
	return netID + "\x00" + strings.ToLower(rcpt)
}

// seenVal is when a pair was accepted and the InternalId it got; pending
// until the write that holds it is on disk.
type seenVal struct {
	at, id  int64
	pending bool
}

// splitSeen sorts m's recipients into those new to this server and
// reports the InternalId under which a recipient was seen before (0: all
// new).
func (st *spoolState) splitSeen(m *Message) (fresh []Recipient, prevID int64) {
	if m.NetworkID == "" {
		return m.Recipients, 0
	}
	for _, r := range m.Recipients {
		if v, ok := st.seen[seenKey(m.NetworkID, r.Address)]; ok {
			prevID = v.id
			continue
		}
		fresh = append(fresh, r)
	}
	return fresh, prevID
}

// pruneSeen drops the pairs accepted before cut (UnixNano).
func (st *spoolState) pruneSeen(cut int64) {
	for k, v := range st.seen {
		if v.at < cut && !v.pending {
			delete(st.seen, k)
			st.live -= seenSize(k)
		}
	}
}

// seenKeysOf reads the Network-Message-Id and the recipients from a
// message record, for replaying a put that marked them seen.
func seenKeysOf(meta []byte) (netID string, rcpts []string, ok bool) {
	var m struct {
		NetworkID  string `json:"network_id"`
		Recipients []struct {
			Address string `json:"address"`
		} `json:"recipients"`
	}
	if json.Unmarshal(meta, &m) != nil || m.NetworkID == "" {
		return "", nil, false
	}
	for _, r := range m.Recipients {
		rcpts = append(rcpts, r.Address)
	}
	return m.NetworkID, rcpts, true
}
