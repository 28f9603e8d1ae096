package roles

import (
	"context"
	"crypto/tls"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/exsim/exsim/internal/control"
	"github.com/exsim/exsim/topology"
)

// The EWS streaming notification requests (EWS reference: Subscribe with
// StreamingSubscriptionRequest; GetStreamingEvents with ConnectionTimeout
// in minutes, 1 to 30).
const (
	streamingSubscribeRequest = `<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types" xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages">
  <soap:Header><t:RequestServerVersion Version="Exchange2016"/></soap:Header>
  <soap:Body>
    <m:Subscribe><m:StreamingSubscriptionRequest><t:FolderIds><t:DistinguishedFolderId Id="inbox"/></t:FolderIds><t:EventTypes><t:EventType>NewMailEvent</t:EventType></t:EventTypes></m:StreamingSubscriptionRequest></m:Subscribe>
  </soap:Body>
</soap:Envelope>`
	getStreamingEventsRequest = `<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types" xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages">
  <soap:Header><t:RequestServerVersion Version="Exchange2016"/></soap:Header>
  <soap:Body>
    <m:GetStreamingEvents><m:SubscriptionIds><t:SubscriptionId>%s</t:SubscriptionId></m:SubscriptionIds><m:ConnectionTimeout>%d</m:ConnectionTimeout></m:GetStreamingEvents>
  </soap:Body>
</soap:Envelope>`
)

// readEWSStream opens an EWS streaming subscription on the inbox and holds
// its GetStreamingEvents connection for req.Hold, as a client waiting for
// new mail does. A connection that ends first is reported in Cut (an idle
// timeout in the path, a reset), not as an error: showing that cut is the
// point of the idle-timeout scenario.
func readEWSStream(ctx context.Context, src *Server, dst *topology.Server, port int, tlsConf *tls.Config, req control.ReadRequest) (control.ReadResponse, error) {
	res := control.ReadResponse{Subjects: []string{}}
	if err := checkHold("ews-stream", req.Hold); err != nil {
		return res, err
	}
	resp, u, err := ewsPost(ctx, src, dst, port, tlsConf, req, streamingSubscribeRequest, nil)
	if err != nil {
		return res, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if err != nil {
		return res, fmt.Errorf("ews: Subscribe: %w", err)
	}
	var env struct {
		Msg struct {
			Class string `xml:"ResponseClass,attr"`
			ID    string `xml:"SubscriptionId"`
		} `xml:"Body>SubscribeResponse>ResponseMessages>SubscribeResponseMessage"`
	}
	sub := &env.Msg
	if resp.StatusCode != http.StatusOK || xml.Unmarshal(body, &env) != nil || sub.Class != "Success" || sub.ID == "" {
		return res, fmt.Errorf("ews: Subscribe on %s: %s %.200s", u, resp.Status, body)
	}
	// The connection must outlive the hold: whole minutes, one more.
	minutes := int(req.Hold/time.Minute) + 1
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Exchange answers GetStreamingEvents with one chunked response that
	// may send nothing (not even its headers) until an event or a
	// keep-alive is due, so the hold starts with the request.
	start := time.Now()
	ended := make(chan error, 1)
	go func() {
		var broken error
		resp, _, err := ewsPost(sctx, src, dst, port, tlsConf, req, fmt.Sprintf(getStreamingEventsRequest, xmlEscape(sub.ID), minutes),
			func(err error) { broken = err })
		if err != nil {
			ended <- err
			return
		}
		defer resp.Body.Close()
		if broken != nil { // the 401 is the negotiator's, after a cut
			ended <- broken
			return
		}
		if resp.StatusCode != http.StatusOK {
			ended <- &refusedError{fmt.Errorf("ews: GetStreamingEvents on %s: %s", u, resp.Status)}
			return
		}
		_, err = io.Copy(io.Discard, resp.Body)
		if err == nil {
			err = errors.New("the server ended the response")
		}
		ended <- err
	}()
	cut, err := held(ctx, req.Hold, start, ended)
	if err != nil {
		return res, err
	}
	res.Cut = cut
	res.Detail = fmt.Sprintf("EWS GetStreamingEvents on %s as %s held open for %s", u, req.User, req.Hold)
	if cut != "" {
		res.Detail = fmt.Sprintf("EWS GetStreamingEvents on %s as %s ended before %s: %s", u, req.User, req.Hold, cut)
	}
	return res, nil
}

// held waits until hold has passed or the held connection ended (its
// error on ended; nil: it was answered, not cut). It returns why the
// connection ended early ("" when it lasted) or the refusal that is an
// answer rather than a cut.
func held(ctx context.Context, hold time.Duration, start time.Time, ended <-chan error) (cut string, err error) {
	t := time.NewTimer(hold)
	defer t.Stop()
	select {
	case <-t.C:
		return "", nil
	case err := <-ended:
		if r, ok := err.(*refusedError); ok {
			return "", r.err
		}
		if err == nil {
			return "", nil
		}
		return fmt.Sprintf("after %s: %v", time.Since(start).Round(100*time.Millisecond), err), nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// checkHold bounds the hold of a held read.
func checkHold(protocol string, hold time.Duration) error {
	if hold <= 0 || hold > 29*time.Minute {
		return &control.BadInputError{Msg: fmt.Sprintf("%s: hold %s: give 1s to 29m", protocol, hold)}
	}
	return nil
}

// watchErrors reports the errors of the round trips it makes.
type watchErrors struct {
	rt    http.RoundTripper
	onErr func(error)
}

func (w watchErrors) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := w.rt.RoundTrip(r)
	if err != nil {
		w.onErr(err)
	}
	return resp, err
}

// refusedError is a GetStreamingEvents the server answered with an
// error status: the step fails, whatever it expected.
type refusedError struct{ err error }

func (e *refusedError) Error() string { return e.err.Error() }

func xmlEscape(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}
