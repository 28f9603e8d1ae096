package directory

// What the external tests (package directory_test, which shares the
// directorytest fixture with servers/ldapd and roles/edgesync) look at
// inside.

// CompactAfter is how many journal lines a Tree keeps before it compacts.
const CompactAfter = compactAfter

// JournalRecords is the number of lines in t's journal.
func JournalRecords(t *Tree) int { return t.disk.records }
