package httpd

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ActiveSync keeps state per device (MS-ASCMD 3.1.1: the server keeps a
// synchronization state per SyncKey): the policy key the device
// acknowledged, the folder hierarchy it has seen, and per collection the
// items (and their read/flag state) it has. exsim keeps it in memory on
// the mailbox's server, so a restart makes every device start over with
// the invalid-sync-key statuses, as a mailbox move does on Exchange.
type easDevices struct {
	mu      sync.Mutex
	devices map[string]*easDevice
	max     int
}

// maxEASDevices bounds the devices kept; the least recently seen goes.
const maxEASDevices = 10000

type easDevice struct {
	mu       sync.Mutex // held for one command, never while a Ping waits
	lastSeen time.Time
	gen      string // this state's generation, part of every SyncKey

	tempPolicyKey  uint32 // handed out, not yet acknowledged
	policyKey      uint32 // acknowledged: the device is provisioned
	folderKey      int
	folders        map[string]easFolderEntry // what the device has of the hierarchy at folderKey
	prevFolderKey  int
	prevFolders    map[string]easFolderEntry
	collections    map[string]*easCollection
	lastPing       *easPingParams
	pingStop       chan struct{} // closed to end the device's waiting Ping
	lastSyncParams []byte        // the last Sync request, for an empty Sync (MS-ASCMD 2.2.2.20)
}

// easCollection is what a device has of one folder: the items of the
// current SyncKey and of the one before, which a client that lost our
// last answer sends again (MS-ASCMD 3.1.5.3: the server accepts the
// previous key and answers it anew).
type easCollection struct {
	n        int
	items    map[string]string // ServerId -> stamp
	prevN    int
	prevItem map[string]string
}

func (c *easCollection) key(gen string) string { return "{" + gen + "}" + strconv.Itoa(c.n) }

// state returns the items the device has under key, or nil for a key it
// cannot have.
func (c *easCollection) state(gen, key string) map[string]string {
	switch key {
	case "{" + gen + "}" + strconv.Itoa(c.n):
		return c.items
	case "{" + gen + "}" + strconv.Itoa(c.prevN):
		if c.prevItem != nil {
			return c.prevItem
		}
	}
	return nil
}

// advance records items as the state of a new SyncKey.
func (c *easCollection) advance(items map[string]string) {
	c.prevN, c.prevItem = c.n, c.items
	c.n++
	c.items = items
}

func newEASDevices() *easDevices {
	return &easDevices{devices: map[string]*easDevice{}, max: maxEASDevices}
}

// device returns the state of (user, device id), creating it.
func (d *easDevices) device(user, id string, now time.Time) *easDevice {
	k := strings.ToLower(user) + "\x00" + id
	d.mu.Lock()
	defer d.mu.Unlock()
	dev := d.devices[k]
	if dev == nil {
		if len(d.devices) >= d.max {
			d.evict()
		}
		var g [4]byte
		rand.Read(g[:])
		dev = &easDevice{gen: strings.ToUpper(hex.EncodeToString(g[:])), collections: map[string]*easCollection{}}
		d.devices[k] = dev
	}
	dev.lastSeen = now
	return dev
}

func (d *easDevices) evict() {
	var oldK string
	var old time.Time
	for k, dev := range d.devices {
		if oldK == "" || dev.lastSeen.Before(old) {
			oldK, old = k, dev.lastSeen
		}
	}
	delete(d.devices, oldK)
}

// newPolicyKey is a random non-zero policy key (MS-ASPROV 2.2.2.42: an
// unsigned 32-bit number; 0 means none).
func newPolicyKey() uint32 {
	var b [4]byte
	for {
		rand.Read(b[:])
		if k := binary.LittleEndian.Uint32(b[:]) &^ 0x80000000; k != 0 {
			return k
		}
	}
}
