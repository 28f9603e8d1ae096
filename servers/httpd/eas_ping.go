package httpd

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/exsim/exsim/internal/wbxml"
)

// Ping limits. Exchange's defaults for the heartbeat are 60 s to 3540 s
// (MS-ASCMD 2.2.3.85.1 gives 3540 s as the upper bound servers use); the
// folder limit has no public Exchange default: 300 is exsim's choice.
const (
	minHeartbeat   = 60
	maxHeartbeat   = 3540
	maxPingFolders = 300
)

// easPingParams is what a Ping asked, kept for an empty Ping (MS-ASCMD
// 2.2.2.13: a Ping without a body repeats the last one).
type easPingParams struct {
	interval int
	folders  []string
}

// ping is the heartbeat long-poll (MS-ASCMD 2.2.2.13): it answers
// Status 2 with the folders that changed as soon as one of the watched
// folders has something the device's last Sync did not bring, and
// Status 1 when the heartbeat interval passes without a change.
func (c *easCall) ping() *wbxml.Node {
	dev := c.dev
	dev.mu.Lock()
	params, st := c.pingParams()
	if st != 0 {
		dev.mu.Unlock()
		return st2ping(st, 0)
	}
	if params.interval < minHeartbeat || params.interval > maxHeartbeat {
		dev.mu.Unlock()
		return st2ping(pingBadInterval, max(minHeartbeat, min(params.interval, maxHeartbeat)))
	}
	if len(params.folders) > maxPingFolders {
		dev.mu.Unlock()
		return wbxml.E("Ping:Ping", wbxml.T("Ping:Status", strconv.Itoa(pingTooMany)), wbxml.T("Ping:MaxFolders", strconv.Itoa(maxPingFolders)))
	}
	dev.lastPing = params
	// A newer Ping of the same device ends this one.
	if dev.pingStop != nil {
		close(dev.pingStop)
	}
	stop := make(chan struct{})
	dev.pingStop = stop
	changed, st, gone := c.awaitChange("ping", params.folders, params.interval, stop)
	dev.mu.Unlock()
	switch {
	case gone:
		c.wrote = true // the client went away: nobody to answer
		return nil
	case st != 0:
		return st2ping(st, 0)
	case len(changed) > 0:
		return pingResult(changed)
	}
	return st2ping(pingExpired, 0)
}

// awaitChange waits up to seconds (or until stop closes) for one of the
// folders ids to hold something the device lacks, and returns those
// folders. It is called with the device locked, takes its snapshot under
// the lock, releases the lock while it waits and locks again before it
// returns. st is a Ping status when the folders cannot be watched; gone
// says the client went away.
func (c *easCall) awaitChange(what string, ids []string, seconds int, stop <-chan struct{}) (changed []string, st int, gone bool) {
	watch, err := c.store.WatchMail(c.u.Address)
	if err != nil {
		c.log.Error("activesync: watch mailbox", "err", err)
		return nil, pingServerError, false
	}
	defer watch.Close()
	// What the device has of each folder, taken after the watch starts so
	// that no change falls between the two.
	watched, st := c.pingSnapshot(ids)
	if st != 0 {
		return nil, st, false
	}
	if changed := c.pingChanged(watched, nil, true); len(changed) > 0 {
		return changed, 0, false
	}
	c.dev.mu.Unlock()
	defer c.dev.mu.Lock()
	c.log.Info("activesync: "+what+" waiting", "interval", seconds, "folders", len(watched))
	timer := time.NewTimer(time.Duration(seconds) * time.Second)
	defer timer.Stop()
	for {
		select {
		case <-c.r.Context().Done():
			return nil, 0, true
		case <-stop:
			return nil, 0, false
		case <-timer.C:
			return nil, 0, false
		case _, ok := <-watch.Ready():
			if !ok {
				return nil, pingServerError, false
			}
			names, all := changedFolders(watch.Events())
			if changed := c.pingChanged(watched, names, all); len(changed) > 0 {
				c.log.Info("activesync: "+what+" woken by a change", "folders", strings.Join(changed, ","))
				return changed, 0, false
			}
		}
	}
}

func st2ping(st, interval int) *wbxml.Node {
	p := wbxml.E("Ping:Ping", wbxml.T("Ping:Status", strconv.Itoa(st)))
	if interval > 0 {
		p.Add(wbxml.T("Ping:HeartbeatInterval", strconv.Itoa(interval)))
	}
	return p
}

func pingResult(ids []string) *wbxml.Node {
	fs := wbxml.E("Ping:Folders")
	for _, id := range ids {
		fs.Add(wbxml.T("Ping:Folder", id))
	}
	return wbxml.E("Ping:Ping", wbxml.T("Ping:Status", strconv.Itoa(pingChanges)), fs)
}

// pingParams reads the request, falling back on the last Ping's values.
func (c *easCall) pingParams() (*easPingParams, int) {
	p := &easPingParams{}
	if last := c.dev.lastPing; last != nil {
		*p = *last
	}
	if c.body != nil {
		if c.body.Tag != "Ping" {
			return nil, pingMissing
		}
		if v := c.body.Value("HeartbeatInterval"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				return nil, pingMissing
			}
			p.interval = n
		}
		if fs := c.body.Child("Folders"); fs != nil {
			p.folders = nil
			for _, f := range fs.All("Folder") {
				p.folders = append(p.folders, f.Value("Id"))
			}
		}
	}
	if p.interval == 0 || len(p.folders) == 0 {
		return nil, pingMissing
	}
	return p, 0
}

type pingFolder struct {
	f    easFolderEntry
	have map[string]string
}

// pingSnapshot resolves the folders and what the device has of each: its
// last Sync's state, or the folder as it is now when it never synced it.
func (c *easCall) pingSnapshot(ids []string) ([]pingFolder, int) {
	fs, err := c.easFolders()
	if err != nil {
		c.log.Error("activesync: list folders", "err", err)
		return nil, pingServerError
	}
	var out []pingFolder
	for _, id := range ids {
		i := slices.IndexFunc(fs, func(f easFolderEntry) bool { return f.ID == id })
		if i < 0 {
			return nil, pingHierarchySync
		}
		pf := pingFolder{f: fs[i]}
		if st := c.dev.collections[id]; st != nil && st.items != nil {
			pf.have = maps.Clone(st.items)
		} else {
			l, err := c.listing(fs[i], "")
			if err != nil {
				return nil, pingServerError
			}
			pf.have = l.stamps
		}
		out = append(out, pf)
	}
	return out, 0
}

// pingChanged lists the watched folders (among names, or all) that now
// hold something the device lacks.
func (c *easCall) pingChanged(watched []pingFolder, names []string, all bool) []string {
	var out []string
	for _, pf := range watched {
		if !all && !slices.ContainsFunc(names, func(n string) bool { return strings.EqualFold(n, pf.f.Path) }) {
			continue
		}
		l, err := c.listing(pf.f, "")
		if err != nil {
			c.log.Warn("activesync: ping: list folder", "folder", pf.f.Path, "err", err)
			continue
		}
		if a, ch, d := l.pending(pf.have); len(a)+len(ch)+len(d) > 0 {
			out = append(out, pf.f.ID)
		}
	}
	return out
}
