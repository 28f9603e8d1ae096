package probe

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"

	"github.com/exsim/exsim/internal/labnet"
)

// checkHTTP sends GET / (over TLS with a verified lab certificate for
// https) and requires Exchange's answer on an Exchange server: X-FEServer
// naming the destination's NetBIOS name (EXCHANGE.md section 6).
func (s *session) checkHTTP(ctx context.Context, conn net.Conn) verdict {
	rw, scheme, defaultPort, certDesc := net.Conn(conn), "http", 80, ""
	if s.f.Check == CheckHTTPS {
		tc, desc, v, ok := s.handshake(ctx, conn)
		if !ok {
			return v
		}
		defer tc.Close()
		rw, scheme, defaultPort, certDesc = tc, "https", 443, "; "+desc
	}
	host := s.f.WantName
	if s.f.Port != defaultPort {
		host = net.JoinHostPort(host, strconv.Itoa(s.f.Port))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+host+"/", nil)
	if err != nil {
		return failed(err)
	}
	req.Header.Set("User-Agent", "exsim-probe")
	req.Close = true
	if err := req.Write(rw); err != nil {
		return s.broken(err, "HTTP response")
	}
	resp, err := http.ReadResponse(bufio.NewReader(rw), req)
	if err != nil && s.f.Check == CheckHTTPS && clientCertRequired(err) {
		// The Exchange Back End site (444) accepts Exchange servers only; its
		// lab certificate for the right name was verified above.
		return verdict{outcome: OutcomeOpen, detail: "requires an Exchange server certificate (none presented)" + certDesc}
	}
	if err != nil {
		if labnet.IsTimeout(err) || isEOF(err) || errors.Is(err, syscall.ECONNRESET) {
			return s.broken(err, "HTTP response")
		}
		return verdict{outcome: OutcomeWrongPeer, detail: "not an HTTP answer: " + clip(err.Error())}
	}
	resp.Body.Close()
	fe := resp.Header.Get("X-FEServer")
	detail := "HTTP " + resp.Status
	if fe != "" {
		detail += ", X-FEServer: " + fe
	}
	if srv := resp.Header.Get("Server"); srv != "" {
		detail += ", Server: " + srv
	}
	detail = clip(detail) + certDesc
	if s.exchange() && !strings.EqualFold(fe, s.dst.Name) {
		if fe == "" {
			return verdict{outcome: OutcomeWrongPeer, detail: detail + ": no X-FEServer, not Exchange"}
		}
		return verdict{outcome: OutcomeWrongPeer, detail: detail + ": that is " + fe + ", not " + s.dst.Name}
	}
	return verdict{outcome: OutcomeOpen, detail: detail}
}
