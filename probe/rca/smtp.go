package rca

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/exsim/exsim/transport/smtpclient"
)

// smtpHost resolves where the user's domain receives mail: the target, or
// the most preferred MX.
func (r *run) smtpHost() (string, bool) {
	if r.o.Target != "" {
		return r.o.Target, true
	}
	dom := domainOf(r.o.User)
	var host string
	ok := r.step("Resolve the MX records of "+dom, func() (string, error) {
		mxs, err := r.env.Resolver.LookupMX(r.ctx, dom)
		if err != nil {
			return "", err
		}
		var all []string
		for _, mx := range mxs {
			all = append(all, fmt.Sprintf("%s (preference %d)", mx.Host, mx.Pref))
		}
		host = mxs[0].Host
		return strings.Join(all, ", "), nil
	})
	return host, ok
}

// mailHost is smtpHost resolved to its address.
func (r *run) mailHost() (string, netip.Addr, bool) {
	host, ok := r.smtpHost()
	if !ok {
		return "", netip.Addr{}, false
	}
	addr, ok := r.resolve(host)
	return host, addr, ok
}

// session sets up SMTP on host:25: greeting, EHLO, STARTTLS and the
// certificate checks.
func (r *run) session(host string, addr netip.Addr) (*smtpclient.Client, bool) {
	conn, ok := r.connect(addr, 25)
	if !ok {
		return nil, false
	}
	var c *smtpclient.Client
	if !r.step("SMTP greeting, EHLO and STARTTLS", func() (string, error) {
		var err error
		c, err = smtpclient.NewClient(r.ctx, conn, smtpclient.Options{Helo: r.env.Helo, TLS: smtpclient.TLSRequired, TLSConfig: tlsConfig(host), Timeout: 10 * time.Second})
		if err != nil {
			return "", err
		}
		return c.Session.Greeting, nil
	}) {
		return nil, false
	}
	if !r.checkCert(c.Session.TLS, host) {
		c.Close()
		return nil, false
	}
	return c, true
}

// inboundSMTP is RCA's Inbound SMTP Email test: the MX of the user's
// domain takes a test message for the user over STARTTLS.
func inboundSMTP(r *run) {
	host, addr, ok := r.mailHost()
	if !ok {
		return
	}
	c, ok := r.session(host, addr)
	if !ok {
		return
	}
	defer c.Close()
	r.step("Send a test message to "+r.o.User, func() (string, error) {
		m := &smtpclient.Message{From: r.o.Sender, To: []string{r.o.User}, FromName: "Remote Connectivity Analyzer (exsim rca)",
			Subject: "exsim rca Inbound SMTP test message", Body: "This message was sent by exsim rca's Inbound SMTP Email test."}
		body, err := smtpclient.Build(m, time.Now(), r.env.Helo)
		if err != nil {
			return "", err
		}
		replies, err := c.Deliver(&smtpclient.Envelope{From: r.o.Sender, To: []smtpclient.Rcpt{{Address: r.o.User}}}, body)
		if err != nil {
			return "", err
		}
		rep := replies[r.o.User]
		if !rep.OK() {
			return "", errors.New(rep.String())
		}
		return rep.String(), nil
	})
}

// outboundSMTP is RCA's Outbound SMTP Email test as far as a lab can
// hold it: the organization's mail host (its MX, the Edge; or the target)
// has a reverse DNS name that resolves back to its address, and its SMTP
// banner names that host. RCA's SPF and block list checks have nothing to
// look at in a lab DNS and are not part of it.
func outboundSMTP(r *run) {
	host, addr, ok := r.mailHost()
	if !ok {
		return
	}
	var ptr string
	if !r.step("Reverse DNS of "+addr.String(), func() (string, error) {
		names, err := r.env.Resolver.LookupAddr(r.ctx, addr)
		if err != nil {
			return "", err
		}
		ptr = names[0]
		return "PTR " + strings.Join(names, ", "), nil
	}) || !r.step("Forward-confirm "+ptr, func() (string, error) {
		addrs, err := r.env.Resolver.LookupHost(r.ctx, ptr)
		if err != nil {
			return "", err
		}
		for _, a := range addrs {
			if a == addr {
				return fmt.Sprintf("%s resolves back to %s", ptr, addr), nil
			}
		}
		return "", fmt.Errorf("%s resolves to %s, not %s: receivers that check FCrDNS reject the mail", ptr, joinAddrs(addrs), addr)
	}) {
		return
	}
	c, ok := r.session(host, addr)
	if !ok {
		return
	}
	defer c.Close()
	r.step("The SMTP banner names "+ptr, func() (string, error) {
		g := c.Session.Greeting
		if !strings.Contains(strings.ToLower(g), strings.ToLower(ptr)) {
			return "", fmt.Errorf("banner %q does not name %s", g, ptr)
		}
		return g, nil
	})
}
