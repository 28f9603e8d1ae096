package senderrep

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"

	"github.com/exsim/exsim/internal/socks"
)

// The client side of the proxy protocols: the requests the tester sends and
// the parsers of the replies it gets back, from a suspected open proxy or
// from the organization's outbound proxy.

const (
	// maxLine is the longest reply line kept; longer lines are cut (RFC 5321
	// section 4.5.3.1.5 allows 512 octets for an SMTP reply line).
	maxLine = 1024
	// maxScan bounds what one probe reads while looking for the banner.
	maxScan = 64 << 10
	// maxHeaderLines bounds the header block of an HTTP CONNECT reply.
	maxHeaderLines = 100
)

// refusal is a reply showing that the peer is not relaying to the target: a
// proxy's failure code or bytes that are not the protocol at all.
type refusal struct{ msg string }

func (e *refusal) Error() string { return e.msg }

func refused(format string, a ...any) error { return &refusal{msg: fmt.Sprintf(format, a...)} }

// socks4Request is VN=4 CD=1 DSTPORT DSTIP USERID NUL; SOCKS4 addresses IPv4
// only.
func socks4Request(dst netip.AddrPort) ([]byte, error) {
	a := dst.Addr().Unmap()
	if !a.Is4() {
		return nil, fmt.Errorf("socks4 cannot address %s", a)
	}
	b := []byte{socks.Version4, socks.CmdConnect}
	b = binary.BigEndian.AppendUint16(b, dst.Port())
	ip := a.As4()
	b = append(b, ip[:]...)
	return append(b, 0), nil // empty USERID
}

// readSOCKS4Reply reads the 8-byte reply VN CD DSTPORT DSTIP. VN is 0 in the
// protocol; some servers answer 4, which is accepted.
func readSOCKS4Reply(r io.Reader) error {
	var b [8]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return err
	}
	if b[0] != 0 && b[0] != socks.Version4 {
		return refused("not a socks4 reply (%#02x %#02x)", b[0], b[1])
	}
	if b[1] != socks.V4Granted {
		return refused("socks4 request rejected (%#02x)", b[1])
	}
	return nil
}

// socks5Greeting offers the "no authentication required" method only.
func socks5Greeting() []byte { return []byte{socks.Version5, 1, socks.NoAuth} }

// readSOCKS5Method reads the method selection of RFC 1928 section 3.
func readSOCKS5Method(r io.Reader) error {
	var b [2]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return err
	}
	switch {
	case b[0] != socks.Version5:
		return refused("not a socks5 reply (%#02x %#02x)", b[0], b[1])
	case b[1] == socks.NoAcceptable:
		return refused("socks5 requires authentication")
	case b[1] != socks.NoAuth:
		return refused("socks5 selected method %#02x", b[1])
	}
	return nil
}

// socks5Request is VER CMD=CONNECT RSV ATYP DST.ADDR DST.PORT.
func socks5Request(dst netip.AddrPort) []byte { return socks.Message(socks.CmdConnect, dst) }

// socks5ReplyError is a SOCKS5 reply other than "succeeded".
type socks5ReplyError struct{ rep byte }

func (e *socks5ReplyError) Error() string {
	return fmt.Sprintf("socks5 reply %#02x (%s)", e.rep, socks.ReplyText(e.rep))
}

// readSOCKS5Reply reads VER REP RSV ATYP BND.ADDR BND.PORT and returns a
// *socks5ReplyError (wrapped in a refusal) for a failure reply.
func readSOCKS5Reply(r io.Reader) error {
	var h [4]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return err
	}
	if h[0] != socks.Version5 {
		return refused("not a socks5 reply (%#02x %#02x)", h[0], h[1])
	}
	var n int
	switch h[3] {
	case socks.AddrIPv4:
		n = 4
	case socks.AddrIPv6:
		n = 16
	case socks.AddrDomain:
		var l [1]byte
		if _, err := io.ReadFull(r, l[:]); err != nil {
			return err
		}
		n = int(l[0])
	default:
		return refused("socks5 reply with address type %#02x", h[3])
	}
	if _, err := io.ReadFull(r, make([]byte, n+2)); err != nil {
		return err
	}
	if h[1] != 0 {
		return &socks5ReplyError{rep: h[1]}
	}
	return nil
}

// readLine reads one line without its line ending, keeping at most maxLine
// bytes of it, and returns how many bytes it consumed.
func readLine(br *bufio.Reader) (string, int, error) {
	var line []byte
	n := 0
	for {
		chunk, err := br.ReadSlice('\n')
		n += len(chunk)
		if room := maxLine - len(line); room > 0 {
			line = append(line, chunk[:min(len(chunk), room)]...)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			if n > maxScan {
				return "", n, refused("line longer than %d bytes", maxScan)
			}
			continue
		}
		if err != nil {
			if n > 0 && errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return string(line), n, err
		}
		line = bytes.TrimRight(line, "\r\n")
		return string(line), n, nil
	}
}

// httpStatus parses an HTTP/1.x status line and returns its code.
func httpStatus(line string) (int, bool) {
	proto, rest, ok := strings.Cut(line, " ")
	if !ok || !strings.HasPrefix(proto, "HTTP/1.") {
		return 0, false
	}
	code, _, _ := strings.Cut(rest, " ")
	n, err := strconv.Atoi(code)
	if err != nil || len(code) != 3 || n < 100 {
		return 0, false
	}
	return n, true
}

// scanner reads reply lines looking for the target's banner, within the
// maxScan budget.
type scanner struct {
	br     *bufio.Reader
	expect func(string) bool
	read   int
	last   string // last non-empty line seen, for the report
}

// next reads one line and says whether it is the banner.
func (s *scanner) next() (string, bool, error) {
	if s.read > maxScan {
		return "", false, refused("no banner in the first %d bytes", maxScan)
	}
	line, n, err := readLine(s.br)
	s.read += n
	if line = strings.TrimSpace(line); line != "" {
		// A partial line cut by an error (a prompt waiting for input) says
		// less than the complete line before it.
		if err == nil || s.last == "" {
			s.last = line
		}
	}
	if err != nil && line == "" {
		return "", false, err
	}
	// A banner cut short by EOF still counts: the Edge's greeting came back.
	return line, line != "" && s.expect(line), err
}

// untilBanner reads lines until the banner, an error or the budget's end.
func (s *scanner) untilBanner() (bool, error) {
	for {
		_, ok, err := s.next()
		if ok {
			return true, nil
		}
		if err != nil {
			return false, err
		}
	}
}

// readHTTPConnectReply reads the status line and header block of a reply to
// CONNECT; found reports that the banner itself showed up instead.
func readHTTPConnectReply(s *scanner) (found bool, err error) {
	line, ok, err := s.next()
	if ok {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	code, isHTTP := httpStatus(line)
	if !isHTTP {
		return false, refused("not an HTTP reply: %q", line)
	}
	if code != 200 {
		return false, &httpStatusError{code: code, line: line}
	}
	for range maxHeaderLines {
		line, ok, err := s.next()
		if ok {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		if line == "" {
			return false, nil
		}
	}
	return false, refused("HTTP reply header too long")
}

// httpStatusError is an HTTP reply other than 200 to CONNECT.
type httpStatusError struct {
	code int
	line string
}

func (e *httpStatusError) Error() string { return fmt.Sprintf("http reply %q", e.line) }
