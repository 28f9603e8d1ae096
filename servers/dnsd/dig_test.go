package dnsd

import (
	"context"
	"net"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/exsim/exsim/servers/internal/servertest"
)

// TestDig queries the server with BIND's dig, the client engineers use.
func TestDig(t *testing.T) {
	dig := servertest.NeedTool(t, "dig")
	_, addr := startServer(t, testZones(t), Options{Name: "DNS01"})
	host, port, _ := net.SplitHostPort(addr)
	tests := []struct {
		name   string
		args   []string
		status string
		flags  []string // must be in the header flags
		not    []string // must not be
		answer []string // substrings of the ANSWER section, in order
		count  int      // answers, -1: do not check
		output []string // substrings of the whole output
	}{
		{name: "MX", args: []string{"MX", "contoso.com"}, status: "NOERROR", flags: []string{"qr", "aa"}, not: []string{"ra", "tc"},
			answer: []string{"contoso.com.\t\t300\tIN\tMX\t10 edge01.contoso.com."}, count: 1,
			output: []string{"edge01.contoso.com.\t300\tIN\tA\t127.0.10.1"}},
		{name: "A", args: []string{"A", "ex02.contoso.com"}, status: "NOERROR", flags: []string{"aa"},
			answer: []string{"127.0.20.2"}, count: 1},
		{name: "reverse", args: []string{"-x", "127.0.20.1"}, status: "NOERROR", flags: []string{"aa"},
			answer: []string{"1.20.0.127.in-addr.arpa. 300\tIN\tPTR\tex01.contoso.com."}, count: 1},
		{name: "reverse v6", args: []string{"-x", "fd00:20::1"}, status: "NOERROR", flags: []string{"aa"},
			answer: []string{"ip6.arpa. 300 IN PTR ex01.contoso.com."}, count: 1},
		{name: "SOA", args: []string{"SOA", "fabrikam.com"}, status: "NOERROR", flags: []string{"aa"},
			answer: []string{"SOA\tdns01.contoso.com. hostmaster.fabrikam.com. 1 3600 600 86400 300"}, count: 1},
		{name: "NS", args: []string{"NS", "contoso.com"}, status: "NOERROR", flags: []string{"aa"},
			answer: []string{"NS\tdns01.contoso.com."}, count: 1, output: []string{"127.0.20.53"}},
		{name: "TCP", args: []string{"+tcp", "A", "mail.contoso.com"}, status: "NOERROR", flags: []string{"aa"},
			answer: []string{"127.0.20.1"}, count: 1, output: []string{"(TCP)"}},
		{name: "NXDOMAIN", args: []string{"A", "nosuch.contoso.com"}, status: "NXDOMAIN", flags: []string{"aa"}, count: 0,
			output: []string{"AUTHORITY SECTION:\ncontoso.com.\t\t300\tIN\tSOA"}},
		{name: "refused", args: []string{"A", "www.example.org"}, status: "REFUSED", not: []string{"aa", "ra"}, count: 0},
		{name: "refused without RD", args: []string{"+norecurse", "A", "www.example.org"}, status: "REFUSED", not: []string{"aa", "rd"}, count: 0},
		{name: "chaos", args: []string{"CH", "TXT", "version.bind"}, status: "REFUSED", count: 0},
		{name: "AXFR", args: []string{"AXFR", "contoso.com"}, output: []string{"Transfer failed."}, count: -1},
		{name: "truncated, retried over TCP", args: []string{"+noedns", "A", "big.contoso.com"}, status: "NOERROR",
			flags: []string{"aa"}, not: []string{"tc"}, count: bigCount,
			output: []string{"Truncated, retrying in TCP mode.", "(TCP)"}},
		{name: "truncated, ignored", args: []string{"+noedns", "+ignore", "A", "big.contoso.com"}, status: "NOERROR",
			flags: []string{"aa", "tc"}, count: 0, output: []string{"(UDP)"}},
		{name: "truncated MX, ignored", args: []string{"+noedns", "+ignore", "+notcp", "MX", "many.contoso.com"}, status: "NOERROR",
			flags: []string{"aa", "tc"}, count: 0},
		{name: "EDNS big buffer", args: []string{"+bufsize=4096", "+ignore", "A", "big.contoso.com"}, status: "NOERROR",
			flags: []string{"aa"}, not: []string{"tc"}, count: bigCount, output: []string{"EDNS: version: 0", "udp: 1232"}},
		{name: "EDNS version 1", args: []string{"+edns=1", "+noednsneg", "A", "ex01.contoso.com"}, status: "BADVERS", count: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			args := append([]string{"-p", port, "@" + host, "+tries=1", "+time=3"}, tc.args...)
			out, err := exec.CommandContext(ctx, dig, args...).CombinedOutput()
			text := string(out)
			if err != nil && tc.status != "" {
				t.Fatalf("dig %s: %v\n%s", strings.Join(args, " "), err, text)
			}
			if tc.status != "" {
				if got := digField(text, `status: (\w+)`); got != tc.status {
					t.Errorf("dig %s: status = %q, want %q\n%s", strings.Join(tc.args, " "), got, tc.status, text)
				}
			}
			flags := strings.Fields(digField(text, `flags: ([a-z ]*);`))
			for _, f := range tc.flags {
				if !contains(flags, f) {
					t.Errorf("dig %s: flags = %q, want %q among them", strings.Join(tc.args, " "), flags, f)
				}
			}
			for _, f := range tc.not {
				if contains(flags, f) {
					t.Errorf("dig %s: flags = %q, want no %q", strings.Join(tc.args, " "), flags, f)
				}
			}
			if tc.count >= 0 {
				if got := digField(text, `ANSWER: (\d+)`); got != itoa(tc.count) {
					t.Errorf("dig %s: ANSWER: %s, want %d\n%s", strings.Join(tc.args, " "), got, tc.count, text)
				}
			}
			rest := text
			for _, a := range tc.answer {
				i := strings.Index(rest, a)
				if i < 0 || !strings.Contains(text, "ANSWER SECTION:") {
					t.Errorf("dig %s: answer %q missing\n%s", strings.Join(tc.args, " "), a, text)
					break
				}
				rest = rest[i+len(a):]
			}
			for _, o := range tc.output {
				if !strings.Contains(text, o) {
					t.Errorf("dig %s: output lacks %q\n%s", strings.Join(tc.args, " "), o, text)
				}
			}
		})
	}
}

func digField(text, re string) string {
	m := regexp.MustCompile(re).FindStringSubmatch(text)
	if m == nil {
		return ""
	}
	return m[1]
}

func contains(list []string, s string) bool { return slices.Contains(list, s) }

func itoa(n int) string { return strconv.Itoa(n) }
