package rca

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/exsim/exsim/internal/easclient"
)

// The device the Exchange ActiveSync test plays. RCA's own partnerships
// show the device type TestActiveSyncConnectivity in Get-MobileDevice
// (seen in Exchange admins' reports; Microsoft documents no value).
const (
	easDeviceID   = "ExsimRCA0001"
	easDeviceType = "TestActiveSyncConnectivity"
	// easHeartbeat is the Ping's HeartbeatInterval: Exchange's smallest
	// (60 s, MinHeartbeatInterval), so a Ping nothing wakes ends soonest.
	easHeartbeat = 60
	// easTimeout bounds the test: a Ping that expires takes easHeartbeat.
	easTimeout = easHeartbeat*time.Second + 30*time.Second
	// easSubject is the subject of the message the test sends the user to
	// wake its Ping.
	easSubject = "exsim rca ActiveSync test message"
)

// activeSync is RCA's Exchange ActiveSync test: Autodiscover (mobilesync),
// OPTIONS with Basic authentication as a device sends it (MS-ASHTTP
// 2.2.3), then the commands of a new phone with internal/easclient:
// Provision (the MS-ASPROV policy key dance), FolderSync, a Sync of the
// Inbox, and a Ping on the Inbox woken by a message the test sends the
// user with SendMail. A Ping that expires (Status 1) passes too: the
// server kept the long poll for the whole heartbeat.
func activeSync(r *run) {
	ad, ok := r.autodiscover(true)
	if !ok {
		return
	}
	var easURL string
	for _, s := range ad.Mobile {
		if s.Type == "MobileSync" {
			easURL = s.URL
		}
	}
	w, u, ok := r.webFor(easURL)
	if !ok || !w.challenge(http.MethodOptions, u.Path, "Basic") {
		return
	}
	if !r.step("OPTIONS "+u.Path+" as "+r.o.User+" (Basic authentication)", func() (string, error) {
		resp, b, err := w.do("basic", http.MethodOptions, u.Path, nil, nil)
		if err != nil {
			return "", err
		}
		if resp.StatusCode != http.StatusOK {
			return "", statusErr(resp, b)
		}
		vers := resp.Header.Get("MS-ASProtocolVersions")
		if !strings.Contains(vers, "14.1") && !strings.Contains(vers, "16.1") {
			return "", fmt.Errorf("MS-ASProtocolVersions %q offers neither 14.1 nor 16.1", vers)
		}
		return "MS-ASProtocolVersions " + vers, nil
	}) {
		return
	}
	c := &easclient.Client{URL: w.url(u.Path), User: r.o.User, Password: r.o.Password,
		DeviceID: easDeviceID, DeviceType: easDeviceType, HTTP: w.client("")}
	var inbox easclient.Folder
	ok = r.step("Provision: download the policy and acknowledge it (MS-ASPROV)", func() (string, error) {
		if err := c.Provision(r.ctx); err != nil {
			return "", easErr(err)
		}
		return "final policy key " + c.PolicyKey(), nil
	}) && r.step("FolderSync the folder hierarchy", func() (string, error) {
		fs, err := c.FolderSync(r.ctx)
		if err != nil {
			return "", easErr(err)
		}
		var found bool
		if inbox, found = c.FolderOfType(easclient.TypeInbox); !found {
			return fmt.Sprintf("%d folders", len(fs)), errors.New("no folder of type 2 (Inbox)")
		}
		return fmt.Sprintf("%d folders; Inbox is ServerId %s", len(fs), inbox.ServerID), nil
	}) && r.step("Sync the Inbox", func() (string, error) {
		n, err := syncAll(r.ctx, c, inbox.ServerID)
		if err != nil {
			return fmt.Sprintf("%d items", n), easErr(err)
		}
		return fmt.Sprintf("%d items in the Inbox", n), nil
	})
	if ok {
		easPing(r, c, inbox)
	}
}

// syncAll syncs a collection until the server has nothing more and
// returns the number of items it brought.
func syncAll(ctx context.Context, c *easclient.Client, id string) (int, error) {
	n := 0
	for range 100 {
		res, err := c.Sync(ctx, id, easclient.SyncOptions{WindowSize: 100, Truncation: 512})
		if err != nil {
			return n, err
		}
		n += len(res.Added)
		if !res.MoreAvailable {
			return n, nil
		}
	}
	return n, errors.New("the server still had more items after 100 Sync requests")
}

// easPing waits on the Inbox with Ping while SendMail sends the user a
// message: the delivery wakes the Ping with Status 2.
func easPing(r *run, c *easclient.Client, inbox easclient.Folder) {
	type result struct {
		status  int
		folders []string
		err     error
		took    time.Duration
	}
	ctx, cancel := context.WithCancel(r.ctx)
	defer cancel()
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		st, fs, err := c.Ping(ctx, easHeartbeat, "Email", inbox.ServerID)
		done <- result{st, fs, err, time.Since(start)}
	}()
	mime := fmt.Sprintf("From: %[1]s\r\nTo: %[1]s\r\nSubject: %[2]s\r\nDate: %[3]s\r\nMessage-ID: <rca-eas-%[4]d@exsim.invalid>\r\n"+
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThis message was sent by exsim rca's Exchange ActiveSync test to wake its Ping.\r\n",
		r.o.User, easSubject, time.Now().UTC().Format(time.RFC1123Z), time.Now().UnixNano())
	if !r.step("SendMail a test message to "+r.o.User, func() (string, error) {
		if err := c.SendMail(ctx, "rca-1", []byte(mime), false); err != nil {
			return "", easErr(err)
		}
		return "accepted: " + easSubject, nil
	}) {
		return
	}
	r.step(fmt.Sprintf("Ping the Inbox (HeartbeatInterval %d s)", easHeartbeat), func() (string, error) {
		var res result
		select {
		case res = <-done:
		case <-r.ctx.Done():
			return "", fmt.Errorf("no answer to the Ping within the test's time: %w", r.ctx.Err())
		}
		if res.err != nil {
			return "", easErr(res.err)
		}
		switch res.status {
		case easclient.PingChanges:
			for _, f := range res.folders {
				if f == inbox.ServerID {
					return fmt.Sprintf("Status 2: the Inbox changed (after %s)", res.took.Round(time.Millisecond)), nil
				}
			}
			return "", fmt.Errorf("Status 2 for folders %v, not the Inbox %s", res.folders, inbox.ServerID)
		default:
			return fmt.Sprintf("Status 1: the heartbeat expired after %s with no change (the test message was not delivered in time)", res.took.Round(time.Second)), nil
		}
	})
}

// easErr adds what an ActiveSync failure means to the error.
func easErr(err error) error {
	var he *easclient.HTTPError
	var se *easclient.StatusError
	switch {
	case errors.As(err, &he) && he.Code == http.StatusUnauthorized:
		return fmt.Errorf("%w: the credentials were refused", err)
	case errors.As(err, &he) && he.Code == http.StatusForbidden:
		return fmt.Errorf("%w: ActiveSync is disabled for the user, or the device is blocked or quarantined", err)
	case errors.As(err, &se) && se.Status == 142:
		return fmt.Errorf("%w: the server still asks for provisioning after the policy was acknowledged", err)
	}
	return explainDial(err)
}
