package control_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/exsim/exsim/internal/cdp"
	"github.com/exsim/exsim/internal/labtest"
	"github.com/exsim/exsim/topology"
)

// TestChromiumDashboard drives a real browser through the dashboard: the
// token form, the five servers, "Run probe" turning every flow's state
// from unknown to its outcome over server-sent events, a fault injected
// and cleared through the form, a blocked message's queue suspended,
// resumed and retried, and a tracking search with the message's path.
// Screenshots go to cdp.ArtifactDir.
func TestChromiumDashboard(t *testing.T) {
	chromium := cdp.Chromium(t)
	// Retries far in the future: only the Retry button delivers soon.
	rt, base := startDashboard(t, func(top *topology.Topology) {
		long := topology.Duration(time.Hour)
		top.Timers.TransientFailureRetryInterval = &long
		top.Timers.OutboundConnectionFailureRetryInterval = &long
		top.Timers.MessageRetryInterval = &long
	})
	dir := cdp.ArtifactDir(t)
	b := cdp.Start(t, chromium, nil)

	b.Navigate(base + "/")
	if n := b.Eval(`document.querySelectorAll('input[name=token]').length`); n != float64(1) {
		t.Fatalf("the first visit shows no token form: %s", b.EvalString("document.body.innerText"))
	}
	b.ClickAndWait(`document.getElementById('token').value='wrong'; document.getElementById('signin').click()`)
	if got := b.EvalString(`(document.getElementById('login-error')||{}).textContent||''`); !strings.Contains(got, "not the admin token") {
		t.Errorf("after a wrong token the page says %q", got)
	}
	t.Logf("screenshot: %s", b.Screenshot(dir, "1-login.png"))
	b.ClickAndWait(`document.getElementById('token').value='` + testToken + `'; document.getElementById('signin').click()`)
	if got := b.EvalString(`document.getElementById('flash').textContent`); got != "" {
		t.Errorf("after signing in the page still says %q", got)
	}

	// The five servers, in the table and in the picture.
	servers := b.EvalString(`[...document.querySelectorAll('#server-table tbody tr')].map(r => r.dataset.server).join(',')`)
	if servers != "EDGE01,EX01,EX02,DNS01,INET01" {
		t.Errorf("server table = %s, want the five servers of contoso", servers)
	}
	pictured := b.EvalString(`[...document.querySelectorAll('#picture svg text')].map(t => t.textContent).join('|')`)
	for _, s := range strings.Split("EDGE01,EX01,EX02,DNS01,INET01", ",") {
		if !slices.Contains(strings.Split(pictured, "|"), s) {
			t.Errorf("the topology picture lacks %s", s)
		}
	}
	b.WaitFor(`document.getElementById('live').classList.contains('on')`, patience, "the event stream")
	flows := b.Eval(`document.querySelectorAll('#flow-table tr.flow').length`).(float64)
	if unknown := b.Eval(`document.querySelectorAll('#flow-table tr.flow[data-state=unknown]').length`); flows < 20 || unknown != flows {
		t.Errorf("before any probe: %v flows, %v unknown; want every flow unknown", flows, unknown)
	}
	t.Logf("screenshot: %s", b.FullScreenshot(dir, "2-before-probe.png"))

	// Run probe: the states arrive over the event stream.
	b.Eval(`document.getElementById('run-probe').click()`)
	b.WaitFor(`document.querySelectorAll('#flow-table tr.flow[data-state=unknown]').length == 0`, 60*time.Second, "every flow probed")
	if failed := b.EvalString(`[...document.querySelectorAll('#flow-table tr.flow[data-state=fail]')].map(r => r.dataset.flow + ': ' + r.cells[5].textContent).join('\n')`); failed != "" {
		t.Errorf("flows failing on a healthy lab:\n%s", failed)
	}
	if got := b.EvalString(`document.getElementById('summary').textContent`); !strings.HasSuffix(got, ", 0 failed") {
		t.Errorf("summary = %q", got)
	}
	if green := b.Eval(`document.querySelectorAll('#picture svg path[stroke="#2e7d32"]').length`).(float64); green < 5 {
		t.Errorf("the picture has %v green arrows after a passing probe", green)
	}
	t.Logf("screenshot: %s", b.Screenshot(dir, "3-probed.png"))

	// Block EDGE01 -> EX01:25 through the fault form; probe again.
	b.Eval(`document.getElementById('fault-from').value='EDGE01'; document.getElementById('fault-to').value='EX01';
		document.getElementById('fault-port').value='25'; document.getElementById('fault-action').value='reset';
		document.getElementById('fault-add').click()`)
	b.WaitFor(`document.getElementById('flash').textContent.includes('fault')`, patience, "the fault form's answer")
	if got := b.EvalString(`document.getElementById('flash').textContent`); !strings.Contains(got, "injected") {
		t.Fatalf("fault form answered %q", got)
	}
	b.WaitFor(`[...document.querySelectorAll('#fault-table tr[data-fault]')].some(r => r.textContent.includes('EX01') && r.textContent.includes('from the dashboard'))`, patience, "the new fault listed")
	flow := edgeToMailbox(t)
	b.Eval(`document.getElementById('run-probe').click()`)
	b.WaitFor(`(document.querySelector('#flow-table tr[data-flow="`+flow+`"]')||{dataset:{}}).dataset.state == 'fail'`, 60*time.Second, flow+" failing")
	if red := b.Eval(`document.querySelectorAll('#picture svg path[stroke="#c62828"]').length`).(float64); red < 1 {
		t.Errorf("no red arrow in the picture with EDGE01 -> EX01:25 blocked")
	}

	// A message from the internet waits in the Edge's queue.
	sendInbound(t, rt, "Held at the Edge")
	row := `[...document.querySelectorAll('#queues tr[data-queue]')].find(r => r.dataset.queue.startsWith('EDGE01\\') && r.cells[1].textContent == 'SmtpRelayToServers')`
	b.WaitFor(row+`?.dataset.status == 'Retry'`, 30*time.Second, "the Edge's delivery queue in Retry")
	if got := b.EvalString(`[...document.querySelectorAll('#queues .queues')].map(q => q.dataset.server).join(',')`); got != "EDGE01,EX01,EX02,INET01" {
		t.Errorf("queues shown for %s, want every server with a transport (not DNS01)", got)
	}
	b.Eval(`document.getElementById('sec-queues').scrollIntoView(); 1`)
	t.Logf("screenshot: %s", b.Screenshot(dir, "4-blocked-queue.png"))
	b.Eval(row + `.querySelector('.q-suspend').click()`)
	b.WaitFor(row+`?.dataset.status == 'Suspended'`, patience, "Suspend-Queue shown")
	b.Eval(row + `.querySelector('.q-resume').click()`)
	b.WaitFor(row+`?.dataset.status != 'Suspended'`, patience, "Resume-Queue shown")

	// Unblock, Retry: delivered now, not in an hour.
	b.Eval(`[...document.querySelectorAll('#fault-table tr[data-fault]')].find(r => r.textContent.includes('from the dashboard')).querySelector('.f-clear').click()`)
	b.WaitFor(`![...document.querySelectorAll('#fault-table tr[data-fault]')].some(r => r.textContent.includes('from the dashboard'))`, patience, "the fault cleared")
	b.Eval(row + `.querySelector('.q-retry').click()`)
	b.WaitFor(`document.getElementById('flash').textContent.includes('Retry-Queue EDGE01')`, patience, "Retry-Queue's answer")
	labtest.Eventually(t, patience, "the held message in alice's inbox", func() bool { return slices.Contains(inbox(rt, "EX01", "alice@contoso.com"), "Held at the Edge") })
	b.WaitFor(`!`+row+` || `+row+`.querySelector('td.num').textContent.trim() == '0'`, patience, "the Edge queue empty")

	// Track it: the path across the hops.
	b.ClickAndWait(`document.getElementById('track-sender').value='carol@fabrikam.com';
		document.getElementById('track-subject').value='Held at the Edge'; document.getElementById('track-search').click()`)
	if n := b.Eval(`document.querySelectorAll('#tracking article.message').length`); n != float64(1) {
		t.Fatalf("tracking search found %v messages, want 1: %s", n, b.EvalString(`document.getElementById('tracking').innerText`))
	}
	if path := b.EvalString(`[...document.querySelectorAll('#tracking .path .hop')].map(h => h.textContent).join(' -> ')`); path != "EDGE01 -> EX01" { // sent from INET01's position, not through its queue
		t.Errorf("tracked path = %q, want EDGE01 -> EX01", path)
	}
	events := b.EvalString(`[...document.querySelectorAll('#tracking .timeline li')].map(l => l.querySelector('.hop').textContent + ' ' + l.querySelector('.event').textContent).join(', ')`)
	for _, want := range []string{"EDGE01 RECEIVE", "EDGE01 DEFER", "EDGE01 SEND", "EX01 RECEIVE", "EX01 DELIVER"} {
		if !strings.Contains(events, want) {
			t.Errorf("timeline %q lacks %s", events, want)
		}
	}
	b.Eval(`document.getElementById('sec-tracking').scrollIntoView(); 1`)
	t.Logf("screenshot: %s", b.Screenshot(dir, "5-tracking.png"))
	b.Eval(`window.scrollTo(0, 0); 1`)
	t.Logf("screenshot: %s", b.FullScreenshot(dir, "6-whole-page.png"))
}
