package roles

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/exsim/exsim/internal/labtest"
	"github.com/exsim/exsim/internal/loopback"
	"github.com/exsim/exsim/store"
	"github.com/exsim/exsim/transport/smtpclient"
)

// The relay benchmarks send 4 KB messages from 20 concurrent clients
// (MEASUREMENTS.md's smtp-source load) and report msgs/s. The relay path
// counts a message only when it is in the mailbox store, fsynced at every
// durable step (Transport's queue, the mailbox store).
const (
	benchClients = 20
	benchSize    = 4096
)

var benchBody = func() []byte {
	var b strings.Builder
	b.WriteString("From: <carol@fabrikam.com>\r\nTo: <alice@contoso.com>\r\nSubject: bench\r\n\r\n")
	for b.Len() < benchSize {
		b.WriteString("0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789\r\n")
	}
	return []byte(b.String())
}()

// load sends n messages from benchClients goroutines to addr; reuse keeps
// one session per client, otherwise every message opens a new connection.
func load(b *testing.B, addr, from, rcpt string, n int, reuse bool, dial func(ctx context.Context, network, a string) (net.Conn, error)) {
	var next atomic.Int64
	var failed atomic.Int64
	var wg sync.WaitGroup
	open := func() *smtp.Client {
		conn, err := dial(context.Background(), "tcp", addr)
		if err != nil {
			b.Error(err)
			return nil
		}
		c, _, err := smtpclient.Dial(context.Background(), conn, smtpclient.Options{Helo: "mx.fabrikam.com", TLS: smtpclient.TLSNone})
		if err != nil {
			b.Error(err)
			return nil
		}
		return c
	}
	for range benchClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var c *smtp.Client
			for next.Add(1) <= int64(n) {
				if c == nil {
					if c = open(); c == nil {
						return
					}
				}
				if err := c.SendMail(from, []string{rcpt}, strings.NewReader(string(benchBody))); err != nil {
					failed.Add(1)
					c.Close()
					c = nil
					continue
				}
				if !reuse {
					c.Quit()
					c = nil
				}
			}
			if c != nil {
				c.Quit()
			}
		}()
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		b.Errorf("%d messages failed", f)
	}
}

func BenchmarkRelayPath(b *testing.B) {
	for _, reuse := range []bool{true, false} {
		b.Run(fmt.Sprintf("reuse=%v", reuse), func(b *testing.B) {
			rt := startBenchLab(b)
			ex01 := rt.Server("EX01")
			inet := rt.Server("INET01")
			addr := net.JoinHostPort(ex01.Config.Address, fmt.Sprint(25+labtest.PortOffset))
			mb, err := ex01.store.Mailbox("alice@contoso.com")
			if err != nil {
				b.Fatal(err)
			}
			inbox, _ := mb.Folder("INBOX")
			loadUntilDelivered(b, inbox, addr, reuse, inet.dialer.DialContext)
		})
	}
}

// BenchmarkRelayEdgePath is the whole inbound path of the contoso lab:
// internet -> EDGE01 (queued) -> EX01 Default Frontend -> Default (queued)
// -> Mailbox Delivery -> store, every hop with its fsync and TLS between
// Exchange servers.
func BenchmarkRelayEdgePath(b *testing.B) {
	rt := startBenchLabNamed(b, "contoso")
	deadline := time.Now().Add(15 * time.Second)
	for {
		if st, _ := rt.EdgeSync("EDGE01"); !st.LastSuccess.IsZero() && st.RecipientEntries > 0 {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("no EdgeSync")
		}
		time.Sleep(50 * time.Millisecond)
	}
	ex01, edge, inet := rt.Server("EX01"), rt.Server("EDGE01"), rt.Server("INET01")
	addr := net.JoinHostPort(edge.Config.Address, fmt.Sprint(25+labtest.PortOffset))
	inbox := func() *store.Folder {
		mb, _ := ex01.store.Mailbox("alice@contoso.com")
		f, _ := mb.Folder("INBOX")
		return f
	}()
	loadUntilDelivered(b, inbox, addr, true, inet.dialer.DialContext)
}

// loadUntilDelivered sends b.N messages from carol to alice at addr and
// waits until alice's inbox holds them all; it reports both rates.
func loadUntilDelivered(b *testing.B, inbox *store.Folder, addr string, reuse bool, dial func(context.Context, string, string) (net.Conn, error)) {
	before, _ := inbox.Status()
	b.ResetTimer()
	cpu0 := processCPU()
	start := time.Now()
	load(b, addr, "carol@fabrikam.com", "alice@contoso.com", b.N, reuse, dial)
	accepted := time.Since(start)
	for {
		st, _ := inbox.Status()
		if int(st.Messages-before.Messages) >= b.N {
			break
		}
		if time.Since(start) > 5*time.Minute {
			b.Fatalf("only %d of %d delivered", st.Messages-before.Messages, b.N)
		}
		time.Sleep(2 * time.Millisecond)
	}
	delivered := time.Since(start)
	cpu := processCPU() - cpu0
	b.StopTimer()
	b.ReportMetric(float64(b.N)/accepted.Seconds(), "accepted/s")
	b.ReportMetric(float64(b.N)/delivered.Seconds(), "delivered/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/msg")
}

// processCPU is the user and system CPU time the process (lab and load
// generator together) has used: per message, steadier than the rates on a
// shared machine, whose other work only delays this one.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// startBenchLab runs contoso-noedge.
func startBenchLab(b *testing.B) *Runtime { return startBenchLabNamed(b, "contoso-noedge") }

func startBenchLabNamed(b *testing.B, name string) *Runtime {
	top := labtest.Topology(b, name, blocks.Next(b))
	rt, err := Start(context.Background(), Options{Topology: top, DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { rt.Close(context.Background()) })
	return rt
}

// fsyncSink is the reference: go-smtp's server writing each message to
// its own file and fsyncing it before 250 (MEASUREMENTS.md's "write +
// fsync per message").
type fsyncSink struct {
	dir string
	n   atomic.Int64
}

func (s *fsyncSink) NewSession(*smtp.Conn) (smtp.Session, error) { return &sinkSess{s: s}, nil }

type sinkSess struct{ s *fsyncSink }

func (x *sinkSess) Mail(string, *smtp.MailOptions) error { return nil }
func (x *sinkSess) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (x *sinkSess) Data(r io.Reader) error {
	f, err := os.Create(filepath.Join(x.s.dir, fmt.Sprint(x.s.n.Add(1))))
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
func (x *sinkSess) Reset()        {}
func (x *sinkSess) Logout() error { return nil }

func BenchmarkFsyncSink(b *testing.B) {
	for _, reuse := range []bool{true, false} {
		b.Run(fmt.Sprintf("reuse=%v", reuse), func(b *testing.B) {
			srv := smtp.NewServer(&fsyncSink{dir: b.TempDir()})
			srv.Domain = "sink.test"
			srv.TLSConfig = nil
			l := loopback.ServeSMTP(b, srv)
			b.ResetTimer()
			start := time.Now()
			load(b, l.Addr().String(), "carol@fabrikam.com", "alice@contoso.com", b.N, reuse, (&net.Dialer{}).DialContext)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "accepted/s")
		})
	}
}
