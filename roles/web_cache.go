package roles

import (
	"slices"
	"strings"
	"sync"

	"github.com/exsim/exsim/servers/httpd"
	"github.com/exsim/exsim/store"
)

// listCache keeps the last listing of each folder under the folder's
// UIDVALIDITY and MODSEQ, which the store bumps on every change to the
// folder's messages. EWS clients page through big folders one FindItem
// at a time; decoding every message record for every page was most of a
// page's cost (docs/PERFORMANCE.md).
type listCache struct {
	mu sync.Mutex
	m  map[listKey]listEntry
}

type listKey struct {
	address string
	folder  uint64
}

type listEntry struct {
	validity uint32
	modseq   uint64
	msgs     []httpd.MessageInfo
}

// maxListCache bounds the folders kept; beyond it an arbitrary one goes.
const maxListCache = 64

func newListCache() *listCache { return &listCache{m: map[listKey]listEntry{}} }

// get returns a copy of the cached listing of the folder st describes,
// if it is still current. st must be read before the listing is: a
// listing is then never older than the key it is stored under.
func (c *listCache) get(address string, st store.FolderInfo) ([]httpd.MessageInfo, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[listKey{strings.ToLower(address), st.ID}]
	if !ok || e.validity != st.UIDValidity || e.modseq != st.ModSeq {
		return nil, false
	}
	return slices.Clone(e.msgs), true
}

func (c *listCache) put(address string, st store.FolderInfo, msgs []httpd.MessageInfo) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxListCache {
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	c.m[listKey{strings.ToLower(address), st.ID}] = listEntry{st.UIDValidity, st.ModSeq, slices.Clone(msgs)}
}
