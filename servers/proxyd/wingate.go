package proxyd

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// The Wingate/Telnet/Cisco family of open proxies on port 23: a telnet
// session whose prompt takes a destination. WinGate prints `WinGate>` and
// takes `host:port` or `host port`; generic telnet gateways take
// `open host port`; a Cisco router takes `telnet host port`. One listener
// accepts all of these, so every port-23 test of sender reputation succeeds
// against it.

const (
	wingatePrompt    = "WinGate>"
	telnetMaxLine    = 512
	wingateMaxErrors = 3

	// RFC 854: telnet commands.
	telnetIAC = 255
	telnetSB  = 250
	telnetSE  = 240
	telnetWIL = 251 // WILL, WONT, DO, DONT are 251-254 and take one option byte
	telnetMax = 254
)

var (
	errLineTooLong = errors.New("line too long")
	errNoCommand   = errors.New("empty command")
)

// readTelnetLine reads one line of at most telnetMaxLine bytes, dropping
// telnet option negotiation (RFC 854 IAC sequences), CR and NUL.
func readTelnetLine(br *bufio.Reader) (string, error) {
	var b []byte
	for {
		c, err := br.ReadByte()
		if err != nil {
			return "", err
		}
		switch {
		case c == '\n':
			return string(b), nil
		case c == '\r' || c == 0:
			continue
		case c == telnetIAC:
			if err := skipTelnetCommand(br); err != nil {
				return "", err
			}
			continue
		}
		if len(b) >= telnetMaxLine {
			return "", errLineTooLong
		}
		b = append(b, c)
	}
}

// skipTelnetCommand consumes the rest of an IAC sequence.
func skipTelnetCommand(br *bufio.Reader) error {
	cmd, err := br.ReadByte()
	if err != nil {
		return err
	}
	switch {
	case cmd >= telnetWIL && cmd <= telnetMax:
		_, err = br.ReadByte()
		return err
	case cmd == telnetSB:
		// Subnegotiation runs to IAC SE; bound it like a line.
		prevIAC := false
		for n := 0; ; n++ {
			if n > telnetMaxLine {
				return errLineTooLong
			}
			c, err := br.ReadByte()
			if err != nil {
				return err
			}
			if prevIAC && c == telnetSE {
				return nil
			}
			prevIAC = c == telnetIAC && !prevIAC
		}
	}
	return nil
}

// parseTelnetCommand parses a destination given at the prompt.
func parseTelnetCommand(line string) (host string, port uint16, err error) {
	f := strings.Fields(line)
	var h, p string
	switch len(f) {
	case 0:
		return "", 0, errNoCommand
	case 1:
		h, p, err = net.SplitHostPort(f[0])
		if err != nil {
			return "", 0, fmt.Errorf("invalid destination %q", f[0])
		}
	case 2:
		h, p = f[0], f[1]
	case 3:
		switch strings.ToLower(f[0]) {
		case "open", "telnet", "connect":
		default:
			return "", 0, fmt.Errorf("unknown command %q", f[0])
		}
		h, p = f[1], f[2]
	default:
		return "", 0, errors.New("too many arguments")
	}
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil || n == 0 {
		return "", 0, fmt.Errorf("invalid port %q", p)
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	if !validHost(h) {
		return "", 0, fmt.Errorf("invalid host %q", h)
	}
	return h, uint16(n), nil
}

// validHost accepts an address literal or a DNS name.
func validHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// serveWingate serves the telnet prompt.
func (s *Server) serveWingate(ss *session) error {
	if _, err := ss.conn.Write([]byte(wingatePrompt)); err != nil {
		return err
	}
	for errs := 0; ; {
		line, err := readTelnetLine(ss.br)
		if err != nil {
			if errors.Is(err, errLineTooLong) {
				ss.conn.Write([]byte("\r\nError: line too long\r\n"))
			}
			return err
		}
		switch strings.ToLower(strings.TrimSpace(line)) {
		case "":
			if _, err := ss.conn.Write([]byte(wingatePrompt)); err != nil {
				return err
			}
			continue
		case "quit", "exit", "logout":
			return nil
		}
		host, port, err := parseTelnetCommand(line)
		if err == nil {
			fmt.Fprintf(ss.conn, "Connecting to host %s...", host)
			var up net.Conn
			up, err = s.connect(ss, host, port)
			if err == nil {
				if _, err := ss.conn.Write([]byte("Connected\r\n")); err != nil {
					return err
				}
				return s.relay(ss, up)
			}
			ss.conn.Write([]byte(failReplies[failureOf(err)].wingate + "\r\n"))
		} else {
			fmt.Fprintf(ss.conn, "Error: %v\r\n", err)
		}
		if errs++; errs >= wingateMaxErrors {
			ss.conn.Write([]byte("Too many errors, closing connection\r\n"))
			return err
		}
		if _, err := ss.conn.Write([]byte(wingatePrompt)); err != nil {
			return err
		}
	}
}
