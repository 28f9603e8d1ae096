package imapd

import (
	"bytes"
	"sync"
)

// maxHeaderCache bounds the bytes of headers a Backend keeps for SEARCH.
const maxHeaderCache = 16 << 20

// headerCache keeps the raw headers of messages in lower case, so that a
// header SEARCH over a large folder rules most messages out without reading
// their bodies from the store (the profile of internal/bench/imapload on a
// 10,000-message INBOX spent most of SEARCH's time finding and lowering
// headers). A message's text never changes, and a UIDVALIDITY names one
// folder of the store for good, so UIDVALIDITY and UID name the header.
// Dovecot keeps such fields in its dovecot.index.cache the same way.
type headerCache struct {
	mu    sync.RWMutex
	m     map[uint64]rawHeader
	bytes int
}

// rawHeader is a message's header in lower case; usable is false when the
// raw bytes cannot decide a search (encoded words or non-ASCII bytes, whose
// decoded text differs from the raw one).
type rawHeader struct {
	lower  []byte
	usable bool
}

func headerKey(uidValidity, uid uint32) uint64 { return uint64(uidValidity)<<32 | uint64(uid) }

func (c *headerCache) get(k uint64) (rawHeader, bool) {
	c.mu.RLock()
	h, ok := c.m[k]
	c.mu.RUnlock()
	return h, ok
}

func (c *headerCache) put(k uint64, h rawHeader) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[uint64]rawHeader)
	}
	if old, ok := c.m[k]; ok {
		c.bytes -= old.size()
	}
	c.m[k] = h
	c.bytes += h.size()
	if c.bytes > maxHeaderCache {
		// Drop entries (a map's order is random) down to 3/4 of the bound.
		for k, old := range c.m {
			delete(c.m, k)
			if c.bytes -= old.size(); c.bytes <= maxHeaderCache*3/4 {
				break
			}
		}
	}
}

// size is what an entry costs, its map slot included.
func (h rawHeader) size() int { return len(h.lower) + 48 }

// lowerHeader is the header of body (up to the first empty line) in lower
// case, and whether it decides a search on its raw bytes.
func lowerHeader(body []byte) rawHeader {
	hdr := body
	if end := bytes.Index(hdr, []byte("\r\n\r\n")); end >= 0 {
		hdr = hdr[:end]
	} else if end := bytes.Index(hdr, []byte("\n\n")); end >= 0 {
		hdr = hdr[:end]
	}
	if bytes.Contains(hdr, []byte("=?")) {
		return rawHeader{}
	}
	lower := make([]byte, len(hdr))
	for i, b := range hdr {
		if b >= 0x80 {
			return rawHeader{}
		}
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		lower[i] = b
	}
	return rawHeader{lower: lower, usable: true}
}
