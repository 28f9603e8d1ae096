// Command idleconns measures what idle connections cost a server: it reads
// the resident set (VmRSS) of the server's process, opens -n connections
// to -addr, each from a loopback source of its own group of -per-source
// (Exchange's Receive connectors allow 20 connections per source), reads
// each greeting, waits -settle and reads VmRSS again, then closes them.
// internal/bench/memory.sh runs it against the lab's SMTP and IMAP ports.
//
//	go run ./internal/bench/idleconns -pid 1234 -addr 127.0.20.1:13125 -n 5000
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

func main() {
	pid := flag.Int("pid", 0, "process whose VmRSS is measured (required)")
	addr := flag.String("addr", "", "loopback host:port to connect to (required)")
	n := flag.Int("n", 5000, "connections to open")
	per := flag.Int("per-source", 20, "connections per loopback source address (127.77.x.y)")
	settle := flag.Duration("settle", 3*time.Second, "wait after the last greeting before measuring")
	flag.Parse()
	host, _, err := net.SplitHostPort(*addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() || *pid <= 0 || *n <= 0 || *per <= 0 {
		log.Fatal("idleconns: need -pid, -addr with a loopback address, -n > 0 and -per-source > 0")
	}
	before, err := rss(*pid)
	if err != nil {
		log.Fatal(err)
	}
	conns := make([]net.Conn, 0, *n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < *n; i++ {
		k := i / *per
		src := &net.TCPAddr{IP: net.IPv4(127, 77, byte(k/250), byte(k%250+1))}
		d := net.Dialer{LocalAddr: src, Timeout: 10 * time.Second}
		c, err := d.Dial("tcp", *addr)
		if err != nil {
			log.Fatalf("idleconns: connection %d: %v", i+1, err)
		}
		conns = append(conns, c)
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		line, err := bufio.NewReaderSize(c, 512).ReadString('\n')
		if err != nil {
			log.Fatalf("idleconns: connection %d: greeting: %v", i+1, err)
		}
		if !strings.HasPrefix(line, "220 ") && !strings.HasPrefix(line, "* OK") {
			log.Fatalf("idleconns: connection %d refused: %q", i+1, strings.TrimSpace(line))
		}
	}
	time.Sleep(*settle)
	after, err := rss(*pid)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s: %d idle connections: RSS %.1f MB -> %.1f MB (%.1f KB per connection)\n",
		*addr, *n, mb(before), mb(after), float64(after-before)/1024/float64(*n))
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }

// rss reads VmRSS of pid in bytes.
func rss(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, errors.New("idleconns: no VmRSS in /proc/" + strconv.Itoa(pid) + "/status")
}
