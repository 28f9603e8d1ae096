package scenarios_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exsim/exsim/internal/control"
	"github.com/exsim/exsim/scenarios"
	"github.com/exsim/exsim/topology"
	"github.com/exsim/exsim/transport"
)

// TestQueueStepsSeeEveryMatchingQueue: a delivery type names one queue per
// mailbox database; assert_queue passes when one of them is in the state
// asked for, whatever order Get-Queue lists them in, and retry_queue
// retries the ones holding messages.
func TestQueueStepsSeeEveryMatchingQueue(t *testing.T) {
	queues := []transport.QueueInfo{
		{Identity: `EX01\1`, DeliveryType: transport.DeliveryToMailbox, Status: transport.QueueReady, NextHopDomain: "mailbox database 0000000001"},
		{Identity: `EX01\2`, DeliveryType: transport.DeliveryToMailbox, Status: transport.QueueRetry, MessageCount: 1,
			NextHopDomain: "mailbox database 0000000002", LastError: "451 4.4.0 DNS query failed"},
	}
	var mu sync.Mutex
	var retried []string
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/servers/EX01/queues", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(queues)
	})
	mux.HandleFunc("POST /v1/servers/EX01/queues/retry", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		retried = append(retried, r.URL.Query().Get("queue"))
		mu.Unlock()
		w.Write([]byte("{}"))
	})
	ts := httptest.NewServer(mux)
	defer ts.Close()
	top, err := topology.Builtin("contoso")
	if err != nil {
		t.Fatal(err)
	}
	r := &scenarios.Runner{Env: env{c: &control.Client{BaseURL: ts.URL}, t: top}, Timeout: 300 * time.Millisecond}

	parse := func(steps string) *scenarios.Scenario {
		sc, err := scenarios.Parse("q.yaml", []byte("name: q\ntopology: contoso\nsteps:\n"+steps))
		if err != nil {
			t.Fatal(err)
		}
		return sc
	}
	res := r.RunOne(context.Background(), parse(`  - assert_queue: {server: EX01, delivery_type: SmtpDeliveryToMailbox, status: Retry, last_error_contains: "DNS query failed"}
  - retry_queue: {server: EX01, delivery_type: SmtpDeliveryToMailbox}
`))
	if !res.Pass {
		t.Fatalf("queue steps failed: %s", res.Error)
	}
	mu.Lock()
	if len(retried) != 1 || retried[0] != `EX01\2` {
		t.Errorf("Retry-Queue on %v, want only EX01\\2 (the one holding messages)", retried)
	}
	mu.Unlock()

	res = r.RunOne(context.Background(), parse("  - assert_queue: {server: EX01, delivery_type: SmtpDeliveryToMailbox, status: Suspended}\n"))
	if res.Pass || !strings.Contains(res.Error, `EX01\1 is Ready, want Suspended`) || !strings.Contains(res.Error, `EX01\2 is Retry, want Suspended`) {
		t.Errorf("no queue Suspended: pass=%v %s", res.Pass, res.Error)
	}
}
