package roles

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/exsim/exsim/internal/labtest"
)

// BenchmarkEWSFindItem pages through a 10,000-message Inbox on EX01 with
// FindItem, 100 items a page, Default shape, newest first: one HTTPS POST
// per page, Basic authentication on a kept-alive connection.
func BenchmarkEWSFindItem(b *testing.B) {
	const total, page = 10000, 100
	top := labtest.Topology(b, "contoso-noedge", blocks.Next(b))
	on := true
	top.Server("EX01").Mailbox.BasicAuth = &on
	rt, err := Start(context.Background(), Options{Topology: top, DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { rt.Close(context.Background()) })
	st := rt.Server("EX01").store
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := range 16 {
		wg.Go(func() {
			for i := w; i < total; i += 16 {
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
		b.Fatal(err)
	}
	c := webClient(&testing.T{}, rt)
	url := fmt.Sprintf("https://ex01.contoso.com:%d/EWS/Exchange.asmx", 443+labtest.PortOffset)
	find := func(offset int) {
		body := soapEnvelope(fmt.Sprintf(`<m:FindItem Traversal="Shallow">`+
			`<m:ItemShape><t:BaseShape>Default</t:BaseShape></m:ItemShape><m:IndexedPageItemView MaxEntriesReturned="%d" Offset="%d" BasePoint="Beginning"/>`+
			`<m:SortOrder><t:FieldOrder Order="Descending"><t:FieldURI FieldURI="item:DateTimeReceived"/></t:FieldOrder></m:SortOrder>`+
			`<m:ParentFolderIds><t:DistinguishedFolderId Id="inbox"/></m:ParentFolderIds></m:FindItem>`, page, offset))
		status, got, err := postSOAP(c, url, "alice@contoso.com", body)
		if err != nil {
			b.Fatal(err)
		}
		if status != 200 || strings.Count(got, "<t:Message>") != page || !strings.Contains(got, `TotalItemsInView="10000"`) {
			b.Fatalf("FindItem offset %d = %d\n%.600s", offset, status, got)
		}
	}
	find(0) // warm up the connection
	cpu0 := cpuTime()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		find((i % (total / page)) * page)
		i++
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/page")
	// CPU time of the whole process (server and client) per page: steadier
	// than wall time on a shared machine.
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/page")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
