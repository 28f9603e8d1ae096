// Command fsyncsink is the durable reference of internal/bench/relay.sh:
// go-smtp's server writing every message to a file of its own and fsyncing
// it before the 250, and nothing else (no queue, no second hop). It listens
// on loopback only.
//
//	go run ./internal/bench/fsyncsink -listen 127.0.0.1:12525 -dir /tmp/sink
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/emersion/go-smtp"
)

type sink struct {
	dir string
	seq atomic.Int64
}

func (s *sink) NewSession(*smtp.Conn) (smtp.Session, error) { return session{s}, nil }

type session struct{ s *sink }

func (session) Reset()                               {}
func (session) Logout() error                        { return nil }
func (session) Mail(string, *smtp.MailOptions) error { return nil }
func (session) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (x session) Data(r io.Reader) (err error) {
	name := filepath.Join(x.s.dir, fmt.Sprintf("%09d.eml", x.s.seq.Add(1)))
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	if _, err = io.Copy(f, r); err == nil {
		err = f.Sync()
	}
	return err
}

func main() {
	listen := flag.String("listen", "127.0.0.1:12525", "loopback address to listen on")
	dir := flag.String("dir", "", "directory for the messages (required)")
	flag.Parse()
	host, _, err := net.SplitHostPort(*listen)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		log.Fatalf("fsyncsink: -listen %q: want a loopback address and port", *listen)
	}
	if *dir == "" {
		log.Fatal("fsyncsink: -dir is required")
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		log.Fatal(err)
	}
	srv := smtp.NewServer(&sink{dir: *dir})
	srv.Addr, srv.Domain = *listen, "sink.localhost"
	srv.MaxMessageBytes = 64 << 20
	log.Fatal(srv.ListenAndServe())
}
