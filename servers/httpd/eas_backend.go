package httpd

// ActiveSyncStore is what Exchange ActiveSync needs from a Backend: the
// mailbox store EWS uses (MailStore) and its change feed (MailWatcher,
// which EWS notifications read too), so that a Ping long-poll wakes when
// mail arrives. A Backend that is not an ActiveSyncStore answers OPTIONS
// only, and every command with 501 Not Implemented.
type ActiveSyncStore interface {
	Backend
	MailStore
	MailWatcher
}

// changedFolders are the folders a batch of events touched; all is true
// when the feed lost events or a folder itself changed, and every folder
// must be looked at again.
func changedFolders(events []MailEvent) (folders []string, all bool) {
	for _, e := range events {
		if e.Kind == EventLost || e.IsFolder {
			all = true
			continue
		}
		folders = append(folders, e.Folder)
		if e.OldFolder != "" {
			folders = append(folders, e.OldFolder)
		}
	}
	return folders, all
}
