package probe

import (
	"context"
	"errors"
	"net"
	"strings"
	"time"

	"github.com/exsim/exsim/transport/smtpclient"
)

// exchangeBanner is the text of Exchange's SMTP greeting after the FQDN
// (EXCHANGE.md section 2).
const exchangeBanner = "Microsoft ESMTP MAIL Service ready"

// checkSMTP reads the greeting (it must name the destination's FQDN, and be
// Exchange's on an Exchange server), sends EHLO as the source server, and
// for smtp-starttls requires STARTTLS in the EHLO reply, upgrades and
// verifies the certificate.
func (s *session) checkSMTP(ctx context.Context, conn net.Conn) verdict {
	deadline, _ := ctx.Deadline()
	mode := smtpclient.TLSNone
	if s.f.Check == CheckSMTPStartTLS {
		mode = smtpclient.TLSOpportunistic
	}
	var heard []string // single goroutine: smtpclient traces from the caller's
	c, sess, err := smtpclient.Dial(ctx, conn, smtpclient.Options{
		Helo:      s.src.FQDN,
		TLS:       mode,
		TLSConfig: s.tlsConfig(),
		Timeout:   time.Until(deadline),
		Trace: func(dir, line string) {
			if dir == "<" && len(heard) < 64 {
				heard = append(heard, line)
			}
		},
	})
	if c != nil {
		defer func() {
			conn.SetDeadline(deadline)
			c.Quit()
			c.Close()
		}()
	}
	var se *smtpclient.Error
	errors.As(err, &se)
	if sess == nil || sess.Greeting == "" {
		switch {
		case se != nil && se.Reply != "":
			return verdict{outcome: OutcomeWrongPeer, detail: "greeting: " + clip(se.Reply)}
		case len(heard) > 0:
			return verdict{outcome: OutcomeWrongPeer, detail: "not an SMTP greeting: " + clip(heard[0])}
		case se != nil && se.Err != nil:
			return s.broken(se.Err, "SMTP greeting")
		}
		return s.broken(err, "SMTP greeting")
	}
	banner, _, _ := strings.Cut(sess.Greeting, "\n")
	if why := s.smtpIdentity(banner); why != "" {
		return verdict{outcome: OutcomeWrongPeer, detail: clip(banner) + ": " + why}
	}
	if err != nil {
		var step smtpclient.Step
		if se != nil {
			step = se.Step
		}
		switch step {
		case smtpclient.StepSTARTTLS:
			return verdict{outcome: OutcomeStartTLSStripped, detail: clip(banner) + "; STARTTLS refused: " + clip(smtpclient.ReplyText(err))}
		case smtpclient.StepTLS:
			return s.broken(se.Err, "TLS handshake after STARTTLS")
		case smtpclient.StepEHLO:
			if se.Reply != "" {
				return verdict{outcome: OutcomeWrongPeer, detail: clip(banner) + "; EHLO: " + clip(se.Reply)}
			}
			return s.broken(se.Err, "EHLO reply")
		}
		return s.broken(err, "SMTP session")
	}
	detail := clip(banner)
	if s.f.Check == CheckSMTPStartTLS {
		if !sess.OfferedSTARTTLS {
			return verdict{outcome: OutcomeStartTLSStripped, detail: detail + "; EHLO lacks STARTTLS: " + clip(strings.Join(sess.EHLO[min(1, len(sess.EHLO)):], " "))}
		}
		desc, v, ok := s.verifyPeer(sess.TLS)
		if !ok {
			return v
		}
		detail += "; STARTTLS " + desc
	}
	return verdict{outcome: OutcomeOpen, detail: detail}
}

// smtpIdentity says why a 220 greeting is not the destination's: the first
// word must be its FQDN, and an Exchange server must greet with Exchange's
// text. "" means it is.
func (s *session) smtpIdentity(banner string) string {
	fields := strings.Fields(banner)
	if len(fields) < 2 || len(fields[0]) < 3 || fields[0][:3] != "220" {
		return "not an SMTP greeting"
	}
	host := fields[1]
	if fields[0] != "220" { // "220-host ..." of a multi-line greeting
		host = strings.TrimPrefix(fields[0], "220-")
	}
	if !strings.EqualFold(strings.TrimSuffix(host, "."), s.f.WantName) {
		if other := s.p.Topology.ServerByFQDN(host); other != nil {
			return "that is " + other.Name + ", not " + s.dst.Name
		}
		return "the greeting names " + host + ", not " + s.f.WantName
	}
	if s.exchange() && !strings.Contains(banner, exchangeBanner) {
		return "not Exchange's greeting"
	}
	return ""
}
