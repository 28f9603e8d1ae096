package smtpd

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/exsim/exsim/internal/loopback"
)

// The relay benchmark: 4 KB messages, 20 concurrent go-smtp clients over
// loopback TCP, into exsim with a discarding Backend and, for comparison,
// into go-smtp's own server discarding the same way (MEASUREMENTS.md:
// smtp-source against go-smtp did ~3,200 msg/s with a new connection per
// message and ~7,600 reusing connections on the project's machine kind).
//
//	go test -run='^$' -bench=Session -benchtime=5000x ./servers/smtpd

const (
	benchClients = 20
	benchMsgSize = 4096
)

var benchQueued = &Reply{250, "2.6.0", "<bench@ex01.contoso.com> [InternalId=1, Hostname=ex01.contoso.com] 4096 bytes in 0.001, 4000.000 KB/sec Queued mail for delivery"}

type discardBackend struct{}

func (discardBackend) NewSession(*Conn) (Session, error) { return discardSession{}, nil }

type discardSession struct{}

func (discardSession) Mail(string, *MailOptions) error { return nil }
func (discardSession) Rcpt(string, *RcptOptions) error { return nil }
func (discardSession) Data(r io.Reader) (*Reply, error) {
	_, err := io.Copy(io.Discard, r)
	return benchQueued, err
}
func (discardSession) Reset()  {}
func (discardSession) Logout() {}

type goSMTPDiscard struct{}

func (goSMTPDiscard) NewSession(*gosmtp.Conn) (gosmtp.Session, error) { return goSMTPSession{}, nil }

type goSMTPSession struct{}

func (goSMTPSession) Mail(string, *gosmtp.MailOptions) error { return nil }
func (goSMTPSession) Rcpt(string, *gosmtp.RcptOptions) error { return nil }
func (goSMTPSession) Data(r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	return err
}
func (goSMTPSession) Reset()        {}
func (goSMTPSession) Logout() error { return nil }

func benchMessage() []byte {
	var b bytes.Buffer
	b.WriteString("From: a@fabrikam.com\r\nTo: b@contoso.com\r\nSubject: bench\r\n\r\n")
	line := strings.Repeat("x", 76) + "\r\n"
	for b.Len()+len(line) <= benchMsgSize {
		b.WriteString(line)
	}
	b.WriteString(strings.Repeat("y", benchMsgSize-b.Len()-2) + "\r\n")
	return b.Bytes()
}

func BenchmarkSession(b *testing.B) {
	servers := []struct {
		name  string
		start func(b *testing.B) string
	}{
		{"exsim", func(b *testing.B) string {
			lim := DefaultLimits()
			lim.MaxInboundConnectionPerSource = 0 // 20 clients from one address, each reconnecting
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			serveOn(b, discardBackend{}, Options{Hostname: testHost, Limits: lim}, l)
			return l.Addr().String()
		}},
		{"go-smtp", func(b *testing.B) string {
			s := gosmtp.NewServer(goSMTPDiscard{})
			s.Domain = testHost
			s.MaxMessageBytes = 36 << 20
			s.MaxRecipients = 200
			s.ReadTimeout, s.WriteTimeout = time.Minute, time.Minute
			return loopback.ServeSMTP(b, s).Addr().String()
		}},
	}
	for _, mode := range []struct {
		name  string
		reuse bool
		raw   bool
	}{{"conn-per-msg", false, false}, {"reuse-conn", true, false}, {"raw-pipelined", true, true}} {
		for _, srv := range servers {
			b.Run(mode.name+"/"+srv.name, func(b *testing.B) {
				addr := srv.start(b)
				msg := benchMessage()
				b.SetBytes(int64(len(msg)))
				var next atomic.Int64
				var wg sync.WaitGroup
				errs := make(chan error, benchClients)
				b.ResetTimer()
				start := time.Now()
				for range benchClients {
					wg.Add(1)
					go func() {
						defer wg.Done()
						run := benchClient
						if mode.raw {
							run = rawPipelinedClient
						}
						if err := run(addr, msg, mode.reuse, &next, int64(b.N)); err != nil {
							errs <- err
						}
					}()
				}
				wg.Wait()
				elapsed := time.Since(start)
				b.StopTimer()
				close(errs)
				for err := range errs {
					b.Fatal(err)
				}
				b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
			})
		}
	}
}

// benchClient sends messages until n have been claimed by all clients.
func benchClient(addr string, msg []byte, reuse bool, next *atomic.Int64, n int64) error {
	var c *gosmtp.Client
	defer func() {
		if c != nil {
			c.Quit()
			c.Close()
		}
	}()
	for next.Add(1) <= n {
		if c == nil {
			var err error
			if c, err = gosmtp.Dial(addr); err != nil {
				return err
			}
			if err := c.Hello("bench.fabrikam.com"); err != nil {
				return err
			}
		}
		if err := c.SendMail("a@fabrikam.com", []string{"b@contoso.com"}, bytes.NewReader(msg)); err != nil {
			return err
		}
		if !reuse {
			if err := c.Quit(); err != nil {
				return err
			}
			c.Close()
			c = nil
		}
	}
	return nil
}

// rawPipelinedClient costs the load generator almost nothing: each message
// is one write (MAIL, RCPT, DATA and the body, pipelined) and four replies
// read back, so the server's own cost dominates.
func rawPipelinedClient(addr string, msg []byte, _ bool, next *atomic.Int64, n int64) error {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	readReply := func() (string, error) {
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return line, err
			}
			if len(line) >= 4 && line[3] == ' ' {
				return line, nil
			}
		}
	}
	if _, err := readReply(); err != nil {
		return err
	}
	if _, err := io.WriteString(conn, "EHLO bench.fabrikam.com\r\n"); err != nil {
		return err
	}
	if _, err := readReply(); err != nil {
		return err
	}
	tx := append([]byte("MAIL FROM:<a@fabrikam.com>\r\nRCPT TO:<b@contoso.com>\r\nDATA\r\n"), msg...)
	tx = append(tx, ".\r\n"...)
	for next.Add(1) <= n {
		if _, err := conn.Write(tx); err != nil {
			return err
		}
		for i := 0; i < 4; i++ {
			line, err := readReply()
			if err != nil || line[0] != '2' && line[0] != '3' {
				return fmt.Errorf("reply %d: %q, %v", i, line, err)
			}
		}
	}
	_, err = io.WriteString(conn, "QUIT\r\n")
	return err
}
