package roles

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/exsim/exsim/internal/golden"
	"github.com/exsim/exsim/internal/labtest"
)

// transcript talks to one connector: banner, EHLO, STARTTLS, EHLO again,
// QUIT, and returns the S:/C: lines with the date and addresses made
// stable.
func transcript(t *testing.T, rt *Runtime, server string, port int) string {
	t.Helper()
	s := rt.Server(server).Config
	c, err := net.DialTimeout("tcp", net.JoinHostPort(s.Address, fmt.Sprint(port+labtest.PortOffset)), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	var b strings.Builder
	var conn net.Conn = c
	br := bufio.NewReader(conn)
	read := func() {
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("%s:%d: %v", server, port, err)
			}
			b.WriteString("S: " + strings.TrimRight(line, "\r\n") + "\n")
			if len(line) < 4 || line[3] != '-' {
				return
			}
		}
	}
	send := func(cmd string) {
		b.WriteString("C: " + cmd + "\n")
		fmt.Fprintf(conn, "%s\r\n", cmd)
		read()
	}
	read()
	send("EHLO client.example")
	send("STARTTLS")
	tc := tls.Client(c, rt.ca.ClientTLS(s.FQDN, nil))
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	conn, br = tc, bufio.NewReader(tc)
	send("EHLO client.example")
	send("QUIT")
	out := b.String()
	out = regexp.MustCompile(`ready at [A-Z][a-z]{2}, \d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d [+-]\d{4}`).ReplaceAllString(out, "ready at <date>")
	out = regexp.MustCompile(`Hello \[127\.\d+\.\d+\.\d+\]`).ReplaceAllString(out, "Hello [<client>]")
	return out
}

// TestConnectorTranscripts keeps a golden transcript of every Receive
// connector of both built-in labs (go test ./roles -run Transcripts -update).
func TestConnectorTranscripts(t *testing.T) {
	rt := startLab(t, "contoso", nil)
	for _, tc := range []struct {
		server, connector string
		port              int
	}{
		{"EX01", "Default Frontend", 25},
		{"EX01", "Client Frontend", 587},
		{"EX01", "Outbound Proxy Frontend", 717},
		{"EX01", "Default", 2525},
		{"EX01", "Client Proxy", 465},
		{"EX01", "Default Mailbox Delivery", 475},
		{"EDGE01", "Default internal Receive connector", 25},
	} {
		name := strings.ReplaceAll(tc.server+" "+tc.connector, " ", "_")
		t.Run(name, func(t *testing.T) {
			got := transcript(t, rt, tc.server, tc.port)
			golden.Check(t, filepath.Join("testdata", "connectors", name+".txt"), got)
		})
	}
}
