package roles

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/exsim/exsim/internal/labtest"
)

// findItemPages is the FindItem benchmark's lab: alice's Inbox on EX01
// holds total messages; find(offset) reads one page of 100 with
// FindItem, Default shape, newest first: one HTTPS POST per page, Basic
// authentication on a kept-alive connection.
const findItemTotal, findItemPage = 10000, 100

func bigInboxFindItem(tb testing.TB) (find func(offset int)) {
	top := labtest.Topology(tb, "contoso-noedge", blocks.Next(tb))
	on := true
	top.Server("EX01").Mailbox.BasicAuth = &on
	rt, err := Start(context.Background(), Options{Topology: top, DataDir: tb.TempDir()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { rt.Close(context.Background()) })
	st := rt.Server("EX01").store
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := range 16 {
		wg.Go(func() {
			for i := w; i < findItemTotal; i += 16 {
				msg := fmt.Sprintf("From: Sender %d <s%d@fabrikam.com>\r\nTo: Alice Wood <alice@contoso.com>\r\nSubject: message %d\r\n"+
					"Date: %s\r\nMessage-ID: <%d@bench>\r\n\r\n%s", i, i, i, time.Unix(1700000000+int64(i), 0).Format(time.RFC1123Z), i,
					strings.Repeat("Body line of a benchmark message.\r\n", 40))
				if _, err := st.Deliver(context.Background(), []byte(msg), "alice@contoso.com"); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		tb.Fatal(err)
	}
	c := webClient(&testing.T{}, rt)
	url := fmt.Sprintf("https://ex01.contoso.com:%d/EWS/Exchange.asmx", 443+labtest.PortOffset)
	return func(offset int) {
		body := soapEnvelope(fmt.Sprintf(`<m:FindItem Traversal="Shallow">`+
			`<m:ItemShape><t:BaseShape>Default</t:BaseShape></m:ItemShape><m:IndexedPageItemView MaxEntriesReturned="%d" Offset="%d" BasePoint="Beginning"/>`+
			`<m:SortOrder><t:FieldOrder Order="Descending"><t:FieldURI FieldURI="item:DateTimeReceived"/></t:FieldOrder></m:SortOrder>`+
			`<m:ParentFolderIds><t:DistinguishedFolderId Id="inbox"/></m:ParentFolderIds></m:FindItem>`, findItemPage, offset))
		status, got, err := postSOAP(c, url, "alice@contoso.com", body)
		if err != nil {
			tb.Fatal(err)
		}
		if status != 200 || strings.Count(got, "<t:Message>") != findItemPage || !strings.Contains(got, `TotalItemsInView="10000"`) {
			tb.Fatalf("FindItem offset %d = %d\n%.600s", offset, status, got)
		}
	}
}

// BenchmarkEWSFindItem pages through the 10,000-message Inbox.
func BenchmarkEWSFindItem(b *testing.B) {
	find := bigInboxFindItem(b)
	find(0) // warm up the connection
	cpu0 := cpuTime()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		find((i % (findItemTotal / findItemPage)) * findItemPage)
		i++
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/page")
	// CPU time of the whole process (server and client) per page: steadier
	// than wall time on a shared machine.
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/page")
}

// TestEWSFindItemMemoryFlat reads all 100 pages of the 10,000-message
// Inbox and checks that the heap in use after the last page (after a
// full GC) is not larger than after the first few: paging keeps no
// per-page state. The allowance covers the garbage collector's and the
// lab's own noise (TLS buffers, logging), which is far below what
// keeping every page would cost (about 100 KB of XML a page, 10 MB).
func TestEWSFindItemMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("delivers 10,000 messages; skipped with -short")
	}
	find := bigInboxFindItem(t)
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapInuse
	}
	const warm = 5
	var early uint64
	pages := findItemTotal / findItemPage
	for i := range pages {
		find(i * findItemPage)
		if i == warm-1 {
			early = heap()
		}

	}
	last := heap()
	t.Logf("heap in use after %d pages: %d KB; after all %d: %d KB", warm, early>>10, pages, last>>10)
	if allowance := early/10 + 2<<20; last > early+allowance {
		t.Errorf("heap in use grew from %d KB after %d pages to %d KB after %d: more than the %d KB allowance", early>>10, warm, last>>10, pages, allowance>>10)
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
