package proxyd

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// The HTTP proxy of the open proxy tests: CONNECT (RFC 9110 section 9.3.6)
// opens a tunnel; a request whose target is an absolute URI (RFC 9112 section
// 3.2.2), such as sender reputation's HTTP POST test, is forwarded to the
// origin with Connection: close and the origin's bytes are relayed back
// unchanged, whatever protocol the origin speaks (an SMTP banner included).

const (
	httpMaxHeaders     = 100
	httpMaxHeaderBytes = 32 << 10
)

// httpError is a request the proxy answers with status.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return fmt.Sprintf("proxyd: http %d: %s", e.status, e.msg) }

func badRequest(format string, a ...any) error {
	return &httpError{status: http.StatusBadRequest, msg: fmt.Sprintf(format, a...)}
}

type headerField struct{ name, value string }

// httpRequest is a proxy request head.
type httpRequest struct {
	method, target, proto string
	connect               bool
	host                  string // address literal or name
	port                  uint16
	path                  string // origin-form target for forwarding
	header                []headerField
}

// readHTTPLine reads one line of at most the reader's buffer size without its
// CRLF (a bare LF is accepted too).
func readHTTPLine(br *bufio.Reader, status int) (string, error) {
	line, err := br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return "", &httpError{status: status, msg: "line too long"}
	}
	if err != nil {
		return "", err
	}
	line = bytes.TrimSuffix(line[:len(line)-1], []byte{'\r'})
	return string(line), nil
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// readHTTPProxyRequest reads and checks a proxy request head.
func readHTTPProxyRequest(br *bufio.Reader) (*httpRequest, error) {
	line, err := readHTTPLine(br, http.StatusRequestURITooLong)
	if err != nil {
		return nil, err
	}
	parts := strings.Split(line, " ")
	if len(parts) != 3 || !isToken(parts[0]) || parts[1] == "" {
		return nil, badRequest("malformed request line")
	}
	r := &httpRequest{method: parts[0], target: parts[1], proto: parts[2]}
	switch {
	case r.proto == "HTTP/1.0" || r.proto == "HTTP/1.1":
	case strings.HasPrefix(r.proto, "HTTP/"):
		return nil, &httpError{status: http.StatusHTTPVersionNotSupported, msg: "unsupported version " + r.proto}
	default:
		return nil, badRequest("malformed request line")
	}
	if err := r.parseTarget(); err != nil {
		return nil, err
	}

	total := len(line)
	for {
		line, err := readHTTPLine(br, http.StatusRequestHeaderFieldsTooLarge)
		if err != nil {
			return nil, err
		}
		if line == "" {
			break
		}
		total += len(line)
		if total > httpMaxHeaderBytes || len(r.header) >= httpMaxHeaders {
			return nil, &httpError{status: http.StatusRequestHeaderFieldsTooLarge, msg: "header too large"}
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || !isToken(name) { // obs-fold (RFC 9112 section 5.2) ends up here too
			return nil, badRequest("malformed header line")
		}
		if strings.ContainsAny(value, "\x00\r") {
			return nil, badRequest("malformed header value")
		}
		r.header = append(r.header, headerField{name: name, value: strings.TrimSpace(value)})
	}
	return r, nil
}

// parseTarget reads the destination out of the request target.
func (r *httpRequest) parseTarget() error {
	if r.method == http.MethodConnect {
		// RFC 9110 section 9.3.6: authority-form, port required.
		h, p, err := net.SplitHostPort(r.target)
		if err != nil {
			return badRequest("invalid CONNECT target")
		}
		port, err := parsePort(p)
		if err != nil || !validHost(h) {
			return badRequest("invalid CONNECT target")
		}
		r.connect, r.host, r.port = true, h, port
		return nil
	}
	if strings.HasPrefix(r.target, "/") || r.target == "*" {
		return badRequest("not a proxy request")
	}
	u, err := url.Parse(r.target)
	if err != nil || !strings.EqualFold(u.Scheme, "http") || u.Host == "" {
		return badRequest("unsupported request target")
	}
	r.host = u.Hostname()
	if !validHost(r.host) {
		return badRequest("invalid host")
	}
	r.port = 80
	if p := u.Port(); p != "" {
		if r.port, err = parsePort(p); err != nil {
			return badRequest("invalid port")
		}
	}
	r.path = u.RequestURI()
	return nil
}

func parsePort(p string) (uint16, error) {
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("invalid port %q", p)
	}
	return uint16(n), nil
}

// hopByHop are the headers a proxy does not forward (RFC 9110 section 7.6.1).
func hopByHop(name string) bool {
	switch strings.ToLower(name) {
	case "connection", "proxy-connection", "keep-alive", "proxy-authorization",
		"proxy-authenticate", "te", "upgrade":
		return true
	}
	return false
}

// forwardHead is the request head sent to the origin: origin-form target,
// hop-by-hop headers dropped, Connection: close.
func (r *httpRequest) forwardHead() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s %s\r\n", r.method, r.path, r.proto)
	hasHost := false
	for _, h := range r.header {
		if hopByHop(h.name) {
			continue
		}
		hasHost = hasHost || strings.EqualFold(h.name, "Host")
		fmt.Fprintf(&b, "%s: %s\r\n", h.name, h.value)
	}
	if !hasHost {
		host := r.host
		if r.port != 80 {
			host = net.JoinHostPort(r.host, strconv.Itoa(int(r.port)))
		} else if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
		fmt.Fprintf(&b, "Host: %s\r\n", host)
	}
	b.WriteString("Connection: close\r\n\r\n")
	return b.Bytes()
}

// writeHTTPError answers with status and closes the exchange.
func writeHTTPError(w io.Writer, status int, msg string) error {
	body := fmt.Sprintf("%d %s: %s\n", status, http.StatusText(status), msg)
	_, err := fmt.Fprintf(w, "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		status, http.StatusText(status), len(body), body)
	return err
}

// serveHTTP serves one proxy request per connection.
func (s *Server) serveHTTP(ss *session) error {
	r, err := readHTTPProxyRequest(ss.br)
	if err != nil {
		var he *httpError
		if errors.As(err, &he) {
			ss.log.Debug("bad request", "code", strconv.Itoa(he.status), "err", err)
			writeHTTPError(ss.conn, he.status, he.msg)
		}
		return err
	}
	up, err := s.connect(ss, r.host, r.port)
	if err != nil {
		status := failReplies[failureOf(err)].http
		ss.log.Debug("connect failed", "code", strconv.Itoa(status), "err", err)
		writeHTTPError(ss.conn, status, "cannot connect to "+net.JoinHostPort(r.host, strconv.Itoa(int(r.port))))
		return err
	}
	if r.connect {
		if _, err := io.WriteString(ss.conn, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
			return err
		}
	} else if _, err := up.Write(r.forwardHead()); err != nil {
		writeHTTPError(ss.conn, http.StatusBadGateway, "write to origin failed")
		return err
	}
	return s.relay(ss, up)
}
