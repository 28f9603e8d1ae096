package oab

import (
	"fmt"
	"testing"

	"github.com/exsim/exsim/internal/nspi"
)

// BenchmarkPublish builds the manifest and full file of a 10,000-mailbox
// Global Address List, what the OAB directory does when the directory
// changed (docs/PERFORMANCE.md).
func BenchmarkPublish(b *testing.B) {
	book := testBook()
	book.Entries = nil
	for i := range 10000 {
		book.Entries = append(book.Entries, nspi.Entry{
			DisplayName: fmt.Sprintf("User %05d", i), Alias: fmt.Sprintf("user%05d", i), Address: fmt.Sprintf("user%05d@contoso.com", i),
			LegacyDN:       fmt.Sprintf("/o=Contoso/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=%032x-user%05d", i, i),
			ProxyAddresses: []string{fmt.Sprintf("SMTP:user%05d@contoso.com", i)}, GUID: [16]byte{byte(i), byte(i >> 8), 1},
		})
	}
	var size int
	for b.Loop() {
		p, err := Publish(book)
		if err != nil {
			b.Fatal(err)
		}
		size = len(p.Full)
	}
	b.ReportMetric(float64(size), "bytes/file")
}
