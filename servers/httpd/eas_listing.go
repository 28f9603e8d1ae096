package httpd

import (
	"maps"
	"slices"
	"time"
)

// easFilterAges are the FilterType values of MS-ASCMD 2.2.3.71.3 that
// limit items by age (email by DateReceived, calendar by start).
var easFilterAges = map[string]time.Duration{
	"1": 24 * time.Hour, "2": 3 * 24 * time.Hour, "3": 7 * 24 * time.Hour, "4": 14 * 24 * time.Hour,
	"5": 31 * 24 * time.Hour, "6": 93 * 24 * time.Hour, "7": 186 * 24 * time.Hour,
}

// easListing is a folder's items as ActiveSync keys them: the key is the
// backend id, or the alias an item keeps after a rewrite.
type easListing struct {
	order  []string // keys, newest first
	infos  map[string]MessageInfo
	stamps map[string]string
}

func (c *easCall) listing(f easFolderEntry, filterType string) (*easListing, error) {
	msgs, err := c.store.ListFolder(c.r.Context(), c.u.Address, f.Path)
	if err != nil {
		return nil, err
	}
	var since time.Time
	if age, ok := easFilterAges[filterType]; ok {
		since = c.h.cfg.Now().Add(-age)
	}
	l := &easListing{infos: map[string]MessageInfo{}, stamps: map[string]string{}}
	for _, mi := range msgs {
		if !since.IsZero() && mi.Date.Before(since) {
			continue
		}
		key := mi.ID
		if mi.Alias != "" {
			key = mi.Alias
		}
		l.order = append(l.order, key)
		l.infos[key] = mi
		l.stamps[key] = itemStamp(mi)
	}
	return l, nil
}

// pending compares what the device has with the folder now.
func (l *easListing) pending(have map[string]string) (adds, changes, deletes []string) {
	for _, k := range l.order {
		old, ok := have[k]
		switch {
		case !ok:
			adds = append(adds, k)
		case old != l.stamps[k]:
			changes = append(changes, k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(have)) {
		if _, ok := l.stamps[k]; !ok {
			deletes = append(deletes, k)
		}
	}
	return adds, changes, deletes
}
