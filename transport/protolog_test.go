package transport

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestProtocolLogDays: lines go to the file of their day (UTC), each file
// starting with Exchange's header, a line with a comma quoted.
func TestProtocolLogDays(t *testing.T) {
	dir := t.TempDir()
	l, err := NewProtocolLog(dir, ProtocolReceive, nil)
	if err != nil {
		t.Fatal(err)
	}
	day1 := time.Date(2026, 12, 5, 23, 59, 59, 0, time.UTC)
	l.Write(ProtocolLine{Time: day1, Connector: `EX01\Default EX01`, Session: "08DE", Event: "<", Data: "MAIL FROM:<a@contoso.com>"})
	l.Write(ProtocolLine{Time: day1.Add(time.Second), Connector: `EX01\Default EX01`, Session: "08DE", Seq: 1, Event: ">", Data: "250 2.1.0 Sender OK", Context: "a, b"})
	l.Close()
	for name, want := range map[string]string{
		"RECV20261205-1.log": "2026-12-05T23:59:59.000Z,EX01\\Default EX01,08DE,0,,,<,MAIL FROM:<a@contoso.com>,\r\n",
		"RECV20261206-1.log": "2026-12-06T00:00:00.000Z,EX01\\Default EX01,08DE,1,,,>,250 2.1.0 Sender OK,\"a, b\"\r\n",
	} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if s := string(b); !strings.HasPrefix(s, "#Software: Microsoft Exchange Server\r\n") || !strings.HasSuffix(s, want) {
			t.Errorf("%s:\n%q\nwant it to end with %q", name, s, want)
		}
	}
}
